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

#if defined(__SANITIZE_ADDRESS__)
#define SPICENN_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPICENN_LSAN 1
#endif
#endif
#ifdef SPICENN_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace spicenn::spice {

// Under AddressSanitizer (scripts/sanitize.sh, scripts/fuzz.sh): what ngspice
// allocates during a call and keeps (parser tables, code-model state, ~0.5 kB
// per load that `quit` does not free) is third-party memory, and its private
// copy is dlclosed before LeakSanitizer looks, so a report could name neither
// the library nor a function. LeakSanitizer ignores allocations made on this
// thread while one of these exists; one sits next to every c_locale_scope,
// i.e. around every call into ngspice, and around
// the dlopen that runs the library's static initialisers. Nothing without ASan.
class ngspice_allocations_untracked {
 public:
#ifdef SPICENN_LSAN
  ngspice_allocations_untracked() { __lsan_disable(); }
  ~ngspice_allocations_untracked() { __lsan_enable(); }
#endif
  ngspice_allocations_untracked(const ngspice_allocations_untracked&) = delete;
  ngspice_allocations_untracked& operator=(const ngspice_allocations_untracked&) = delete;
#ifndef SPICENN_LSAN
  ngspice_allocations_untracked() = default;
#endif
};

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
