# Training machinery (optimizer, trainer, checkpoints, metrics); included from CMakeLists.txt.
spicenn_add_test(NAME test_training
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_training.cpp
  LIBS spicenn::cosim nlohmann_json::nlohmann_json
  LABELS cosim
  TIMEOUT 120)
