# Black-box protocol tests: an independent client (proto_client.c) drives
# the real stack.  Each test brings up its own stack in a temporary run
# directory on free ports, so no lock on the developer's stack is needed.
add_executable(protocol_test
  ${CMAKE_CURRENT_LIST_DIR}/protocol_test.c
  ${CMAKE_CURRENT_LIST_DIR}/proto_client.c)
target_link_libraries(protocol_test PRIVATE tds PkgConfig::RDKAFKA
                      PkgConfig::JANSSON)

add_test(NAME protocol.scenarios
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/protocol_scenarios.sh
                 ${CMAKE_BINARY_DIR} $<TARGET_FILE:protocol_test>)
add_test(NAME protocol.crash
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/protocol_crash.sh
                 ${CMAKE_BINARY_DIR} $<TARGET_FILE:protocol_test>)
set_tests_properties(protocol.scenarios protocol.crash PROPERTIES
                     LABELS "integration;sanitize" TIMEOUT 600)
