# spicenn_add_library(NAME <layer> SOURCES ... [DEPS ...])
#   Adds the static library spicenn_<layer> with the ALIAS spicenn::<layer>.
function(spicenn_add_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(spicenn_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(spicenn::${ARG_NAME} ALIAS spicenn_${ARG_NAME})
  target_include_directories(spicenn_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(spicenn_${ARG_NAME} PUBLIC ${ARG_DEPS})
  target_compile_options(spicenn_${ARG_NAME} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
endfunction()

# spicenn_add_test(NAME <test> SOURCES ... [LIBS ...] [LABELS ...] [TIMEOUT s])
#   One GoogleTest executable registered with CTest (via gtest_discover_tests).
function(spicenn_add_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_LIBS} GTest::gtest_main)
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_dependencies(${ARG_NAME} spicenn-ngspice-worker)  # isolated engines start it
  target_compile_options(${ARG_NAME} PRIVATE -Wall -Wextra -Wno-missing-field-initializers)
  target_compile_definitions(${ARG_NAME} PRIVATE
    SPICENN_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SPICENN_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  math(EXPR ARG_TIMEOUT "${ARG_TIMEOUT} * ${SPICENN_TEST_TIMEOUT_FACTOR}")
  gtest_discover_tests(${ARG_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
