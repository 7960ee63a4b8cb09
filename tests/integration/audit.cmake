# `tds audit` against a real stack of its own (temporary run directory),
# and `tds verify` on evidence made by test_evidence (no stack).
add_test(NAME audit.cli
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/audit_cli.sh ${CMAKE_BINARY_DIR})
set_tests_properties(audit.cli PROPERTIES LABELS "integration;sanitize" TIMEOUT 300
                     RESOURCE_LOCK local-stack)

add_test(NAME audit.verify
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/audit_verify.sh ${CMAKE_BINARY_DIR}
                 $<TARGET_FILE:test_evidence>)
set_tests_properties(audit.verify PROPERTIES LABELS "fast;sanitize" TIMEOUT 120)
