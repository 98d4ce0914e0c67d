# Training machinery shared by every family (optimizer, trainer, checkpoints,
# progress, metrics, the MPI data-parallel layer); included from CMakeLists.txt.
list(APPEND SPICENN_COSIM_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/optimizer.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/trainer.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/progress.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/metrics.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/export.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/distributed.cpp)
