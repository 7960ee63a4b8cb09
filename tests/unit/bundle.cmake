# Bundles and tree heads (libtds/bundle.c): the dispute corpus checked in
# process (so that the sanitizers see every verdict), strict reading,
# heads alone, consistency; with the schemas directory it also checks
# schemas/bundle.schema.json and schemas/tree-head.schema.json.
add_executable(test_bundle test_bundle.c)
target_link_libraries(test_bundle PRIVATE tds_corpus)
add_test(NAME unit.bundle COMMAND test_bundle ${PROJECT_SOURCE_DIR}/schemas)
set_tests_properties(unit.bundle PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)

# The two bundle schemas are generated from evidence.schema.json and the
# field kinds of the log.* messages: the committed files must agree.
add_test(NAME schemas.bundle
         COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/tools/gen_bundle_schemas.py
                 --check ${PROJECT_SOURCE_DIR}/schemas)
set_tests_properties(schemas.bundle PROPERTIES LABELS "fast" TIMEOUT 120)
