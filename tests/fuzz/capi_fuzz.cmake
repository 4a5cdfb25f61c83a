# The C ABI's JSON-taking entry points (included from tests/fuzz/CMakeLists.txt):
# capi_fuzz_replay over corpus/capi_fuzz always; capi_fuzz under BABYSEA_BUILD_FUZZ.
add_executable(capi_fuzz_replay capi_fuzz.cpp replay_main.cpp)
babysea_fuzz_common(capi_fuzz_replay)
add_test(NAME capi_fuzz_replay COMMAND capi_fuzz_replay ${CMAKE_CURRENT_SOURCE_DIR}/corpus/capi_fuzz)
set_tests_properties(capi_fuzz_replay PROPERTIES TIMEOUT 120 LABELS capi)
if(BABYSEA_BUILD_FUZZ)
  add_executable(capi_fuzz capi_fuzz.cpp)
  babysea_fuzz_common(capi_fuzz)
  target_compile_options(capi_fuzz PRIVATE -fsanitize=fuzzer)
  target_link_options(capi_fuzz PRIVATE -fsanitize=fuzzer)
endif()
