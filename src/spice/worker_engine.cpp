#include "spice/worker_engine.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/numbers.hpp"
#include "core/text.hpp"
#include "spice/errors.hpp"
#include "spice/worker_protocol.hpp"

extern char** environ;

#ifndef SPICENN_NGSPICE_WORKER_DEFAULT
#define SPICENN_NGSPICE_WORKER_DEFAULT "spicenn-ngspice-worker"
#endif

namespace spicenn::spice {

namespace wp = worker_protocol;

std::string worker_program_path() {
  const char* env = std::getenv("SPICENN_NGSPICE_WORKER");
  return (env && *env) ? env : SPICENN_NGSPICE_WORKER_DEFAULT;
}

namespace {

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return fmt::format("was killed by signal {} ({})", sig, strsignal(sig));
  }
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return "stopped";
}

// The response's status byte; throws the error an error response holds.
wp::reader checked(std::string response) {
  wp::reader r(std::move(response));
  if (r.u8() != wp::status_ok) wp::throw_error(r);
  return r;
}

std::atomic<int> failure_files{0};

}  // namespace

worker_engine::worker_engine(const engine_options& options, int id) : options_(options), id_(id) {
  if (options_.library_path.empty()) {
    const char* env = std::getenv("SPICENN_NGSPICE_LIBRARY");
    options_.library_path = (env && *env) ? env : default_library_path();
  }
  spawn();
}

worker_engine::~worker_engine() { stop(); }

void worker_engine::stop() {
  if (pid_ < 0) return;
  ::close(fd_);
  ::kill(pid_, SIGKILL);  // its state is worth nothing: no clean shutdown needed
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  fd_ = -1;
}

void worker_engine::spawn() {
  const std::string program = worker_program_path();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw engine_fatal_error("start", fmt::format("cannot create the socket of an ngspice worker: {}", std::strerror(errno)),
                             {});
  // The worker's end becomes its descriptor 3 (kept across exec by dup2);
  // from a low number first, so that dup2 never maps it onto itself.
  int child_end = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  ::close(sv[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end, 3);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);  // our stdout may carry results (--json): ngspice's goes to stderr
  const std::string parent = std::to_string(::getpid());
  std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>("--parent"),
                             const_cast<char*>(parent.c_str()), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(child_end);
  if (rc != 0) {
    ::close(sv[0]);
    throw engine_fatal_error("start",
                             fmt::format("cannot start the ngspice worker '{}': {} (set SPICENN_NGSPICE_WORKER to its path)",
                                         program, std::strerror(rc)),
                             {});
  }
  pid_ = pid;
  fd_ = sv[0];
  loads_ = 0;
  wp::writer w;
  w.u8(static_cast<std::uint8_t>(wp::opcode::start)).u64(wp::version).str(options_.library_path);
  w.u8(options_.allow_control_blocks);
  w.u8(options_.voltage_bound.has_value()).f64(options_.voltage_bound.value_or(0.0));
  std::string why;
  auto response = exchange(w.bytes(), why);
  if (!response)
    throw engine_fatal_error("start", fmt::format("the ngspice worker '{}' {} while starting", program, why), {});
  try {
    (void)checked(std::move(*response));
  } catch (const internal_error& e) {
    // A version mismatch, or an older worker misreading the request.
    stop();
    throw engine_fatal_error("start",
                             fmt::format("the ngspice worker '{}' refused to start: {} (SPICENN_NGSPICE_WORKER must name "
                                         "this build's spicenn-ngspice-worker)",
                                         program, e.what()),
                             {});
  } catch (...) {
    stop();
    throw;
  }
}

std::optional<std::string> worker_engine::exchange(const std::string& request, std::string& why) {
  std::string response;
  auto status = wp::receive_status::closed;
  if (wp::send_frame(fd_, request)) status = wp::receive_frame(fd_, options_.time_limit, response);
  if (status == wp::receive_status::ok) {
    if (!request.empty() && static_cast<wp::opcode>(request[0]) == wp::opcode::load) ++loads_;
    return response;
  }
  const pid_t pid = pid_;
  if (status == wp::receive_status::timed_out) ::kill(pid_, SIGKILL);
  ::close(fd_);
  int exit_status = 0;
  while (::waitpid(pid_, &exit_status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  fd_ = -1;
  why = status == wp::receive_status::timed_out
            ? fmt::format("(pid {}) did not answer within the time limit of {} s and was killed", pid,
                          options_.time_limit)
            : fmt::format("(pid {}) {}", pid, describe_exit(exit_status));
  return std::nullopt;
}

void worker_engine::fail(const std::string& what, const std::string& why) {
  std::string saved;
  if (!netlist_.empty()) {
    std::error_code ec;
    const auto path = std::filesystem::temp_directory_path(ec) /
                      fmt::format("spicenn-worker-failure-{}-{}-{}.cir", ::getpid(), id_, failure_files++);
    std::ofstream(path) << netlist_;
    saved = fmt::format("; the circuit's netlist is saved in {}", path.string());
  }
  throw engine_crash_error(what, fmt::format("ngspice worker {} during '{}'{}", why, what, saved), {});
}

void worker_engine::replay(role r) {
  auto resend = [&](const std::string& request, const std::string& what) {
    std::string why;
    auto response = exchange(request, why);
    if (!response) fail(what, why + " while the circuit was restored");
    try {
      (void)checked(std::move(*response));
    } catch (const std::exception& e) {
      throw engine_crash_error(what, fmt::format("restoring the circuit in a restarted ngspice worker failed: {}", e.what()),
                               {});
    }
  };
  if (r == role::load || !loaded_) return;
  resend(wp::writer().u8(static_cast<std::uint8_t>(wp::opcode::load)).str(netlist_).bytes(), "load");
  for (const auto& [key, request] : changes_) resend(request, key.empty() ? "command" : "alter " + key);
  if (r == role::read && last_analysis_) resend(*last_analysis_, "the last analysis");
}

std::string worker_engine::call(const std::string& request, role r, const std::string& what) {
  std::string first_why;
  for (int attempt = 0;; ++attempt) {
    if (pid_ < 0) {
      spawn();
      ++worker_restarts_;
      replay(r);
    }
    std::string why;
    auto response = exchange(request, why);
    if (response) {
      if (!wp::is_fatal_error(*response)) return std::move(*response);
      // ngspice's own fatal error: its engine reloaded itself, the circuit is gone.
      if (attempt == 0 && r != role::load) {
        replay(r);
        continue;
      }
      loaded_ = false;
      netlist_.clear();
      changes_.clear();
      last_analysis_.reset();
      return std::move(*response);
    }
    if (attempt == 1) fail(what, fmt::format("{}, was restarted and {} again", first_why, why));
    first_why = why;
  }
}

namespace {

std::string request(wp::opcode op) { return wp::writer().u8(static_cast<std::uint8_t>(op)).bytes(); }
std::string request(wp::opcode op, std::string_view text) {
  return wp::writer().u8(static_cast<std::uint8_t>(op)).str(text).bytes();
}

}  // namespace

void worker_engine::load(std::string_view netlist) {
  loaded_ = false;  // as the engine: a failed load leaves no circuit
  netlist_.clear();
  changes_.clear();
  last_analysis_.reset();
  deck_.reset();
  if (options_.recycle_after_loads && loads_ >= options_.recycle_after_loads) {
    stop();
    spawn();
  }
  (void)checked(call(request(wp::opcode::load, netlist), role::load, "load"));
  loaded_ = true;
  netlist_ = std::string(netlist);
}

const std::vector<std::string>& worker_engine::deck() {
  if (!deck_) deck_ = checked(call(request(wp::opcode::deck), role::change, "deck")).strs();
  return *deck_;
}

void worker_engine::analysis(std::string_view text) {
  const auto req = request(wp::opcode::command, text);
  last_analysis_.reset();
  (void)checked(call(req, role::analysis, std::string(text)));
  last_analysis_ = req;
}

void worker_engine::command(std::string_view text) {
  if (is_analysis_command(text)) return analysis(text);
  const auto req = request(wp::opcode::command, text);
  (void)checked(call(req, role::change, std::string(text)));
  if (to_lower(trim(text)).rfind("reset", 0) == 0) {
    changes_.clear();  // as the engine: ngspice's reset re-parses the deck, alters are undone
  } else {
    changes_.emplace_back("", req);
  }
}

void worker_engine::alter(std::string_view device, double value) {
  const auto req = wp::writer().u8(static_cast<std::uint8_t>(wp::opcode::alter)).str(device).f64(value).bytes();
  (void)checked(call(req, role::change, fmt::format("alter {} = {}", device, value)));
  const std::string key = to_lower(trim(device));
  std::erase_if(changes_, [&](const auto& c) { return c.first == key; });
  changes_.emplace_back(key, req);
}

void worker_engine::alter(std::string_view device, std::string_view parameter, double value) {
  const auto req = wp::writer()
                       .u8(static_cast<std::uint8_t>(wp::opcode::alter_parameter))
                       .str(device)
                       .str(parameter)
                       .f64(value)
                       .bytes();
  (void)checked(call(req, role::change, fmt::format("alter {} {} = {}", device, parameter, value)));
  const std::string key = to_lower(trim(device)) + " " + to_lower(trim(parameter));
  std::erase_if(changes_, [&](const auto& c) { return c.first == key; });
  changes_.emplace_back(key, req);
}

std::string worker_engine::current_plot() {
  return checked(call(request(wp::opcode::current_plot), role::read, "current plot")).str();
}

std::vector<std::string> worker_engine::vector_names() {
  return checked(call(request(wp::opcode::vector_names), role::read, "vector names")).strs();
}

bool worker_engine::has_vector(std::string_view name) {
  return checked(call(request(wp::opcode::has_vector, name), role::read, "read vector")).u8() != 0;
}

std::vector<double> worker_engine::real_vector(std::string_view name) {
  return checked(call(request(wp::opcode::real_vector, name), role::read, "read vector")).f64s();
}

std::vector<std::complex<double>> worker_engine::complex_vector(std::string_view name) {
  return checked(call(request(wp::opcode::complex_vector, name), role::read, "read vector")).c128s();
}

void worker_engine::check_node_voltages(double bound, const std::vector<std::string>& ignore) {
  const auto req =
      wp::writer().u8(static_cast<std::uint8_t>(wp::opcode::check_node_voltages)).f64(bound).strs(ignore).bytes();
  (void)checked(call(req, role::read, "check node voltages"));
}

const std::string& worker_engine::last_output() {
  last_output_ = checked(call(request(wp::opcode::last_output), role::change, "last output")).str();
  return last_output_;
}

std::size_t worker_engine::restarts() {
  return worker_restarts_ + checked(call(request(wp::opcode::restarts), role::change, "restarts")).u64();
}

}  // namespace spicenn::spice
