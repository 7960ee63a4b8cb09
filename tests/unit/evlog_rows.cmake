# The evidence log's batch rows (ttp/evlog_rows.c): built without the
# daemon's db.c, because the test supplies db_exec_bulk() itself and
# records what each batch would have written.
add_executable(test_evlog_rows test_evlog_rows.c
               ${PROJECT_SOURCE_DIR}/ttp/evlog_rows.c)
target_include_directories(test_evlog_rows PRIVATE ${PROJECT_SOURCE_DIR}/ttp)
target_link_libraries(test_evlog_rows PRIVATE tds PkgConfig::MARIADB)
add_test(NAME unit.evlog_rows COMMAND test_evlog_rows)
set_tests_properties(unit.evlog_rows PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)
