#include "devices/builtin.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "core/overloaded.hpp"

namespace spicenn::devices {

namespace {


double bump_value(const bump_term& b, double v) {
  const double r = v / b.centre;
  return b.amplitude * std::pow(r, b.rise) * std::exp((b.rise / b.fall) * (1.0 - std::pow(r, b.fall)));
}

// d/dV of bump_value, written without dividing by V so that it is finite at
// V = 0 (0 for rise > 1, amplitude*e^(1/fall)/centre for rise == 1).
double bump_slope(const bump_term& b, double v) {
  const double r = v / b.centre;
  const double rs = std::pow(r, b.fall);
  return b.amplitude * (b.rise / b.centre) * std::pow(r, b.rise - 1.0) * (1.0 - rs) *
         std::exp((b.rise / b.fall) * (1.0 - rs));
}

double softplus(double u) { return u > 30 ? u + std::log1p(std::exp(-u)) : std::log1p(std::exp(u)); }
double logistic(double u) { return 1.0 / (1.0 + std::exp(-u)); }

std::filesystem::path builtin_library(const std::filesystem::path& given, std::string_view name) {
  if (!given.empty()) return given;
  return device_models_dir() / (std::string(name) + ".lib");
}

}  // namespace

bool is_valid_device_name(std::string_view name) {
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// ---------------------------------------------------------------- shockley

shockley_device::shockley_device(std::string name, std::string description, shockley_parameters p,
                                 std::filesystem::path library_file)
    : name_(std::move(name)), description_(std::move(description)), params_(p), library_file_(std::move(library_file)) {
  SPICENN_ASSERT(is_valid_device_name(name_), "device name must match [a-z][a-z0-9_]*");
  SPICENN_ASSERT(p.is > 0 && p.n > 0 && p.vt > 0, "Shockley parameters must be positive");
}

double shockley_device::current(double volts) const {
  return params_.is * std::expm1(volts / (params_.n * params_.vt));
}

double shockley_device::conductance(double volts) const {
  const double nvt = params_.n * params_.vt;
  return params_.is / nvt * std::exp(volts / nvt);
}

std::filesystem::path shockley_device::library_file() const { return builtin_library(library_file_, name_); }

// ---------------------------------------------------------------- piecewise linear

piecewise_linear_diode::piecewise_linear_diode(std::string name, std::string description, piecewise_linear_parameters p,
                                               std::filesystem::path library_file)
    : name_(std::move(name)), description_(std::move(description)), params_(p), library_file_(std::move(library_file)) {
  SPICENN_ASSERT(is_valid_device_name(name_), "device name must match [a-z][a-z0-9_]*");
  SPICENN_ASSERT(p.g_on > p.g_off && p.g_off >= 0, "piecewise-linear diode needs g_on > g_off >= 0");
}

double piecewise_linear_diode::current(double volts) const {
  return params_.g_on * std::max(volts, 0.0) + params_.g_off * volts;
}

// At V = 0: the forward branch.
double piecewise_linear_diode::conductance(double volts) const {
  return (volts >= 0 ? params_.g_on : 0.0) + params_.g_off;
}

std::filesystem::path piecewise_linear_diode::library_file() const { return builtin_library(library_file_, name_); }

// ---------------------------------------------------------------- formulas

double formula_current(const ndr_formula& f, double v) {
  return std::visit(overloaded{
                        [v](const esaki_parameters& p) {
                          const double x = v / p.vp;
                          return p.ip * x * std::exp(1.0 - x) + p.iv * std::exp(p.a * (v - p.vv)) +
                                 p.is * std::expm1(v / (p.n * p.vt));
                        },
                        [v](const schulman_parameters& p) {
                          const double u1 = (p.b - p.c + p.n1 * v) / p.vt;
                          const double u2 = (p.b - p.c - p.n1 * v) / p.vt;
                          const double l = softplus(u1) - softplus(u2);
                          const double t = std::numbers::pi / 2 + std::atan((p.c - p.n1 * v) / p.d);
                          return p.a * l * t + p.h * std::expm1(p.n2 * v / p.vt);
                        },
                        [v](const bump_curve_parameters& p) {
                          double i = p.is * std::expm1(v / p.v0);
                          for (const auto& b : p.bumps) i += bump_value(b, v);
                          return i;
                        },
                    },
                    f);
}

double formula_conductance(const ndr_formula& f, double v) {
  return std::visit(overloaded{
                        [v](const esaki_parameters& p) {
                          const double x = v / p.vp;
                          const double nvt = p.n * p.vt;
                          return p.ip / p.vp * (1.0 - x) * std::exp(1.0 - x) + p.iv * p.a * std::exp(p.a * (v - p.vv)) +
                                 p.is / nvt * std::exp(v / nvt);
                        },
                        [v](const schulman_parameters& p) {
                          const double u1 = (p.b - p.c + p.n1 * v) / p.vt;
                          const double u2 = (p.b - p.c - p.n1 * v) / p.vt;
                          const double l = softplus(u1) - softplus(u2);
                          const double dl = p.n1 / p.vt * (logistic(u1) + logistic(u2));
                          const double z = (p.c - p.n1 * v) / p.d;
                          const double t = std::numbers::pi / 2 + std::atan(z);
                          const double dt = -p.n1 / p.d / (1.0 + z * z);
                          return p.a * (dl * t + l * dt) + p.h * p.n2 / p.vt * std::exp(p.n2 * v / p.vt);
                        },
                        [v](const bump_curve_parameters& p) {
                          double g = p.is / p.v0 * std::exp(v / p.v0);
                          for (const auto& b : p.bumps) g += bump_slope(b, v);
                          return g;
                        },
                    },
                    f);
}

// ---------------------------------------------------------------- ndr_device

ndr_device::ndr_device(std::string name, std::string description, ndr_formula formula, voltage_window window,
                       std::filesystem::path library_file)
    : name_(std::move(name)),
      description_(std::move(description)),
      formula_(std::move(formula)),
      window_(window),
      library_file_(std::move(library_file)) {
  SPICENN_ASSERT(is_valid_device_name(name_), "device name must match [a-z][a-z0-9_]*");
  SPICENN_ASSERT(window_.lo < window_.hi, "device window must have lo < hi");
  i_lo_ = formula_current(formula_, window_.lo);
  i_hi_ = formula_current(formula_, window_.hi);
}

double ndr_device::current(double volts) const {
  if (volts < window_.lo) return i_lo_;
  if (volts > window_.hi) return i_hi_;
  return formula_current(formula_, volts);
}

double ndr_device::conductance(double volts) const {
  if (volts < window_.lo || volts > window_.hi) return 0.0;
  return formula_conductance(formula_, volts);
}

std::filesystem::path ndr_device::library_file() const { return builtin_library(library_file_, name_); }

}  // namespace spicenn::devices
