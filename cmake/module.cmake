# skiff_module(NAME DEPS a b LIBS x y): a static library skiff_NAME from
# src/NAME/*.cc (tests excluded) and, when src/NAME has *_test.cc, a gtest
# binary NAME_test in build/bin registered with CTest under the label `unit`.
function(skiff_module name)
  cmake_parse_arguments(M "" "" "DEPS;LIBS;TEST_LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(tests)
    list(REMOVE_ITEM srcs ${tests})
  endif()
  add_library(skiff_${name} STATIC ${srcs})
  target_include_directories(skiff_${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  set(deps)
  foreach(d ${M_DEPS})
    list(APPEND deps skiff_${d})
  endforeach()
  target_link_libraries(skiff_${name} PUBLIC ${deps} ${M_LIBS})
  if(tests)
    add_executable(${name}_test ${tests})
    target_include_directories(${name}_test PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${name}_test PRIVATE skiff_${name} skiff_testutil ${M_TEST_LIBS}
                          GTest::gtest GTest::gmock GTest::gtest_main)
    set_property(GLOBAL APPEND PROPERTY SKIFF_UNIT_TESTS ${name}_test)
    add_test(NAME unit.${name} COMMAND ${name}_test)
    set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 600
      ENVIRONMENT "SKIFF_SOURCE_DIR=${PROJECT_SOURCE_DIR};SKIFF_BUILD_DIR=${PROJECT_BINARY_DIR}")
  endif()
endfunction()
