# A batch's queued INSERT rows (ttp/rowq.c): built without the daemon's
# db.c, because the test supplies db_exec_bulk() itself and records what
# each flush would have written.
add_executable(test_rowq test_rowq.c ${PROJECT_SOURCE_DIR}/ttp/rowq.c)
target_include_directories(test_rowq PRIVATE ${PROJECT_SOURCE_DIR}/ttp)
target_link_libraries(test_rowq PRIVATE tds PkgConfig::MARIADB)
add_test(NAME unit.rowq COMMAND test_rowq)
set_tests_properties(unit.rowq PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)
