#include "cosim/progress.hpp"

#include <cmath>

#include <unistd.h>

#include <fmt/format.h>

#include "core/error.hpp"

namespace spicenn::cosim {

std::string_view to_string(progress_mode m) {
  switch (m) {
    case progress_mode::automatic: return "auto";
    case progress_mode::tty: return "tty";
    case progress_mode::lines: return "lines";
    case progress_mode::off: return "off";
  }
  return "?";
}

progress_mode progress_mode_from_string(std::string_view name) {
  if (name == "auto") return progress_mode::automatic;
  if (name == "tty") return progress_mode::tty;
  if (name == "lines") return progress_mode::lines;
  if (name == "off") return progress_mode::off;
  throw error(fmt::format("unknown progress mode '{}': choose auto, tty, lines or off", name));
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  auto total = static_cast<long long>(std::llround(seconds));
  long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
  return fmt::format("{}:{:02}", m, s);
}

progress_line::progress_line(std::FILE* out, progress_mode mode, double interval_seconds)
    : out_(out), mode_(mode), interval_(interval_seconds) {
  if (mode_ == progress_mode::automatic) mode_ = out_ && ::isatty(::fileno(out_)) ? progress_mode::tty : progress_mode::lines;
  if (!out_) mode_ = progress_mode::off;
}

progress_line::~progress_line() { clear(); }

void progress_line::update(std::string_view text, bool force) {
  if (mode_ == progress_mode::off) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (mode_ == progress_mode::tty) {
    if (!force && printed_ && since < 0.1) return;
    std::string line(text);
    std::size_t pad = live_width_ > line.size() ? live_width_ - line.size() : 0;
    fmt::print(out_, "\r{}{:{}}", line, "", pad);
    std::fflush(out_);
    live_width_ = line.size();
    printed_ = true;
  } else {
    if (!force && printed_ && since < interval_) return;
    fmt::print(out_, "{}\n", text);
    std::fflush(out_);
    printed_ = true;
  }
  last_ = now;
}

void progress_line::finish(std::string_view text) {
  if (mode_ == progress_mode::off) return;
  clear();
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
}

void progress_line::clear() {
  if (mode_ != progress_mode::tty || live_width_ == 0) return;
  fmt::print(out_, "\r{:{}}\r", "", live_width_);
  std::fflush(out_);
  live_width_ = 0;
  printed_ = false;
}

}  // namespace spicenn::cosim
