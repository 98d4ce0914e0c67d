// The messages between an isolated engine (spice/worker_engine.hpp) and its
// worker process (spicenn-ngspice-worker): frames of an 8-byte length and a
// payload over a Unix stream socket. A request is an opcode and its
// arguments; a response is a status byte, then the result or an error that
// the client throws again as the same type (spice/errors.hpp) with the same
// fields. Both sides are built from this source; the start request carries
// `version`, and a worker of another build refuses it (a stale
// SPICENN_NGSPICE_WORKER would otherwise misread every request).
#pragma once

#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spicenn::spice::worker_protocol {

// "SPICE" and a number: change the number with any message's layout.
constexpr std::uint64_t version = 0x5350494345000002;

enum class opcode : std::uint8_t {
  start,            // version, library path, allow_control_blocks, voltage bound (has, value)
  load,             // netlist
  command,          // text: an analysis or any other command (engine::command)
  alter,            // device, value
  alter_parameter,  // device, parameter, value
  current_plot,
  vector_names,
  has_vector,       // name
  real_vector,      // name
  complex_vector,   // name
  check_node_voltages,  // bound, ignore
  last_output,
  deck,
  restarts,
};

class writer {
 public:
  writer& u8(std::uint8_t v);
  writer& u64(std::uint64_t v);
  writer& f64(double v);
  writer& str(std::string_view v);
  writer& strs(const std::vector<std::string>& v);
  writer& f64s(const std::vector<double>& v);
  writer& c128s(const std::vector<std::complex<double>>& v);
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Throws internal_error if the payload ends early.
class reader {
 public:
  explicit reader(std::string bytes) : bytes_(std::move(bytes)) {}
  std::uint8_t u8();
  std::uint64_t u64();
  double f64();
  std::string str();
  std::vector<std::string> strs();
  std::vector<double> f64s();
  std::vector<std::complex<double>> c128s();

 private:
  void take(void* out, std::size_t n);
  std::string bytes_;
  std::size_t pos_ = 0;
};

// The response to a request that failed: the exception, encoded.
std::string encode_current_exception();
// Throws the exception an error response holds (status byte already read).
[[noreturn]] void throw_error(reader& r);
// Whether an error response holds an engine_fatal_error (without consuming it).
bool is_fatal_error(const std::string& response);

constexpr std::uint8_t status_ok = 0, status_error = 1;

// Frames on a socket. send_frame returns false if the peer is gone.
bool send_frame(int fd, const std::string& payload);
enum class receive_status { ok, closed, timed_out };
// Waits up to timeout_seconds (0 = forever) for a whole frame.
receive_status receive_frame(int fd, double timeout_seconds, std::string& payload);

}  // namespace spicenn::spice::worker_protocol
