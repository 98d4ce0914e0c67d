// Internal to the spice layer: one private, dlopen'ed copy of libngspice.
//
// One loaded libngspice is one simulator (global state), so every engine
// copies the library to a fresh temporary directory and dlopens the copy
// RTLD_NOW | RTLD_LOCAL: a new path gives a new, independent instance.
//
// XSPICE code models (*.cm: POLY sources via spice2poly, A devices) hold a
// pointer back into the simulator that loaded them; the system's spinit
// loads them from one shared path, so with several engines all of them
// would call into whichever engine started last (and crash once it is
// gone). Therefore, once per process, if SPICE_SCRIPTS is not already set,
// spicenn writes a copy of the system spinit in which the `codemodel` lines
// only run outside shared mode (`if $?sharedmode`), points SPICE_SCRIPTS at
// it (the only change to the process environment; ngspice command-line
// programs started as children behave as before), and each engine loads
// private copies of those code models itself.
//
//   ngspice_library lib;
//   lib.open("/usr/lib/x86_64-linux-gnu/libngspice.so.0");
//   lib.init(...); lib.init_sync(...);
//   for (auto& cm : lib.codemodels()) send(fmt::format("codemodel {}", cm));
//   lib.remove_files();   // once everything is loaded
#pragma once

#include <string>
#include <vector>

#include <ngspice/sharedspice.h>

namespace spicenn::spice {

class ngspice_library {
 public:
  ngspice_library() = default;
  ngspice_library(const ngspice_library&) = delete;
  ngspice_library& operator=(const ngspice_library&) = delete;
  ~ngspice_library();  // remove_files(), dlclose

  // Copies `source` (and the code models) to a new temporary directory and
  // dlopens the copy. Throws engine_fatal_error.
  void open(const std::string& source);

  // Private copies of the code models this engine must load with
  // `codemodel <path>` after ngSpice_Init (empty if spinit loads them).
  const std::vector<std::string>& codemodels() const { return codemodels_; }

  // Deletes the temporary files and directory (the mappings stay valid).
  void remove_files();

  decltype(&ngSpice_Init) init = nullptr;
  decltype(&ngSpice_Init_Sync) init_sync = nullptr;
  decltype(&ngSpice_Command) command = nullptr;
  decltype(&ngSpice_Circ) circ = nullptr;
  decltype(&ngGet_Vec_Info) vec_info = nullptr;
  decltype(&ngSpice_CurPlot) cur_plot = nullptr;
  decltype(&ngSpice_AllVecs) all_vecs = nullptr;

 private:
  void close();
  template <class F>
  void resolve(F& f, const char* name, const std::string& source);

  void* handle_ = nullptr;
  std::string dir_;
  std::vector<std::string> files_;
  std::vector<std::string> codemodels_;
};

// Temporary directories are named spicenn-ngspice-<pid>-XXXXXX (private
// library copies, deleted once loaded) and spicenn-ngspice-scripts-<pid>-XXXXXX
// (the spinit, deleted at exit). This removes those of the current user
// whose process no longer exists; the first engine of each process calls it.
void remove_stale_temp_dirs();

}  // namespace spicenn::spice
