// The builtin device models: Shockley diodes and analytic NDR curves.
//
// Each class evaluates a closed-form I(V) and its analytic derivative. The
// SPICE text for the same formula is produced by library_writer.cpp from the
// parameter structs below (devices never print themselves), and a test sweeps
// the written subcircuit in ngspice against current().
//
//   spicenn::devices::registry r;
//   spicenn::devices::register_builtin_devices(r);
//   auto& d = dynamic_cast<const spicenn::devices::ndr_device&>(r.get("a21"));
//   double peak = d.current(0.35);   // 27.9 uA (2.79 units of 10 uA)
#pragma once

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "devices/device.hpp"

namespace spicenn::devices {

// Thermal voltage kT/q exactly as ngspice-39 computes it at its default
// circuit temperature of 27 degC (CONSTboltz = 1.38064852e-23 J/K,
// CHARGE = 1.6021766208e-19 C, T = 300.15 K).
inline constexpr double ngspice_boltzmann = 1.38064852e-23;
inline constexpr double ngspice_charge = 1.6021766208e-19;
inline constexpr double ngspice_default_kelvin = 300.15;
inline constexpr double ngspice_vt_27c = ngspice_boltzmann * ngspice_default_kelvin / ngspice_charge;

// Current unit of the NDR curves of docs/models.md §4 ("arbitrary units"): 1 unit = 10 uA.
inline constexpr double ndr_current_unit = 10e-6;

// A Shockley diode realised in SPICE as a `D` element whose `.model` card
// sets IS and N (TNOM = 27 and instance temp = 27 so that no temperature
// scaling happens and vt == ngspice_vt_27c).
class shockley_device final : public device {
 public:
  shockley_device(std::string name, std::string description, shockley_parameters p,
                  std::filesystem::path library_file = {});

  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  double current(double volts) const override;
  double conductance(double volts) const override;
  std::optional<shockley_parameters> shockley() const override { return params_; }
  std::filesystem::path library_file() const override;

  const shockley_parameters& parameters() const { return params_; }

 private:
  std::string name_;
  std::string description_;
  shockley_parameters params_;
  std::filesystem::path library_file_;
};

// A piecewise-linear diode realised in SPICE as a behavioural current source
// `B1 anode cathode I = g_on*uramp(V) + g_off*V`: a model of an ideal
// (ReLU) diode with no junction physics, no gmin and no exponential, so
// Newton's method needs no voltage limiting and a DC sweep settles in about
// as many iterations as diodes change state.
class piecewise_linear_diode final : public device {
 public:
  piecewise_linear_diode(std::string name, std::string description, piecewise_linear_parameters p,
                         std::filesystem::path library_file = {});
  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  double current(double volts) const override;
  double conductance(double volts) const override;
  std::optional<piecewise_linear_parameters> piecewise_linear() const override { return params_; }
  std::vector<double> breakpoints() const override { return {0.0}; }  // the kink
  std::filesystem::path library_file() const override;
  const piecewise_linear_parameters& parameters() const { return params_; }

 private:
  std::string name_;
  std::string description_;
  piecewise_linear_parameters params_;
  std::filesystem::path library_file_;
};

// Esaki tunnel diode (docs/models.md §4):
//   I = ip*(V/vp)*exp(1 - V/vp) + iv*exp(a*(V - vv)) + is*(exp(V/(n*vt)) - 1)
struct esaki_parameters {
  double ip = 0;  // A, tunnel peak current scale
  double vp = 0;  // V, tunnel peak voltage
  double iv = 0;  // A, excess current at vv
  double vv = 0;  // V, valley voltage
  double a = 0;   // 1/V, excess-current slope
  double is = 0;  // A, diode saturation current
  double n = 1;   // diode emission coefficient
  double vt = ngspice_vt_27c;
};

// Schulman resonant-tunnelling diode (docs/models.md §4), current in amperes:
//   I = a*ln[(1 + e^((b - c + n1 V)/vt)) / (1 + e^((b - c - n1 V)/vt))]
//         * [pi/2 + atan((c - n1 V)/d)] + h*(e^(n2 V/vt) - 1)
struct schulman_parameters {
  double a = 0;  // A
  double b = 0;  // V
  double c = 0;  // V
  double d = 0;  // V
  double n1 = 0;
  double n2 = 0;
  double h = 0;  // A
  double vt = ngspice_vt_27c;
};

// One peak of a basis curve: a generalized Esaki tunnel term
//   amplitude * r^rise * exp((rise/fall) * (1 - r^fall)),  r = V/centre,
// equal to `amplitude` with zero slope at V = centre and 0 at V = 0; `rise`
// sets the steepness left of the peak, `fall` (with rise) right of it.
// rise = fall = 1 is exactly the Esaki tunnel term.
struct bump_term {
  double amplitude = 0;  // A
  double centre = 1;     // V, > 0
  double rise = 1;       // > 0
  double fall = 1;       // > 0
};

// Sum of bumps plus a Shockley-like excess current is*(exp(V/v0) - 1).
// Every term vanishes at V = 0. Defined for V >= 0.
struct bump_curve_parameters {
  std::vector<bump_term> bumps;
  double is = 0;  // A
  double v0 = 1;  // V
};

using ndr_formula = std::variant<esaki_parameters, schulman_parameters, bump_curve_parameters>;

// Unclamped formula values (exposed for the writer, the docs and tests).
double formula_current(const ndr_formula& f, double volts);
double formula_conductance(const ndr_formula& f, double volts);

// An NDR device: an analytic formula on a window, held at its end values
// outside it:  I(V) = f(min(max(V, lo), hi)),  dI/dV = 0 outside [lo, hi]
// and f'(V) on it (one-sided at the ends).
class ndr_device final : public device {
 public:
  ndr_device(std::string name, std::string description, ndr_formula formula, voltage_window window,
             std::filesystem::path library_file = {});

  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  double current(double volts) const override;
  double conductance(double volts) const override;
  std::optional<voltage_window> window() const override { return window_; }
  std::filesystem::path library_file() const override;

  const ndr_formula& formula() const { return formula_; }
  double current_at_lo() const { return i_lo_; }  // the clamp constants
  double current_at_hi() const { return i_hi_; }

 private:
  std::string name_;
  std::string description_;
  ndr_formula formula_;
  voltage_window window_;
  double i_lo_ = 0;
  double i_hi_ = 0;
  std::filesystem::path library_file_;
};

// The builtin parameter sets (documented in docs/devices.md).
shockley_parameters shockley_diode_parameters();
shockley_parameters ideal_diode_parameters();
piecewise_linear_parameters pwl_diode_parameters();
esaki_parameters esaki_builtin_parameters();
schulman_parameters rtd_builtin_parameters();
bump_curve_parameters a21_parameters();
bump_curve_parameters z21_parameters();
bump_curve_parameters z15_parameters();
bump_curve_parameters zaz21_parameters();

// Fresh instances of every builtin device, in registration order.
std::vector<std::unique_ptr<device>> make_builtin_devices();

// True for names usable as a subcircuit name: [a-z][a-z0-9_]*.
bool is_valid_device_name(std::string_view name);

}  // namespace spicenn::devices
