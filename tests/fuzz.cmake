# Runs every libFuzzer target for a bounded time as a CTest test (label `fuzz`),
# from a separate clang build given by -DSKIFF_FUZZ_BUILD_DIR=DIR (scripts/test.sh
# makes it). Seeds come from fuzz/corpus/<target>/ and are copied, never modified.
set(SKIFF_FUZZ_BUILD_DIR "" CACHE PATH "Build tree with -DSKIFF_FUZZ=ON whose fuzzers CTest runs")
set(SKIFF_FUZZ_SECONDS 30 CACHE STRING "Seconds each fuzz target runs in the test suite")
if(SKIFF_FUZZ_BUILD_DIR)
  file(GLOB fuzzers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/*_fuzz.cc)
  foreach(f ${fuzzers})
    get_filename_component(name ${f} NAME_WE)
    add_test(NAME fuzz.${name}
      COMMAND ${PROJECT_SOURCE_DIR}/tools/run-fuzz.sh ${SKIFF_FUZZ_BUILD_DIR}/bin/${name}
              ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name} ${SKIFF_FUZZ_SECONDS})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 600)
  endforeach()
endif()
