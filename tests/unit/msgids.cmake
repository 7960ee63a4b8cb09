# A batch's msg_id look-up set and the hint read from raw requests
# (ttp/msgids.c).
add_executable(test_msgids test_msgids.c ${PROJECT_SOURCE_DIR}/ttp/msgids.c)
target_include_directories(test_msgids PRIVATE ${PROJECT_SOURCE_DIR}/ttp)
target_link_libraries(test_msgids PRIVATE tds)
add_test(NAME unit.msgids COMMAND test_msgids)
set_tests_properties(unit.msgids PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)
