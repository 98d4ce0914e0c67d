#include "spice/worker_protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>

#include "core/error.hpp"
#include "spice/errors.hpp"

namespace spicenn::spice::worker_protocol {

writer& writer::u8(std::uint8_t v) {
  bytes_.push_back(static_cast<char>(v));
  return *this;
}
writer& writer::u64(std::uint64_t v) {
  bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);  // both ends are this build: native order
  return *this;
}
writer& writer::f64(double v) {
  bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  return *this;
}
writer& writer::str(std::string_view v) {
  u64(v.size());
  bytes_.append(v);
  return *this;
}
writer& writer::strs(const std::vector<std::string>& v) {
  u64(v.size());
  for (const auto& s : v) str(s);
  return *this;
}
writer& writer::f64s(const std::vector<double>& v) {
  u64(v.size());
  bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
  return *this;
}
writer& writer::c128s(const std::vector<std::complex<double>>& v) {
  u64(v.size());
  bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(std::complex<double>));
  return *this;
}

void reader::take(void* out, std::size_t n) {
  if (bytes_.size() - pos_ < n) throw internal_error("ngspice worker: truncated message");
  std::memcpy(out, bytes_.data() + pos_, n);
  pos_ += n;
}
std::uint8_t reader::u8() {
  std::uint8_t v;
  take(&v, 1);
  return v;
}
std::uint64_t reader::u64() {
  std::uint64_t v;
  take(&v, sizeof v);
  return v;
}
double reader::f64() {
  double v;
  take(&v, sizeof v);
  return v;
}
std::string reader::str() {
  const auto n = u64();
  if (bytes_.size() - pos_ < n) throw internal_error("ngspice worker: truncated message");
  std::string s = bytes_.substr(pos_, n);
  pos_ += n;
  return s;
}
std::vector<std::string> reader::strs() {
  std::vector<std::string> v(u64());
  for (auto& s : v) s = str();
  return v;
}
std::vector<double> reader::f64s() {
  const auto n = u64();
  if ((bytes_.size() - pos_) / sizeof(double) < n) throw internal_error("ngspice worker: truncated message");
  std::vector<double> v(n);
  take(v.data(), n * sizeof(double));
  return v;
}
std::vector<std::complex<double>> reader::c128s() {
  const auto n = u64();
  if ((bytes_.size() - pos_) / sizeof(std::complex<double>) < n) throw internal_error("ngspice worker: truncated message");
  std::vector<std::complex<double>> v(n);
  take(v.data(), n * sizeof(std::complex<double>));
  return v;
}

namespace {

// The exception types an engine throws, most derived first.
enum class kind : std::uint8_t {
  netlist,
  timestep,
  convergence,
  crash,
  fatal,
  command,
  vector,
  spice,
  simulation,
  internal,
  error,
  other
};

}  // namespace

std::string encode_current_exception() {
  writer w;
  w.u8(status_error);
  try {
    throw;
  } catch (const spice_error& e) {
    kind k = kind::spice;
    std::string node, vector_name;
    if (dynamic_cast<const netlist_error*>(&e)) k = kind::netlist;
    else if (dynamic_cast<const timestep_error*>(&e)) k = kind::timestep;
    else if (const auto* c = dynamic_cast<const convergence_error*>(&e)) k = kind::convergence, node = c->node();
    else if (dynamic_cast<const engine_crash_error*>(&e)) k = kind::crash;
    else if (dynamic_cast<const engine_fatal_error*>(&e)) k = kind::fatal;
    else if (dynamic_cast<const command_error*>(&e)) k = kind::command;
    else if (const auto* v = dynamic_cast<const vector_error*>(&e)) k = kind::vector, vector_name = v->vector_name();
    w.u8(static_cast<std::uint8_t>(k)).str(e.what()).str(e.command()).str(e.summary()).str(e.ngspice_message());
    w.u64(e.line_number()).str(e.netlist_line()).str(node).str(vector_name);
  } catch (const std::exception& e) {
    kind k = kind::other;
    if (dynamic_cast<const simulation_error*>(&e)) k = kind::simulation;
    else if (dynamic_cast<const internal_error*>(&e)) k = kind::internal;
    else if (dynamic_cast<const error*>(&e)) k = kind::error;
    w.u8(static_cast<std::uint8_t>(k)).str(e.what());
  } catch (...) {
    w.u8(static_cast<std::uint8_t>(kind::other)).str("unknown exception in the ngspice worker");
  }
  return w.bytes();
}

bool is_fatal_error(const std::string& response) {
  if (response.size() < 2 || static_cast<std::uint8_t>(response[0]) != status_error) return false;
  const auto k = static_cast<kind>(response[1]);
  return k == kind::fatal || k == kind::crash;
}

void throw_error(reader& r) {
  const auto k = static_cast<kind>(r.u8());
  const std::string what = r.str();
  switch (k) {
    case kind::simulation: throw simulation_error(what);
    case kind::internal: throw internal_error(what);
    case kind::error:
    case kind::other: throw error(what);  // the text is kept, the type is spicenn::error
    default: break;
  }
  const std::string command = r.str(), summary = r.str(), message = r.str();
  const auto line = r.u64();
  const std::string netlist_line = r.str(), node = r.str(), vector_name = r.str();
  switch (k) {
    case kind::netlist: throw netlist_error(summary, message, line, netlist_line);
    case kind::timestep: throw timestep_error(command, summary, message, node);
    case kind::convergence: throw convergence_error(command, summary, message, node);
    case kind::crash: throw engine_crash_error(command, summary, message, line, netlist_line);
    case kind::fatal: throw engine_fatal_error(command, summary, message, line, netlist_line);
    case kind::command: throw command_error(command, summary, message, line, netlist_line);
    case kind::vector: throw vector_error(vector_name, summary, message);
    default: throw spice_error(command, summary, message, line, netlist_line);
  }
}

bool send_frame(int fd, const std::string& payload) {
  std::string frame;
  const std::uint64_t n = payload.size();
  frame.append(reinterpret_cast<const char*>(&n), sizeof n);
  frame.append(payload);
  std::size_t done = 0;
  while (done < frame.size()) {
    const ssize_t k = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += static_cast<std::size_t>(k);
  }
  return true;
}

receive_status receive_frame(int fd, double timeout_seconds, std::string& payload) {
  using clock = std::chrono::steady_clock;
  const bool bounded = timeout_seconds > 0;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(bounded ? timeout_seconds : 0.0));
  auto read_exactly = [&](char* out, std::size_t n) -> receive_status {
    std::size_t done = 0;
    while (done < n) {
      int wait_ms = -1;
      if (bounded) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) return receive_status::timed_out;
        wait_ms = static_cast<int>(std::min<long long>(left, 1 << 30));
      }
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, wait_ms);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return receive_status::closed;
      if (ready == 0) continue;  // the deadline is checked above
      const ssize_t k = ::recv(fd, out + done, n - done, 0);
      if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (k <= 0) return receive_status::closed;
      done += static_cast<std::size_t>(k);
    }
    return receive_status::ok;
  };
  std::uint64_t n = 0;
  if (auto s = read_exactly(reinterpret_cast<char*>(&n), sizeof n); s != receive_status::ok) return s;
  payload.assign(n, '\0');
  return read_exactly(payload.data(), n);
}

}  // namespace spicenn::spice::worker_protocol
