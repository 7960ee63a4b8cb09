# Evidence files (libtds/evidence.c): real keys and signatures, the round
# trip, a table of tamperings; with the schema path it also checks
# schemas/evidence.schema.json against the same files (python3-jsonschema).
add_executable(test_evidence test_evidence.c)
target_link_libraries(test_evidence PRIVATE tds)
add_test(NAME unit.evidence
         COMMAND test_evidence ${PROJECT_SOURCE_DIR}/schemas/evidence.schema.json)
set_tests_properties(unit.evidence PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)

# docs/evidence.md's by-hand recipe, run for real with the openssl CLI on
# evidence that test_evidence writes.
add_test(NAME evidence.openssl
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/evidence_openssl.sh
                 $<TARGET_FILE:test_evidence>)
set_tests_properties(evidence.openssl PROPERTIES LABELS "fast;sanitize" TIMEOUT 120)
