# The tds client driven like a user against a private local stack (each
# test brings up its own in a temporary run directory, on its own port
# range: see client_common.sh), and its command-line surface.
foreach(t exchange concurrent corrupt ttp_down help evidence_log)
  add_test(NAME client.${t}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/client_${t}.sh
                   ${CMAKE_BINARY_DIR})
  set_tests_properties(client.${t} PROPERTIES LABELS "integration;sanitize"
                       TIMEOUT 600)
endforeach()
# 20 clients at once load two cores fully (more so under ASan): alone,
# so that other tests' stacks start within their limits.
set_tests_properties(client.concurrent PROPERTIES RUN_SERIAL TRUE)
set_tests_properties(client.help PROPERTIES LABELS "integration;fast;sanitize")
