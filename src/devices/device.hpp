// Two-terminal devices: C++ I(V) models mirrored by SPICE subcircuits.
//
// Every device has a C++ model (current and small-signal conductance as
// functions of the anode-cathode voltage, in SI units) and a subcircuit
// `NAME (anode cathode)` in a library file under device_models/ (or a file
// written by `spicenn fit-device`). A test sweeps each subcircuit in ngspice
// and compares it with the C++ curve.
//
//   const auto& reg = spicenn::devices::builtin_devices();
//   const auto& z15 = reg.get("z15");
//   double i = z15.current(0.85);        // amperes
//   double g = z15.conductance(0.85);    // siemens
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spicenn::devices {

// Voltage range over which a (basis) device's curve is defined; outside it
// the curve is held at its end values.
struct voltage_window {
  double lo = 0.0;
  double hi = 0.0;
};

// Shockley parameters, for devices the software models treat as diodes:
// I = is * (exp(V / (n * vt)) - 1).
struct shockley_parameters {
  double is = 1e-14;   // saturation current, A
  double n = 1.0;      // emission coefficient
  double vt = 0.025852;  // thermal voltage kT/q at 300 K, V
};

// Piecewise-linear diode: I = g_on * max(V, 0) + g_off * V. An ideal diode
// (ReLU clamp) up to a forward drop of I / g_on and a leak of g_off * V.
struct piecewise_linear_parameters {
  double g_on = 1e6;     // S, forward conductance
  double g_off = 1e-12;  // S, reverse conductance
};

class device {
 public:
  virtual ~device() = default;

  virtual std::string_view name() const = 0;         // lowercase, [a-z0-9_]
  virtual std::string_view description() const = 0;  // one line, for `spicenn devices`
  virtual double current(double volts) const = 0;     // A, anode -> cathode
  virtual double conductance(double volts) const = 0; // dI/dV, S

  // Defined for NDR basis devices and fitted devices; nullopt for diodes.
  virtual std::optional<voltage_window> window() const { return std::nullopt; }
  // Defined for diode-like devices that follow the Shockley law.
  virtual std::optional<shockley_parameters> shockley() const { return std::nullopt; }
  // Defined for piecewise-linear diodes.
  virtual std::optional<piecewise_linear_parameters> piecewise_linear() const { return std::nullopt; }
  // Voltages where the curve's derivatives may jump (a spline's knots, a
  // window's ends, a kink), sorted; between them the curve is smooth, so a
  // quadrature of the current split there is accurate (exact for cubics).
  virtual std::vector<double> breakpoints() const { return {}; }

  // Library file that defines subcircuit name() with pins (anode cathode):
  // absolute path (builtin devices: under device_models/).
  virtual std::filesystem::path library_file() const = 0;
};

// Where the device's I-V curve falls: the first voltage in [lo, hi] (of
// `points` equally spaced ones) where dI/dV < −relative · max |dI/dV|, with
// that slope; nullopt for a curve that is monotone (non-decreasing) there
// up to that tolerance, which ignores the ringing a spline picks up from
// rounded data. A MON needs a monotone element: a falling branch (an NDR
// tunnel diode) breaks the uniqueness of its equilibrium.
struct negative_slope {
  double volts = 0.0;
  double siemens = 0.0;
};
std::optional<negative_slope> first_negative_slope(const device& d, double lo, double hi, double relative = 1e-4,
                                                   std::size_t points = 4001);

// Name -> device. Filled explicitly by register_builtin_devices(); no static
// registration objects (their start-up order is unspecified).
class registry {
 public:
  void add(std::unique_ptr<device> d);  // throws spicenn::error on a duplicate name
  const device& get(std::string_view name) const;  // throws spicenn::error listing known names
  const device* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;  // sorted

 private:
  std::vector<std::unique_ptr<device>> devices_;
};

// Adds shockley_diode, ideal_diode, pwl_diode, esaki, rtd, a21, z21, z15, zaz21.
void register_builtin_devices(registry& r);

// A process-wide registry holding the builtin devices (built on first use).
const registry& builtin_devices();

// Directory holding the builtin .lib files (compile-time default; the
// SPICENN_DEVICE_MODELS environment variable overrides it).
std::filesystem::path device_models_dir();

}  // namespace spicenn::devices
