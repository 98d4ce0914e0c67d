#include "devices/library_writer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <variant>

#include "core/error.hpp"
#include "core/overloaded.hpp"
#include "core/numbers.hpp"
#include "devices/builtin.hpp"
#include "devices/fit.hpp"

namespace spicenn::devices {

namespace {


constexpr std::size_t line_width = 100;

// A number as SPICE expression text: shortest round-trip form, negatives in
// parentheses so that it can follow any operator.
std::string num(double x) {
  SPICENN_ASSERT(std::isfinite(x), "device parameters written to SPICE must be finite");
  std::string s = format_double(x);
  return x < 0 || (x == 0 && std::signbit(x)) ? "(" + s + ")" : s;
}

// Comment text: a single line without control characters.
std::string comment_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

// Splits a long SPICE line at blanks into continuation lines ("+ ...").
std::string wrap(const std::string& line) {
  std::string out;
  std::size_t start = 0;
  bool first = true;
  while (start < line.size()) {
    const std::size_t room = first ? line_width : line_width - 2;
    std::size_t end = line.size();
    if (end - start > room) {
      std::size_t cut = line.rfind(' ', start + room);
      if (cut == std::string::npos || cut <= start) cut = line.find(' ', start + room);
      end = cut == std::string::npos ? line.size() : cut;
    }
    out += first ? "" : "+ ";
    out += line.substr(start, end - start);
    out += '\n';
    start = end;
    while (start < line.size() && line[start] == ' ') ++start;
    first = false;
  }
  return out;
}

std::string bump_expression(const bump_term& b, std::string_view v) {
  const std::string r = fmt::format("{}/{}", v, num(b.centre));
  return fmt::format("{}*pow({},{})*exp({}*(1 - pow({},{})))", num(b.amplitude), r, num(b.rise), num(b.rise / b.fall),
                     r, num(b.fall));
}

std::string formula_expression(const ndr_formula& formula, std::string_view v) {
  return std::visit(
      overloaded{
          [v](const esaki_parameters& p) {
            return fmt::format("{}*({}/{})*exp(1 - {}/{}) + {}*exp({}*({} - {})) + {}*(exp({}/{}) - 1)", num(p.ip), v,
                               num(p.vp), v, num(p.vp), num(p.iv), num(p.a), v, num(p.vv), num(p.is), v,
                               num(p.n * p.vt));
          },
          [v](const schulman_parameters& p) {
            return fmt::format(
                "{}*ln((1 + exp(({} + {}*{})/{}))/(1 + exp(({} - {}*{})/{})))*({} + atan(({} - {}*{})/{})) + "
                "{}*(exp({}*{}/{}) - 1)",
                num(p.a), num(p.b - p.c), num(p.n1), v, num(p.vt), num(p.b - p.c), num(p.n1), v, num(p.vt),
                num(std::numbers::pi / 2), num(p.c), num(p.n1), v, num(p.d), num(p.h), num(p.n2), v, num(p.vt));
          },
          [v](const bump_curve_parameters& p) {
            std::string e;
            for (const auto& b : p.bumps) e += (e.empty() ? "" : " + ") + bump_expression(b, v);
            if (p.is != 0) e += fmt::format("{}{}*(exp({}/{}) - 1)", e.empty() ? "" : " + ", num(p.is), v, num(p.v0));
            return e.empty() ? std::string("0") : e;
          },
      },
      formula);
}

// Horner form of sum_j a[j] * u^j.
std::string horner(const std::vector<double>& a, const std::string& u) {
  SPICENN_ASSERT(!a.empty(), "polynomial without coefficients");
  std::string e = num(a.back());
  for (std::size_t j = a.size() - 1; j-- > 0;) e = fmt::format("{} + {}*({})", num(a[j]), u, e);
  return e;
}

std::string spline_tree(const spline_fit& s, std::size_t first, std::size_t last, std::string_view v) {
  // pieces first..last (inclusive); piece i covers [knots[i], knots[i+1]]
  if (first == last) {
    const cubic_piece c = spline_piece(s, first);
    const std::string t = fmt::format("({} - {})", v, num(s.knots[first]));
    return horner({c.c0, c.c1, c.c2, c.c3}, t);
  }
  const std::size_t mid = (first + last + 1) / 2;  // pieces >= mid start at knots[mid]
  return fmt::format("({} < {} ? {} : {})", v, num(s.knots[mid]), spline_tree(s, first, mid - 1, v),
                     spline_tree(s, mid, last, v));
}

std::string clamped(std::string_view v, voltage_window w, double i_lo, double i_hi, const std::string& inside) {
  return fmt::format("{} < {} ? {} : ({} > {} ? {} : {})", v, num(w.lo), num(i_lo), v, num(w.hi), num(i_hi), inside);
}

std::string header(const device& d) {
  return fmt::format(
      "* spicenn device library: {}\n"
      "* {}\n"
      "* Written by spicenn (src/devices/library_writer.cpp); do not edit by hand.\n"
      "* Pins: anode cathode; the current I flows from anode to cathode, V = V(anode,cathode).\n",
      d.name(), comment_safe(d.description()));
}

std::string values_lines(std::string_view key, const std::vector<double>& values) {
  std::string out;
  constexpr std::size_t per_line = 6;
  for (std::size_t i = 0; i < values.size(); i += per_line) {
    out += fmt::format("{} {}", fit_line_prefix, key);
    for (std::size_t j = i; j < std::min(values.size(), i + per_line); ++j) out += " " + format_double(values[j]);
    out += '\n';
  }
  return out;
}

std::string shockley_text(const shockley_device& d) {
  const auto& p = d.parameters();
  std::string out = header(d);
  out += fmt::format(
      "* Shockley law I = IS*(exp(V/(N*vt)) - 1), IS = {} A, N = {}, vt = {} V (27 degC in ngspice).\n"
      "* TNOM and the instance temperature are pinned at 27 degC so that no temperature scaling\n"
      "* applies. ngspice adds gmin*V (default gmin 1e-12 S) and, below -3*N*vt, uses its\n"
      "* reverse approximation -IS*(1 + (3*N*vt/(V*e))^3); both differ from the law by < IS*e^-3 + gmin*|V|.\n",
      format_double(p.is), format_double(p.n), format_double(p.vt));
  if (p.vt != ngspice_vt_27c)
    throw error(fmt::format("device '{}': a SPICE diode at 27 degC has vt = {}, not {}", d.name(),
                            format_double(ngspice_vt_27c), format_double(p.vt)));
  out += fmt::format(".subckt {} anode cathode\n", d.name());
  out += fmt::format("D1 anode cathode {}_model temp=27\n", d.name());
  out += fmt::format(".model {}_model D (IS={} N={} TNOM=27)\n", d.name(), format_double(p.is), format_double(p.n));
  out += fmt::format(".ends {}\n", d.name());
  return out;
}

std::string piecewise_linear_text(const piecewise_linear_diode& d) {
  const auto& p = d.parameters();
  std::string out = header(d);
  out += fmt::format(
      "* Piecewise-linear law I = G_ON*max(V,0) + G_OFF*V, G_ON = {} S, G_OFF = {} S.\n"
      "* A behavioural source, not a junction: no gmin, no voltage limiting, no temperature.\n",
      format_double(p.g_on), format_double(p.g_off));
  out += fmt::format(".subckt {} anode cathode\n", d.name());
  out += fmt::format("B1 anode cathode I = {}*uramp(V(anode,cathode)) + {}*V(anode,cathode)\n", num(p.g_on), num(p.g_off));
  out += fmt::format(".ends {}\n", d.name());
  return out;
}

std::string ndr_text(const ndr_device& d) {
  const voltage_window w = *d.window();
  std::string out = header(d);
  out += fmt::format("* Window [{}, {}] V: I(V) = f(min(max(V, {}), {})); the constants below are f({}) and f({}).\n",
                     format_double(w.lo), format_double(w.hi), format_double(w.lo), format_double(w.hi),
                     format_double(w.lo), format_double(w.hi));
  out += fmt::format(".subckt {} anode cathode\n", d.name());
  out += wrap(fmt::format("B1 anode cathode I = {}", current_expression(d, "V(anode,cathode)")));
  out += fmt::format(".ends {}\n", d.name());
  return out;
}

std::string fitted_text(const fitted_device& d) {
  const voltage_window w = *d.window();
  const auto& st = d.statistics();
  std::string out = header(d);
  out += fmt::format("* Fitted from {} ({} points): max |error| = {} A, rms error = {} A.\n", comment_safe(st.source),
                     st.points, format_double(st.max_error), format_double(st.rms_error));
  out += fmt::format("* Held at its end values outside the data window [{}, {}] V.\n", format_double(w.lo),
                     format_double(w.hi));
  out += fmt::format("{} format {}\n", fit_line_prefix, fit_format_version);
  out += fmt::format("{} name {}\n", fit_line_prefix, d.name());
  out += fmt::format("{} source {}\n", fit_line_prefix, comment_safe(st.source));
  out += fmt::format("{} points {}\n", fit_line_prefix, st.points);
  out += fmt::format("{} max_error {}\n", fit_line_prefix, format_double(st.max_error));
  out += fmt::format("{} rms_error {}\n", fit_line_prefix, format_double(st.rms_error));
  std::visit(overloaded{
                 [&](const chebyshev_fit& f) {
                   out += fmt::format("{} method chebyshev\n", fit_line_prefix);
                   out += fmt::format("{} window {} {}\n", fit_line_prefix, format_double(f.window.lo),
                                      format_double(f.window.hi));
                   out += values_lines("coefficients", f.coefficients);
                 },
                 [&](const spline_fit& s) {
                   out += fmt::format("{} method spline\n", fit_line_prefix);
                   out += values_lines("knots", s.knots);
                   out += values_lines("values", s.values);
                   out += values_lines("second_derivatives", s.second_derivatives);
                 },
             },
             d.representation());
  out += fmt::format("{} end\n", fit_line_prefix);
  out += fmt::format(".subckt {} anode cathode\n", d.name());
  out += wrap(fmt::format("B1 anode cathode I = {}", current_expression(d, "V(anode,cathode)")));
  out += fmt::format(".ends {}\n", d.name());
  return out;
}

}  // namespace

std::string current_expression(const device& d, std::string_view v) {
  if (const auto* n = dynamic_cast<const ndr_device*>(&d))
    return clamped(v, *n->window(), n->current_at_lo(), n->current_at_hi(), formula_expression(n->formula(), v));
  if (const auto* f = dynamic_cast<const fitted_device*>(&d)) {
    const std::string inside =
        std::visit(overloaded{
                       [&](const chebyshev_fit& c) {
                         const double mid = (c.window.lo + c.window.hi) / 2;
                         return horner(chebyshev_power_coefficients(c), fmt::format("({} - {})", v, num(mid)));
                       },
                       [&](const spline_fit& s) { return spline_tree(s, 0, s.knots.size() - 2, v); },
                   },
                   f->representation());
    return clamped(v, *f->window(), f->current_at_lo(), f->current_at_hi(), inside);
  }
  throw error(fmt::format("device '{}' has no behavioural-source expression", d.name()));
}

std::string library_text(const device& d) {
  if (const auto* s = dynamic_cast<const shockley_device*>(&d)) return shockley_text(*s);
  if (const auto* l = dynamic_cast<const piecewise_linear_diode*>(&d)) return piecewise_linear_text(*l);
  if (const auto* n = dynamic_cast<const ndr_device*>(&d)) return ndr_text(*n);
  if (const auto* f = dynamic_cast<const fitted_device*>(&d)) return fitted_text(*f);
  throw error(fmt::format("device '{}': no SPICE library writer for this device type", d.name()));
}

void write_library_file(const device& d, const std::filesystem::path& file) {
  const std::string text = library_text(d);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw error(fmt::format("cannot write device library '{}'", file.string()));
  out << text;
  out.close();
  if (!out) throw error(fmt::format("error while writing device library '{}'", file.string()));
}

}  // namespace spicenn::devices
