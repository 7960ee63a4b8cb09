# Atomic file replacement (libtds/atomicfile.c): built from atomicfile.c
# hex.c and errbuf.c alone, without the rest of libtds, because the test supplies
# crypto_random() itself: the temporary name is then known in advance and
# the test can plant a symlink under it.
add_executable(test_atomicfile test_atomicfile.c
               ${PROJECT_SOURCE_DIR}/libtds/atomicfile.c
               ${PROJECT_SOURCE_DIR}/libtds/hex.c
               ${PROJECT_SOURCE_DIR}/libtds/errbuf.c)
target_include_directories(test_atomicfile PRIVATE ${PROJECT_SOURCE_DIR}/libtds)
add_test(NAME unit.atomicfile COMMAND test_atomicfile)
set_tests_properties(unit.atomicfile PROPERTIES LABELS "unit;fast;sanitize" TIMEOUT 120)
