# Security hygiene (docs/security.md): least privilege of the database
# accounts, key file modes, no secrets in logs, TLS settings reaching the
# connections, and the daemon under valgrind.  Each brings up a private
# stack of its own where it needs one.
add_test(NAME db.privileges
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/db_privileges.sh ${CMAKE_BINARY_DIR})
set_tests_properties(db.privileges PROPERTIES LABELS "integration;sanitize" TIMEOUT 300)

add_test(NAME keys.modes
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/key_files.sh ${CMAKE_BINARY_DIR})
set_tests_properties(keys.modes PROPERTIES LABELS "integration;fast;sanitize" TIMEOUT 120)

add_test(NAME tls.passthrough
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tls_passthrough.sh ${CMAKE_BINARY_DIR})
set_tests_properties(tls.passthrough PROPERTIES LABELS "integration;sanitize" TIMEOUT 300)

add_test(NAME logs.no-secrets
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/no_secrets_in_logs.sh ${CMAKE_BINARY_DIR})
set_tests_properties(logs.no-secrets PROPERTIES LABELS "integration;sanitize" TIMEOUT 300)

# The daemon under valgrind memcheck: slow (a few minutes on 2 cores).
add_test(NAME valgrind.ttpd
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/valgrind_ttpd.sh ${CMAKE_BINARY_DIR})
set_tests_properties(valgrind.ttpd PROPERTIES LABELS "integration" TIMEOUT 300)
