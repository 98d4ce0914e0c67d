// Progress reports on stderr for slow work (training epochs, SPICE
// evaluation): one line redrawn in place with '\r' when the stream is a
// terminal, otherwise a plain line every few seconds so that CI logs stay
// short.
//
//   cosim::progress_line p(stderr, cosim::progress_mode::automatic);
//   for (...) p.update(fmt::format("batch {}/{} loss {:.4f}", i, n, loss));
//   p.finish("epoch 1 done");   // always printed, ends the line
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace spicenn::cosim {

enum class progress_mode {
  automatic,  // tty if the stream is a terminal, else lines
  tty,        // redraw one line in place ('\r'), at most ~10 times a second
  lines,      // a full line at most every interval seconds
  off,        // nothing, not even finish()
};
std::string_view to_string(progress_mode m);
progress_mode progress_mode_from_string(std::string_view name);  // auto | tty | lines | off

// "0:07", "12:34", "1:02:03"; "?" for a negative or non-finite value.
std::string format_duration(double seconds);

class progress_line {
 public:
  // out: the stream (not owned, usually stderr). interval_seconds: lines mode
  // prints at most once per interval (0 = every update).
  explicit progress_line(std::FILE* out, progress_mode mode = progress_mode::automatic, double interval_seconds = 10.0);
  ~progress_line();
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;

  // Shows text, throttled (tty ~10 Hz, lines every interval); force skips the
  // throttle.
  void update(std::string_view text, bool force = false);
  // Prints text as a finished line (replacing the live line on a terminal).
  void finish(std::string_view text);
  // Erases the live line on a terminal (call before printing something else).
  void clear();

  progress_mode mode() const { return mode_; }  // never automatic after construction

 private:
  std::FILE* out_;
  progress_mode mode_;
  double interval_;
  std::chrono::steady_clock::time_point last_{};
  bool printed_ = false;      // anything printed yet (lines) / a live line is shown (tty)
  std::size_t live_width_ = 0;
};

}  // namespace spicenn::cosim
