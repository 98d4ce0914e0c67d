spicenn_add_test(NAME test_mon_cosim SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_mon_cosim.cpp LIBS spicenn::cosim LABELS spice)
spicenn_add_test(NAME test_kan_cosim
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_kan_cosim.cpp ${PROJECT_SOURCE_DIR}/tests/devices/ngspice_runner.cpp
  LIBS spicenn::cosim fmt::fmt LABELS spice)
spicenn_add_test(NAME test_kirchhoffnet_cosim
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_kirchhoffnet_cosim.cpp
  LIBS spicenn::cosim spicenn::data spicenn::ir LABELS spice)
