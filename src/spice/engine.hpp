// The embedded ngspice engine: an RAII owner of one ngspice simulator.
//
// Each engine loads its own private copy of libngspice (copied into a
// temporary directory, dlopen'ed RTLD_NOW | RTLD_LOCAL, the files deleted as
// soon as they are loaded), so several engines can live in one process and
// run on different threads. Which libngspice: engine_options::library_path,
// else $SPICENN_NGSPICE_LIBRARY, else the one pkg-config found at build time.
// Everything ngspice prints during a call is captured, and failures become
// typed exceptions (spice/errors.hpp). After a fatal ngspice error the
// library is unloaded and a fresh copy loaded: the engine stays usable, only
// the circuit must be loaded again.
//
//   spicenn::spice::engine eng;
//   eng.load("divider\nV1 in 0 DC 10\nR1 in out 1k\nR2 out 0 3k\n.end\n");
//   eng.op();
//   double v = eng.real_value("v(out)");          // 7.5
//   eng.alter("V1", 5.0);                          // no re-parse
//   eng.alter("R2", "resistance", 1e3);
//   eng.op();
//   eng.ac(spicenn::spice::ac_sweep::dec, 10, 1, 1e6);
//   auto h = eng.complex_vector("v(out)");
//
// Names: ngspice lowercases device and node names. Every name passed to this
// API (devices, sources, vectors) is lowercased for you; command() sends its
// text unchanged, so device names in it must be lowercase.
//
// Vectors are read from the current plot, i.e. the last analysis. Each
// analysis first frees all earlier plots ("destroy all"), load() frees the
// previous circuit ("remcirc") and every command is followed by
// ngSpice_Command(NULL), which frees ngspice's per-command control data:
// memory stays flat over long runs.
//
// Locale: ngspice reads and prints numbers with the C library, so numbers
// need LC_NUMERIC=C. setlocale() is process-wide and not thread-safe, so the
// engine never calls it; every call into ngspice runs under uselocale() with
// the "C" locale, which affects only the calling thread (ngspice runs
// synchronously in the caller's thread; background commands bg_* are refused).
//
// Thread safety: one engine must not be used by two threads at once;
// different engines may run concurrently. Not copyable; movable (a
// moved-from engine may only be destroyed or assigned to).
//
// XSPICE code models (A devices, and POLY controlled sources, which ngspice
// runs in the spice2poly code model) keep a pointer to the simulator that
// loaded them, so each engine loads private copies of them too. For that the
// first engine of a process points SPICE_SCRIPTS at a rewritten copy of the
// system spinit (see ngspice_library.hpp; skipped if SPICE_SCRIPTS is set).
//
// Limitations (ngspice 39):
// - In process, a call cannot be interrupted: an analysis that never finishes
//   (e.g. a transient that keeps cutting its step on a discontinuous B
//   source) blocks the calling thread. An isolated engine
//   (isolation::worker_process) bounds every call by its time limit.
// - Each netlist that fails to parse leaks ~11 kB inside ngspice (its error
//   path does not free the partial circuit); successful load/run cycles and
//   engines themselves do not grow memory.
// - The user's ~/.spiceinit and ./.spiceinit are read at start, as by ngspice.
#pragma once

#include <complex>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spice/errors.hpp"

namespace spicenn::spice {

struct engine_options {
  // libngspice to copy and load. Empty: the environment variable
  // SPICENN_NGSPICE_LIBRARY, else the library found by pkg-config at build
  // time (default_library_path()).
  std::string library_path;
  // A `.control` block in a netlist runs arbitrary commands (`shell`
  // included): load() refuses one unless this is set.
  bool allow_control_blocks = false;
  // If set, op(), dc() and tran() call check_node_voltages(*voltage_bound).
  std::optional<double> voltage_bound;
  // Where ngspice runs. in_process: in this process (a crash of ngspice is a
  // crash of the caller; a hang blocks it). worker_process: in a worker
  // process of its own (the spicenn-ngspice-worker program; override its
  // path with $SPICENN_NGSPICE_WORKER), driven over a socket. A worker that
  // dies (a signal, an exit) or does not answer a call within time_limit
  // seconds is killed and restarted, the circuit and its alters are
  // restored, and the call is retried once; an ngspice fatal error is
  // retried once the same way. A second failure throws engine_crash_error
  // (engine_fatal_error for ngspice's own) naming the command and a copy of
  // the netlist. Cost: one socket round trip per call (docs/hardening.md,
  // "The simulator crashes or hangs: isolated engines").
  enum class isolation { in_process, worker_process };
  isolation where = isolation::in_process;
  double time_limit = 300.0;  // worker_process: seconds per call; 0 = none
  // worker_process: a fresh worker after this many loads (0 = never), at the
  // next load. ngspice 39 keeps ~1-4 kB per loaded circuit (docs/results.md,
  // "Soak"); recycling bounds it at the cost of one worker start (~30 ms)
  // per `recycle_after_loads` loads.
  std::size_t recycle_after_loads = 1000;
};

enum class ac_sweep { lin, dec, oct };

struct tran_options {
  double start = 0.0;     // tstart: output from this time on
  double max_step = 0.0;  // tmax; 0 = ngspice's default
  bool uic = false;       // use initial conditions (.ic), skip the operating point
};

// The library path used when neither engine_options::library_path nor
// SPICENN_NGSPICE_LIBRARY is set.
std::string default_library_path();

class worker_engine;  // spice/worker_engine.hpp

class engine {
 public:
  explicit engine(engine_options options = {});
  ~engine();
  engine(engine&&) noexcept;
  engine& operator=(engine&&) noexcept;
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // --- deck ---------------------------------------------------------------
  // Parses `netlist` (first line = title, as in a file), replacing the
  // current circuit and forgetting earlier alter()s. A missing `.end` is
  // appended. Throws netlist_error (with the offending line) if ngspice
  // rejects it, engine_fatal_error if ngspice dies on it.
  void load(std::string_view netlist);
  bool loaded() const;
  // The lines of the deck as handed to ngspice (line_number() - 1 indexes it).
  const std::vector<std::string>& deck() const;

  // --- analyses -----------------------------------------------------------
  // All throw convergence_error / timestep_error if ngspice gives up,
  // command_error if it refuses the analysis (e.g. unknown sweep source).
  void op();
  void dc(std::string_view source, double start, double stop, double step);
  void ac(ac_sweep sweep, int points, double fstart, double fstop);
  void tran(double step, double stop, const tran_options& options = {});
  // DC sensitivity of `output` (e.g. "v(out)") to every device parameter;
  // read the results as vectors named "r1", "v1", "d1:is", ... The engine
  // runs `reset` before the next analysis (ngspice's later operating points
  // are wrong after sens on circuits with diodes) and re-applies all alters.
  void sens(std::string_view output);
  // Any ngspice command, sent unchanged (device names must be lowercase).
  // Commands whose first word is an analysis (op, dc, ac, tran, sens, tf,
  // noise, pz, run) are treated like the helpers above.
  void command(std::string_view text);

  // --- alter: change values without re-parsing ------------------------------
  // `alter device = value`: the DC value of a source, the value of R/C/L.
  void alter(std::string_view device, double value);
  // `alter device parameter = value`, e.g. alter("d1", "area", 2).
  void alter(std::string_view device, std::string_view parameter, double value);

  // --- vectors of the current plot ------------------------------------------
  // Names such as "v(out)", "out", "i(v1)", "v1#branch", "@d1[gd]", "time".
  std::string current_plot() const;
  std::vector<std::string> vector_names() const;
  bool has_vector(std::string_view name) const;
  // Throws vector_error if missing or complex.
  std::vector<double> real_vector(std::string_view name) const;
  // Real vectors are returned with zero imaginary parts.
  std::vector<std::complex<double>> complex_vector(std::string_view name) const;
  // The single value of a one-point real vector (e.g. after op()).
  double real_value(std::string_view name) const;

  // Plausibility: gmin stepping and the transient operating point make some
  // impossible circuits "converge" to absurd node voltages (1e11 V) with no
  // error. Throws convergence_error naming the first real node-voltage vector
  // of the current plot with a value that is not finite or exceeds `bound`
  // volts in magnitude. Sweep scales (v-sweep) and the nodes in `ignore`
  // (e.g. a node that carries a sweep index) are skipped.
  void check_node_voltages(double bound, const std::vector<std::string>& ignore = {}) const;

  // --- diagnostics ----------------------------------------------------------
  // Everything ngspice printed during the last call ("stdout ..."/"stderr ..."
  // lines), for logs and debugging.
  const std::string& last_output() const;
  // The id this instance gave ngspice (ngSpice_Init_Sync); unique per process.
  int id() const;
  // How many times the library was reloaded after a fatal error, or (isolated)
  // the worker restarted.
  std::size_t restarts() const;

 private:
  void analysis(const std::string& command, const std::string& word);

  class impl;
  std::unique_ptr<impl> impl_;             // in_process
  std::unique_ptr<worker_engine> worker_;  // worker_process
};

}  // namespace spicenn::spice
