// The isolated engine (engine_options::isolation::worker_process): the same
// calls as spice::engine, each sent to an engine in a worker process
// (spicenn-ngspice-worker) over a socket. Internal to the spice layer; use
// spice::engine.
//
// Recovery: the client keeps what the worker's engine holds (the deck, then
// every alter and non-analysis command in order, the last analysis). When
// the worker dies or does not answer within the time limit it is killed and
// a new one started; the deck and its changes are replayed (and, before a
// vector read, the last analysis) and the call is retried once. An ngspice
// fatal error (its engine reloads itself) is retried the same way without a
// new process.
#pragma once

#include <sys/types.h>

#include <complex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spice/engine.hpp"

namespace spicenn::spice {

// The worker program: $SPICENN_NGSPICE_WORKER, else the one built with this
// library.
std::string worker_program_path();
// Whether a command's first word is an analysis (op, dc, ac, tran, sens, run, …).
bool is_analysis_command(std::string_view text);

class worker_engine {
 public:
  worker_engine(const engine_options& options, int id);
  ~worker_engine();
  worker_engine(const worker_engine&) = delete;
  worker_engine& operator=(const worker_engine&) = delete;

  void load(std::string_view netlist);
  bool loaded() const { return loaded_; }
  const std::vector<std::string>& deck();
  // An analysis command ("op", "dc …", "tran …", "sens …", "run", …).
  void analysis(std::string_view text);
  void command(std::string_view text);
  void alter(std::string_view device, double value);
  void alter(std::string_view device, std::string_view parameter, double value);
  std::string current_plot();
  std::vector<std::string> vector_names();
  bool has_vector(std::string_view name);
  std::vector<double> real_vector(std::string_view name);
  std::vector<std::complex<double>> complex_vector(std::string_view name);
  void check_node_voltages(double bound, const std::vector<std::string>& ignore);
  const std::string& last_output();
  int id() const { return id_; }
  std::size_t restarts();
  pid_t pid() const { return pid_; }

 private:
  enum class role { load, analysis, change, read };
  // Sends a request (restarting the worker and retrying as described above);
  // returns the response. `what` names the call in errors.
  std::string call(const std::string& request, role r, const std::string& what);
  // Sends one request and waits for its response; nullopt and `why` if the
  // worker died or timed out (it is then killed and reaped).
  std::optional<std::string> exchange(const std::string& request, std::string& why);
  void spawn();
  void stop();
  void replay(role r);
  [[noreturn]] void fail(const std::string& request_name, const std::string& why);

  engine_options options_;
  int id_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::size_t worker_restarts_ = 0;
  std::size_t loads_ = 0;  // by this worker
  // What the worker's engine holds.
  bool loaded_ = false;
  std::string netlist_;
  std::vector<std::pair<std::string, std::string>> changes_;  // (key, request) in order; key "" for commands
  std::optional<std::string> last_analysis_;                 // its request
  std::optional<std::vector<std::string>> deck_;              // fetched on demand
  std::string last_output_;
};

}  // namespace spicenn::spice
