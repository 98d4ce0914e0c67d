// spicenn-ngspice-worker: one embedded ngspice engine in a process of its
// own, serving the requests of an isolated spice::engine on descriptor 3
// (spice/worker_protocol.hpp). Started by the engine, never by hand.
//
// Fault injection, for the tests of the recovery: SPICENN_WORKER_FAULT =
// KIND@N[:MARKER] makes the Nth analysis of this worker fail, where KIND is
//   segv   the worker raises SIGSEGV;
//   abort  it calls abort();
//   kill   a thread kills the worker (SIGKILL) 2 ms into the analysis (a
//          shorter analysis waits for it: the answer is never sent);
//   hang   it never answers (the client's time limit ends it);
//   fatal  ngspice's own fatal error (ControlledExit, on a deck without .ends);
//   version (N ignored) it speaks another protocol version, as a worker of
//          another build would.
// With MARKER (a file path) the fault happens only if that file can be
// created, i.e. once over all workers of a run.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "spice/engine.hpp"
#include "spice/worker_engine.hpp"
#include "spice/worker_protocol.hpp"

namespace {

using namespace spicenn::spice;
namespace wp = worker_protocol;

class fault_injection {
 public:
  fault_injection() {
    const char* spec = std::getenv("SPICENN_WORKER_FAULT");
    if (!spec || !*spec) return;
    const std::string s = spec;
    const auto at = s.find('@');
    if (at == std::string::npos) return;
    kind_ = s.substr(0, at);
    const auto colon = s.find(':', at);
    nth_ = std::atol(s.substr(at + 1, colon == std::string::npos ? std::string::npos : colon - at - 1).c_str());
    if (colon != std::string::npos) marker_ = s.substr(colon + 1);
  }

  void before_analysis(engine& eng) {
    if (kind_.empty() || ++count_ != nth_) return;
    if (!marker_.empty()) {
      const int fd = ::open(marker_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0) return;  // another worker had the fault
      ::close(fd);
    }
    if (kind_ == "segv") {
      // Die of the signal itself, as a real fault without a handler would:
      // under AddressSanitizer its handler would report and abort instead.
      ::signal(SIGSEGV, SIG_DFL);
      ::raise(SIGSEGV);
    }
    if (kind_ == "abort") std::abort();
    if (kind_ == "kill") {
      killing_ = true;
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ::kill(::getpid(), SIGKILL);
      }).detach();
    }
    if (kind_ == "hang")
      while (true) ::pause();
    if (kind_ == "fatal") eng.load("fault injection: a .subckt without .ends\n.subckt x a b\n.end\n");
  }

  std::uint64_t protocol_version() const { return kind_ == "version" ? wp::version + 1 : wp::version; }

  // A short analysis may end before the kill: its answer is never sent.
  void after_analysis() {
    if (killing_)
      while (true) ::pause();
  }

 private:
  std::string kind_, marker_;
  long nth_ = 0, count_ = 0;
  bool killing_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  // Die with the engine's process, even in the middle of an analysis: once
  // orphaned, the worker is adopted by another process. (PR_SET_PDEATHSIG
  // would follow the thread that started the worker, which may end first.)
  if (argc == 3 && std::string(argv[1]) == "--parent") {
    const pid_t parent = static_cast<pid_t>(std::atol(argv[2]));
    if (::getppid() != parent) return 1;
    std::thread([parent] {
      while (::getppid() == parent) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::_Exit(1);
    }).detach();
  }
  constexpr int fd = 3;
  std::optional<engine> eng;
  fault_injection fault;
  std::string request;
  while (wp::receive_frame(fd, 0, request) == wp::receive_status::ok) {
    std::string response;
    try {
      wp::reader r(std::move(request));
      const auto op = static_cast<wp::opcode>(r.u8());
      if (op != wp::opcode::start && !eng) throw spicenn::internal_error("ngspice worker: request before start");
      wp::writer w;
      w.u8(wp::status_ok);
      switch (op) {
        case wp::opcode::start: {
          const std::uint64_t theirs = r.u64();
          if (theirs != fault.protocol_version())
            throw spicenn::internal_error(fmt::format("it speaks protocol version {:#x} but the engine {:#x}: it is from another "
                                             "build of spicenn",
                                             fault.protocol_version(), theirs));
          engine_options o;
          o.library_path = r.str();
          o.allow_control_blocks = r.u8() != 0;
          const bool bounded = r.u8() != 0;
          const double bound = r.f64();
          if (bounded) o.voltage_bound = bound;
          eng.emplace(o);
          break;
        }
        case wp::opcode::load: eng->load(r.str()); break;
        case wp::opcode::command: {
          const std::string text = r.str();
          const bool analysis = is_analysis_command(text);
          if (analysis) fault.before_analysis(*eng);
          eng->command(text);
          if (analysis) fault.after_analysis();
          break;
        }
        case wp::opcode::alter: {
          const std::string device = r.str();
          eng->alter(device, r.f64());
          break;
        }
        case wp::opcode::alter_parameter: {
          const std::string device = r.str(), parameter = r.str();
          eng->alter(device, parameter, r.f64());
          break;
        }
        case wp::opcode::current_plot: w.str(eng->current_plot()); break;
        case wp::opcode::vector_names: w.strs(eng->vector_names()); break;
        case wp::opcode::has_vector: w.u8(eng->has_vector(r.str())); break;
        case wp::opcode::real_vector: w.f64s(eng->real_vector(r.str())); break;
        case wp::opcode::complex_vector: w.c128s(eng->complex_vector(r.str())); break;
        case wp::opcode::check_node_voltages: {
          const double bound = r.f64();
          eng->check_node_voltages(bound, r.strs());
          break;
        }
        case wp::opcode::last_output: w.str(eng->last_output()); break;
        case wp::opcode::deck: w.strs(eng->deck()); break;
        case wp::opcode::restarts: w.u64(eng->restarts()); break;
        default: throw spicenn::internal_error("ngspice worker: unknown request");
      }
      response = w.bytes();
    } catch (...) {
      response = wp::encode_current_exception();
    }
    if (!wp::send_frame(fd, response)) return 0;
  }
  return 0;
}
