// Fitting measured I-V points to a device: `spicenn fit-device`.
//
// The data (CSV `voltage,current`, header optional, `#` comments) are fitted
// either by a Chebyshev polynomial of degree N on the data window mapped to
// [-1, 1] (Eigen column-pivoting QR least squares) or by a natural cubic
// regression spline. The fitted device holds the fit inside the data window
// and its end values outside it. Its library file carries the fit data in
// `* spicenn-fit:` comment lines, from which load_fitted_device() rebuilds the
// identical C++ device. Nothing is registered globally: later commands use
// the .lib file by path.
//
//   auto data = spicenn::devices::read_iv_csv("iv.csv");
//   auto fit = spicenn::devices::fit_device(data, "my_ndr", {.degree = 12});
//   fmt::print("max error {} A, rms {} A\n", fit.statistics().max_error, fit.statistics().rms_error);
//   spicenn::devices::write_fitted_library(fit, "my_ndr.lib");
//   auto again = spicenn::devices::load_fitted_device("my_ndr.lib");  // same current()/conductance()
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "devices/device.hpp"

namespace spicenn::devices {

// I-V points sorted by strictly increasing voltage.
struct iv_data {
  std::vector<double> voltage;    // V
  std::vector<double> current;    // A
  std::vector<std::size_t> line;  // 1-based source line of each point
  std::string source;             // file name used in messages
};

// Parses CSV text. Rules: one `voltage,current` pair per line; blank lines
// and text after `#` ignored; the first non-blank line is a header when none
// of its fields is a number; voltages must be strictly increasing or
// strictly decreasing (decreasing data are reversed); values must be finite.
// Throws parse_error naming source:line and the offending field.
iv_data parse_iv_csv(std::string_view text, std::string source_name);
iv_data read_iv_csv(const std::filesystem::path& file);  // + spicenn::error if unreadable

enum class fit_method { chebyshev, spline };

struct fit_options {
  fit_method method = fit_method::chebyshev;
  int degree = 12;               // Chebyshev degree, 0..max_chebyshev_degree
  std::size_t spline_knots = 0;  // 0: auto (every point if <= 32 points, else 32)
};

inline constexpr int max_chebyshev_degree = 30;
inline constexpr std::size_t auto_spline_knots = 32;

// f(V) = sum_k coefficients[k] * T_k(x),  x = (2V - lo - hi) / (hi - lo).
struct chebyshev_fit {
  voltage_window window;
  std::vector<double> coefficients;
};

// Natural cubic spline through (knots[i], values[i]) with second derivatives
// second_derivatives[i] at the knots (0 at both ends).
struct spline_fit {
  std::vector<double> knots;
  std::vector<double> values;
  std::vector<double> second_derivatives;
};

// Power form of the spline piece on [knots[i], knots[i+1]]:
//   f(V) = c0 + t*(c1 + t*(c2 + t*c3)),  t = V - knots[i].
struct cubic_piece {
  double c0, c1, c2, c3;
};
cubic_piece spline_piece(const spline_fit& s, std::size_t i);

// Monomial coefficients a_j of the Chebyshev fit in u = V - (lo + hi)/2:
//   f(V) = sum_j a_j u^j  (what the SPICE expression evaluates by Horner).
std::vector<double> chebyshev_power_coefficients(const chebyshev_fit& f);

struct fit_statistics {
  std::string source;      // data file
  std::size_t points = 0;  // number of data points
  double max_error = 0;    // max |fit - data| over the data, A
  double rms_error = 0;    // root mean square of (fit - data), A
};

class fitted_device final : public device {
 public:
  using representation_type = std::variant<chebyshev_fit, spline_fit>;

  // Throws spicenn::error for an invalid name or inconsistent fit data.
  fitted_device(std::string name, representation_type fit, fit_statistics stats = {},
                std::filesystem::path library_file = {});

  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  double current(double volts) const override;
  double conductance(double volts) const override;
  std::optional<voltage_window> window() const override { return window_; }
  // The spline's knots, or the Chebyshev window's ends (where the clamp begins).
  std::vector<double> breakpoints() const override;
  // Empty until the device was written (write_fitted_library) or loaded.
  std::filesystem::path library_file() const override { return library_file_; }

  void set_library_file(std::filesystem::path file) { library_file_ = std::move(file); }
  const representation_type& representation() const { return fit_; }
  const fit_statistics& statistics() const { return stats_; }
  fit_method method() const { return fit_.index() == 0 ? fit_method::chebyshev : fit_method::spline; }
  double current_at_lo() const { return i_lo_; }  // the clamp constants
  double current_at_hi() const { return i_hi_; }

 private:
  double unclamped_current(double v) const;
  std::string name_;
  std::string description_;
  representation_type fit_;
  fit_statistics stats_;
  voltage_window window_;
  double i_lo_ = 0;
  double i_hi_ = 0;
  std::filesystem::path library_file_;
};

// Fits the data; name must match [a-z][a-z0-9_]* (it becomes a subcircuit
// name). Throws spicenn::error naming the data file for too few points or a
// bad degree / knot count.
fitted_device fit_device(const iv_data& data, std::string_view name, const fit_options& options = {});

// Writes the subcircuit library (see library_writer.hpp) and records the
// absolute path in the device.
void write_fitted_library(fitted_device& d, const std::filesystem::path& file);

// Rebuilds a fitted device from a library written by write_fitted_library;
// throws parse_error (file:line) on malformed or missing `* spicenn-fit:` data.
fitted_device load_fitted_device(const std::filesystem::path& file);


}  // namespace spicenn::devices
