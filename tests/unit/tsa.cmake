# RFC 3161 time-stamping (libtds/tsa.c): certificates, tokens, and every
# way a token can fail to verify.
add_executable(test_tsa test_tsa.c)
target_link_libraries(test_tsa PRIVATE tds)
add_test(NAME unit.tsa COMMAND test_tsa)
set_tests_properties(unit.tsa PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)

# The by-hand check of a token with the openssl command line: tsa_tool
# writes ca.pem, tsa.pem and token.der, tsa_openssl.sh runs `openssl ts`.
add_executable(tsa_tool tsa_tool.c)
target_link_libraries(tsa_tool PRIVATE tds)
add_test(NAME tsa.openssl
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/tsa_openssl.sh
                 $<TARGET_FILE:tsa_tool>)
set_tests_properties(tsa.openssl PROPERTIES LABELS "fast;sanitize" TIMEOUT 120)
