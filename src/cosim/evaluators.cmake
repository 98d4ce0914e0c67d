list(APPEND SPICENN_COSIM_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/evaluator.cpp)
list(APPEND SPICENN_COSIM_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/mon_software_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/mon_spice_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/fd_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kan_software_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kan_spice_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kirchhoffnet_software_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kirchhoffnet_spice_evaluator.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/verify.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/activation.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/realisability.cpp)
