// Parameter values of the builtin devices. How each set was chosen is in
// docs/devices.md; tests/devices/test_builtin.cpp checks the NDR curves
// against the device table of docs/models.md §4.
#include "devices/builtin.hpp"

namespace spicenn::devices {

shockley_parameters shockley_diode_parameters() { return {2.52e-9, 1.752, ngspice_vt_27c}; }

shockley_parameters ideal_diode_parameters() { return {1e-15, 0.001, ngspice_vt_27c}; }

// 1e6 S forward: a forward drop of 0.1 nV per 100 uA (the MON current unit),
// so that SPICE matches the ideal MON to well below the 1e-6 V target even
// with the 10 mA clamping currents of a trained MNIST network (1e4 S left
// 0.8 uV there); 1e-12 S reverse, ngspice's gmin.
piecewise_linear_parameters pwl_diode_parameters() { return {1e6, 1e-12}; }

esaki_parameters esaki_builtin_parameters() {
  // Germanium tunnel diode of the 1N3716 class: tunnel peak 4.7 mA at 65 mV,
  // excess current 0.4 mA at 0.35 V, diffusion current reaching the peak
  // current again near 0.475 V.
  esaki_parameters p;
  p.ip = 4.7e-3;
  p.vp = 0.065;
  p.iv = 0.4e-3;
  p.vv = 0.35;
  p.a = 15;
  p.is = 1.9e-11;
  p.n = 1;
  return p;
}

schulman_parameters rtd_builtin_parameters() {
  // InGaAs/AlAs-like RTD at room temperature: peak 5.8 mA at 0.35 V, valley
  // 1.9 mA at 0.69 V (PVR 3.0).
  schulman_parameters p;
  p.a = 1e-3;
  p.b = 0.08;
  p.c = 0.12;
  p.d = 0.02;
  p.n1 = 0.3;
  p.n2 = 0.12;
  p.h = 2e-5;
  return p;
}

// The four NDR basis curves. Amplitudes in the units of docs/models.md §4 (x 10 uA). Each
// set solves those conditions exactly (Newton, see docs/devices.md):
// peak value and zero slope at the peak, valley value and zero slope at the
// valley, the listed end or second-peak values, and I = 0.5 % of the peak at
// 1.15 V where the table says "~0 from 1.15 V".
bump_curve_parameters a21_parameters() {
  // peak 2.79 @ 0.35 V; valley 0.0019 @ 1.05 V; I(1.3 V) = 3.11
  bump_curve_parameters p;
  p.bumps = {{2.79 * ndr_current_unit, 0.35, 2, 2.2976601671960593}};
  p.is = 4.8988096406564253e-19 * ndr_current_unit;
  p.v0 = 0.030026737653922473;
  return p;
}

bump_curve_parameters z21_parameters() {
  // peak 1.00 @ 0.70 V; I(1.15 V) = 0.005
  bump_curve_parameters p;
  p.bumps = {{1.0 * ndr_current_unit, 0.7, 3, 5.0905430091967947}};
  return p;
}

bump_curve_parameters z15_parameters() {
  // peak 2.53 @ 0.85 V; valley 0.10 @ 1.05 V; second peak 3.07 @ 1.3 V
  bump_curve_parameters p;
  p.bumps = {{2.5299770447801779 * ndr_current_unit, 0.8499928827134402, 3, 15.797711109121737},
             {3.07 * ndr_current_unit, 1.3, 53.512126342993746, 4}};
  return p;
}

bump_curve_parameters zaz21_parameters() {
  // peak 1.61 @ 1.0 V; I(1.15 V) = 0.005 * 1.61
  bump_curve_parameters p;
  p.bumps = {{1.61 * ndr_current_unit, 1.0, 4, 26.308468606414667}};
  return p;
}

std::vector<std::unique_ptr<device>> make_builtin_devices() {
  std::vector<std::unique_ptr<device>> out;
  out.push_back(std::make_unique<shockley_device>("shockley_diode",
                                                  "small-signal silicon diode (1N4148-like IS, N; no RS), Shockley law",
                                                  shockley_diode_parameters()));
  out.push_back(std::make_unique<shockley_device>(
      "ideal_diode", "near-ideal diode for ReLU networks (N = 0.001: < 0.8 mV forward drop up to 10 mA)",
      ideal_diode_parameters()));
  out.push_back(std::make_unique<piecewise_linear_diode>(
      "pwl_diode", "piecewise-linear ideal diode for ReLU networks (behavioural: 1e6 S forward, 1e-12 S reverse)",
      pwl_diode_parameters()));
  out.push_back(std::make_unique<ndr_device>("esaki", "germanium-like Esaki tunnel diode, window 0-0.5 V",
                                             esaki_builtin_parameters(), voltage_window{0.0, 0.5}));
  out.push_back(std::make_unique<ndr_device>("rtd", "Schulman resonant-tunnelling diode, window 0-1.2 V",
                                             rtd_builtin_parameters(), voltage_window{0.0, 1.2}));
  out.push_back(std::make_unique<ndr_device>("a21", "NDR basis A21 (armchair 21 A), window 0-1.3 V, 1 unit = 10 uA",
                                             a21_parameters(), voltage_window{0.0, 1.3}));
  out.push_back(std::make_unique<ndr_device>("z21", "NDR basis Z21 (zigzag 21 A), window 0-1.25 V, 1 unit = 10 uA",
                                             z21_parameters(), voltage_window{0.0, 1.25}));
  out.push_back(std::make_unique<ndr_device>("z15", "NDR basis Z15 (zigzag 15 A), window 0-1.4 V, 1 unit = 10 uA",
                                             z15_parameters(), voltage_window{0.0, 1.4}));
  out.push_back(std::make_unique<ndr_device>("zaz21", "NDR basis ZAZ21, window 0-1.5 V, 1 unit = 10 uA",
                                             zaz21_parameters(), voltage_window{0.0, 1.5}));
  return out;
}

}  // namespace spicenn::devices
