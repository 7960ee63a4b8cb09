# The TTP's document store (ttp/store.c): built into the test itself with
# STORE_TESTING, which exposes the switch that forces the openat2-less
# path walk so that both resolutions are tested.
add_executable(test_store test_store.c ${CMAKE_SOURCE_DIR}/ttp/store.c)
target_include_directories(test_store PRIVATE ${CMAKE_SOURCE_DIR}/ttp)
target_compile_definitions(test_store PRIVATE STORE_TESTING)
target_link_libraries(test_store PRIVATE tds)
add_test(NAME unit.store COMMAND test_store)
set_tests_properties(unit.store PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)

# Documents stream: the client's copy (client/xfer.c) and the TTP's
# verification (ttp/store.c) of a 256 MiB document keep their peak RSS
# far below its size.  Writes and fsyncs about 512 MiB: a few seconds.
add_executable(test_stream test_stream.c ${CMAKE_SOURCE_DIR}/ttp/store.c
               ${CMAKE_SOURCE_DIR}/client/xfer.c ${CMAKE_SOURCE_DIR}/client/cli.c
               ${CMAKE_SOURCE_DIR}/client/home.c
               ${CMAKE_SOURCE_DIR}/client/cfg.c)
target_include_directories(test_stream PRIVATE ${CMAKE_SOURCE_DIR}/ttp
                           ${CMAKE_SOURCE_DIR}/client)
target_link_libraries(test_stream PRIVATE tds)
add_test(NAME unit.stream COMMAND test_stream 256)
set_tests_properties(unit.stream PROPERTIES LABELS "unit;sanitize" TIMEOUT 300)
