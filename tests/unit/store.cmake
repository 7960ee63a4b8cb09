# The TTP's document store (ttp/store.c): built into the test itself with
# STORE_TESTING, which exposes the switch that forces the openat2-less
# path walk so that both resolutions are tested.
add_executable(test_store test_store.c ${CMAKE_SOURCE_DIR}/ttp/store.c)
target_include_directories(test_store PRIVATE ${CMAKE_SOURCE_DIR}/ttp)
target_compile_definitions(test_store PRIVATE STORE_TESTING)
target_link_libraries(test_store PRIVATE tds)
add_test(NAME unit.store COMMAND test_store)
set_tests_properties(unit.store PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)
