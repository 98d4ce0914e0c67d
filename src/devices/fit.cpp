#include "devices/fit.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/overloaded.hpp"
#include "core/numbers.hpp"
#include "devices/builtin.hpp"
#include "devices/library_writer.hpp"

namespace spicenn::devices {

namespace {


constexpr std::size_t max_spline_knots = 200;


std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    if (end == text.size()) break;
    start = end + 1;
  }
  return lines;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t end = s.find(sep, start);
    out.push_back(trim(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

// Chebyshev values T_k(x) and derivatives T_k'(x), k = 0..n.
void chebyshev_basis(double x, std::size_t n, std::vector<double>& t, std::vector<double>* dt) {
  t.assign(n + 1, 0.0);
  t[0] = 1.0;
  if (n >= 1) t[1] = x;
  for (std::size_t k = 1; k < n; ++k) t[k + 1] = 2 * x * t[k] - t[k - 1];
  if (dt) {
    dt->assign(n + 1, 0.0);
    if (n >= 1) (*dt)[1] = 1.0;
    for (std::size_t k = 1; k < n; ++k) (*dt)[k + 1] = 2 * t[k] + 2 * x * (*dt)[k] - (*dt)[k - 1];
  }
}

double to_unit(const voltage_window& w, double v) { return (2 * v - w.lo - w.hi) / (w.hi - w.lo); }

std::size_t spline_interval(const spline_fit& s, double v) {
  auto it = std::upper_bound(s.knots.begin(), s.knots.end(), v);
  std::size_t i = it == s.knots.begin() ? 0 : static_cast<std::size_t>(it - s.knots.begin()) - 1;
  return std::min(i, s.knots.size() - 2);
}

voltage_window window_of(const fitted_device::representation_type& fit) {
  return std::visit(overloaded{[](const chebyshev_fit& c) { return c.window; },
                               [](const spline_fit& s) {
                                 return voltage_window{s.knots.front(), s.knots.back()};
                               }},
                    fit);
}

void validate_fit(std::string_view name, const fitted_device::representation_type& fit) {
  auto bad = [&](const std::string& why) { throw error(fmt::format("fitted device '{}': {}", name, why)); };
  auto all_finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  std::visit(
      overloaded{
          [&](const chebyshev_fit& c) {
            if (!(std::isfinite(c.window.lo) && std::isfinite(c.window.hi) && c.window.lo < c.window.hi))
              bad("window must be finite with lo < hi");
            if (c.coefficients.empty()) bad("no Chebyshev coefficients");
            if (c.coefficients.size() > static_cast<std::size_t>(max_chebyshev_degree) + 1)
              bad(fmt::format("degree {} exceeds the maximum {}", c.coefficients.size() - 1, max_chebyshev_degree));
            if (!all_finite(c.coefficients)) bad("non-finite Chebyshev coefficient");
          },
          [&](const spline_fit& s) {
            if (s.knots.size() < 2) bad("a spline needs at least 2 knots");
            if (s.values.size() != s.knots.size() || s.second_derivatives.size() != s.knots.size())
              bad(fmt::format("{} knots but {} values and {} second derivatives", s.knots.size(), s.values.size(),
                              s.second_derivatives.size()));
            if (!all_finite(s.knots) || !all_finite(s.values) || !all_finite(s.second_derivatives))
              bad("non-finite spline data");
            for (std::size_t i = 1; i < s.knots.size(); ++i)
              if (!(s.knots[i] > s.knots[i - 1])) bad("spline knots must be strictly increasing");
          },
      },
      fit);
}

std::string describe(const fitted_device::representation_type& fit, const fit_statistics& st) {
  const voltage_window w = window_of(fit);
  std::string what = std::visit(
      overloaded{[](const chebyshev_fit& c) { return fmt::format("Chebyshev degree {}", c.coefficients.size() - 1); },
                 [](const spline_fit& s) { return fmt::format("natural cubic spline, {} knots", s.knots.size()); }},
      fit);
  std::string from = st.source.empty() ? std::string() : fmt::format(" from {}", st.source);
  return fmt::format("fitted device: {} on [{}, {}] V{}", what, format_double(w.lo), format_double(w.hi), from);
}

}  // namespace

// ------------------------------------------------------------------ CSV

iv_data parse_iv_csv(std::string_view text, std::string source_name) {
  iv_data data;
  data.source = source_name;
  bool seen_content = false;
  const auto lines = split_lines(text);
  for (std::size_t li = 0; li < lines.size(); ++li) {
    const std::size_t lineno = li + 1;
    std::string_view line = lines[li];
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const source_location where{source_name, lineno};
    const auto fields = split(line, ',');
    const bool first_content = !seen_content;
    seen_content = true;
    if (first_content &&
        std::none_of(fields.begin(), fields.end(), [](std::string_view f) { return try_parse_double(f).has_value(); }))
      continue;  // header
    if (fields.size() != 2)
      throw parse_error(where, fmt::format("expected 2 columns (voltage,current), found {}", fields.size()));
    double values[2];
    for (std::size_t k = 0; k < 2; ++k) {
      const char* column = k == 0 ? "voltage" : "current";
      auto v = try_parse_double(fields[k]);
      if (!v) throw parse_error(where, fmt::format("{} (column {}) '{}' is not a number", column, k + 1, fields[k]));
      if (!std::isfinite(*v))
        throw parse_error(where, fmt::format("{} (column {}) '{}' is not finite", column, k + 1, fields[k]));
      values[k] = *v;
    }
    data.voltage.push_back(values[0]);
    data.current.push_back(values[1]);
    data.line.push_back(lineno);
  }
  const std::size_t n = data.voltage.size();
  if (n == 0) throw parse_error(source_location{source_name, 0}, "no data points (expected lines 'voltage,current')");
  if (n >= 2) {
    const bool decreasing = data.voltage[1] < data.voltage[0];
    for (std::size_t i = 1; i < n; ++i) {
      const double a = data.voltage[i - 1], b = data.voltage[i];
      const source_location where{source_name, data.line[i]};
      if (a == b)
        throw parse_error(where,
                          fmt::format("duplicate voltage {} (also on line {})", format_double(b), data.line[i - 1]));
      if ((b < a) != decreasing)
        throw parse_error(where,
                          fmt::format("voltage {} breaks the {} order of the voltages (previous: {} on line {}); "
                                      "voltages must be strictly monotone",
                                      format_double(b), decreasing ? "decreasing" : "increasing", format_double(a),
                                      data.line[i - 1]));
    }
    if (decreasing) {
      std::reverse(data.voltage.begin(), data.voltage.end());
      std::reverse(data.current.begin(), data.current.end());
      std::reverse(data.line.begin(), data.line.end());
    }
  }
  return data;
}

iv_data read_iv_csv(const std::filesystem::path& file) {
  return parse_iv_csv(read_file(file, "I-V data file"), file.string());
}

// ------------------------------------------------------------------ representations

std::vector<double> fitted_device::breakpoints() const {
  if (const auto* s = std::get_if<spline_fit>(&fit_)) return s->knots;
  return {window_.lo, window_.hi};
}

cubic_piece spline_piece(const spline_fit& s, std::size_t i) {
  SPICENN_ASSERT(i + 1 < s.knots.size(), "spline piece index out of range");
  const double h = s.knots[i + 1] - s.knots[i];
  const double y0 = s.values[i], y1 = s.values[i + 1];
  const double m0 = s.second_derivatives[i], m1 = s.second_derivatives[i + 1];
  return {y0, (y1 - y0) / h - h * (2 * m0 + m1) / 6, m0 / 2, (m1 - m0) / (6 * h)};
}

std::vector<double> chebyshev_power_coefficients(const chebyshev_fit& f) {
  const std::size_t n = f.coefficients.size();
  // monomial coefficients of T_k in x, by T_{k+1} = 2x T_k - T_{k-1}
  std::vector<double> prev(n, 0.0), cur(n, 0.0), ax(n, 0.0);
  prev[0] = 1.0;             // T_0
  if (n >= 2) cur[1] = 1.0;  // T_1
  for (std::size_t j = 0; j < n; ++j) ax[j] += f.coefficients[0] * prev[j];
  for (std::size_t k = 1; k < n; ++k) {
    for (std::size_t j = 0; j < n; ++j) ax[j] += f.coefficients[k] * cur[j];
    if (k + 1 == n) break;
    std::vector<double> next(n, 0.0);
    for (std::size_t j = 0; j + 1 < n; ++j) next[j + 1] = 2 * cur[j];
    for (std::size_t j = 0; j < n; ++j) next[j] -= prev[j];
    prev = std::move(cur);
    cur = std::move(next);
  }
  const double s = 2.0 / (f.window.hi - f.window.lo);  // x = s * (V - mid)
  double sj = 1.0;
  for (std::size_t j = 0; j < n; ++j, sj *= s) ax[j] *= sj;
  return ax;
}

// ------------------------------------------------------------------ fitted_device

fitted_device::fitted_device(std::string name, representation_type fit, fit_statistics stats,
                             std::filesystem::path library_file)
    : name_(std::move(name)), fit_(std::move(fit)), stats_(std::move(stats)), library_file_(std::move(library_file)) {
  if (!is_valid_device_name(name_))
    throw error(fmt::format("device name '{}' is invalid: it must match [a-z][a-z0-9_]*", name_));
  validate_fit(name_, fit_);
  window_ = window_of(fit_);
  description_ = describe(fit_, stats_);
  i_lo_ = unclamped_current(window_.lo);
  i_hi_ = unclamped_current(window_.hi);
}

double fitted_device::unclamped_current(double v) const {
  return std::visit(overloaded{
                        [v](const chebyshev_fit& c) {
                          // Clenshaw: b_k = c_k + 2x b_{k+1} - b_{k+2}; f = c_0 + x b_1 - b_2
                          const double x = to_unit(c.window, v);
                          double b1 = 0, b2 = 0;
                          for (std::size_t k = c.coefficients.size(); k-- > 1;) {
                            const double b0 = c.coefficients[k] + 2 * x * b1 - b2;
                            b2 = b1;
                            b1 = b0;
                          }
                          return c.coefficients[0] + x * b1 - b2;
                        },
                        [v](const spline_fit& s) {
                          const std::size_t i = spline_interval(s, v);
                          const cubic_piece p = spline_piece(s, i);
                          const double t = v - s.knots[i];
                          return p.c0 + t * (p.c1 + t * (p.c2 + t * p.c3));
                        },
                    },
                    fit_);
}

double fitted_device::current(double volts) const {
  if (volts < window_.lo) return i_lo_;
  if (volts > window_.hi) return i_hi_;
  return unclamped_current(volts);
}

double fitted_device::conductance(double volts) const {
  if (volts < window_.lo || volts > window_.hi) return 0.0;
  return std::visit(overloaded{
                        [volts](const chebyshev_fit& c) {
                          std::vector<double> t, dt;
                          chebyshev_basis(to_unit(c.window, volts), c.coefficients.size() - 1, t, &dt);
                          double g = 0;
                          for (std::size_t k = 0; k < c.coefficients.size(); ++k) g += c.coefficients[k] * dt[k];
                          return g * 2.0 / (c.window.hi - c.window.lo);
                        },
                        [volts](const spline_fit& s) {
                          const std::size_t i = spline_interval(s, volts);
                          const cubic_piece p = spline_piece(s, i);
                          const double t = volts - s.knots[i];
                          return p.c1 + t * (2 * p.c2 + t * 3 * p.c3);
                        },
                    },
                    fit_);
}

// ------------------------------------------------------------------ fitting

namespace {

chebyshev_fit fit_chebyshev(const iv_data& data, int degree) {
  const std::size_t n = data.voltage.size(), m = static_cast<std::size_t>(degree) + 1;
  const voltage_window w{data.voltage.front(), data.voltage.back()};
  Eigen::MatrixXd a(n, m);
  Eigen::VectorXd y(n);
  std::vector<double> t;
  for (std::size_t i = 0; i < n; ++i) {
    chebyshev_basis(to_unit(w, data.voltage[i]), m - 1, t, nullptr);
    for (std::size_t k = 0; k < m; ++k) a(i, k) = t[k];
    y(i) = data.current[i];
  }
  const Eigen::VectorXd c = a.colPivHouseholderQr().solve(y);
  return {w, std::vector<double>(c.data(), c.data() + c.size())};
}

// Natural cubic spline on the given knots, least-squares fitted to the data.
// The unknowns are the spline values at the knots; the second derivatives
// are a fixed linear map of them (natural end conditions), so every data
// point gives one linear equation.
spline_fit fit_spline(const iv_data& data, std::size_t knot_count) {
  const std::size_t n = data.voltage.size(), k = knot_count;
  spline_fit s;
  for (std::size_t j = 0; j < k; ++j) {
    const std::size_t idx =
        k == 1 ? 0 : static_cast<std::size_t>(std::llround(double(j) * double(n - 1) / double(k - 1)));
    s.knots.push_back(data.voltage[idx]);
  }
  // second derivatives M = S * values, S is k x k with zero first and last rows
  Eigen::MatrixXd sm = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k));
  if (k > 2) {
    const auto inner = static_cast<Eigen::Index>(k - 2);
    Eigen::MatrixXd tri = Eigen::MatrixXd::Zero(inner, inner);
    Eigen::MatrixXd rhs = Eigen::MatrixXd::Zero(inner, static_cast<Eigen::Index>(k));
    for (Eigen::Index i = 0; i < inner; ++i) {
      const std::size_t j = static_cast<std::size_t>(i) + 1;  // knot index
      const double h0 = s.knots[j] - s.knots[j - 1], h1 = s.knots[j + 1] - s.knots[j];
      tri(i, i) = 2 * (h0 + h1);
      if (i > 0) tri(i, i - 1) = h0;
      if (i + 1 < inner) tri(i, i + 1) = h1;
      rhs(i, static_cast<Eigen::Index>(j - 1)) += 6 / h0;
      rhs(i, static_cast<Eigen::Index>(j)) -= 6 / h0 + 6 / h1;
      rhs(i, static_cast<Eigen::Index>(j + 1)) += 6 / h1;
    }
    sm.middleRows(1, inner) = tri.partialPivLu().solve(rhs);
  }
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(k));
  Eigen::VectorXd y(static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const double v = data.voltage[i];
    auto it = std::upper_bound(s.knots.begin(), s.knots.end(), v);
    std::size_t j = it == s.knots.begin() ? 0 : static_cast<std::size_t>(it - s.knots.begin()) - 1;
    j = std::min(j, k - 2);
    const double h = s.knots[j + 1] - s.knots[j];
    const double bb = (v - s.knots[j]) / h, aa = 1 - bb;
    const auto r = static_cast<Eigen::Index>(i);
    a(r, static_cast<Eigen::Index>(j)) += aa;
    a(r, static_cast<Eigen::Index>(j + 1)) += bb;
    a.row(r) += (h * h / 6) * ((aa * aa * aa - aa) * sm.row(static_cast<Eigen::Index>(j)) +
                               (bb * bb * bb - bb) * sm.row(static_cast<Eigen::Index>(j + 1)));
    y(r) = data.current[i];
  }
  const Eigen::VectorXd values = a.colPivHouseholderQr().solve(y);
  const Eigen::VectorXd m2 = sm * values;
  s.values.assign(values.data(), values.data() + values.size());
  s.second_derivatives.assign(m2.data(), m2.data() + m2.size());
  s.second_derivatives.front() = 0.0;  // exactly natural
  s.second_derivatives.back() = 0.0;
  return s;
}

}  // namespace

fitted_device fit_device(const iv_data& data, std::string_view name, const fit_options& options) {
  if (!is_valid_device_name(name))
    throw error(
        fmt::format("device name '{}' is invalid: it must match [a-z][a-z0-9_]* (it becomes a subcircuit name)", name));
  const std::size_t n = data.voltage.size();
  SPICENN_ASSERT(data.current.size() == n, "iv_data voltage and current sizes differ");
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(data.voltage[i]) || !std::isfinite(data.current[i]) ||
        (i > 0 && !(data.voltage[i] > data.voltage[i - 1])))
      throw error(
          fmt::format("{}: I-V data must be finite with strictly increasing voltages (point {})", data.source, i + 1));
  fitted_device::representation_type rep;
  if (options.method == fit_method::chebyshev) {
    if (options.degree < 0 || options.degree > max_chebyshev_degree)
      throw error(fmt::format("polynomial degree {} is out of range 0..{}", options.degree, max_chebyshev_degree));
    const std::size_t need = static_cast<std::size_t>(options.degree) + 1;
    if (n < std::max<std::size_t>(need, 2))
      throw error(fmt::format("{}: {} data point{} too few for a degree-{} fit (need at least {})", data.source, n,
                              n == 1 ? " is" : "s are", options.degree, std::max<std::size_t>(need, 2)));
    rep = fit_chebyshev(data, options.degree);
  } else {
    if (n < 3)
      throw error(fmt::format("{}: {} data point{} too few for a spline fit (need at least 3)", data.source, n,
                              n == 1 ? " is" : "s are"));
    std::size_t knots = options.spline_knots == 0 ? std::min(n, auto_spline_knots) : options.spline_knots;
    if (knots < 2 || knots > n || knots > max_spline_knots)
      throw error(fmt::format("{}: spline knot count {} must be between 2 and min(points = {}, {})", data.source, knots,
                              n, max_spline_knots));
    rep = fit_spline(data, knots);
  }
  fit_statistics st;
  st.source = data.source;
  st.points = n;
  fitted_device d(std::string(name), rep, st);  // provisional, to evaluate
  double max_err = 0, sum_sq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = d.current(data.voltage[i]) - data.current[i];
    max_err = std::max(max_err, std::abs(e));
    sum_sq += e * e;
  }
  if (!std::isfinite(max_err))
    throw error(fmt::format("{}: the fit is not finite (ill-conditioned data?)", data.source));
  st.max_error = max_err;
  st.rms_error = std::sqrt(sum_sq / double(n));
  return fitted_device(std::string(name), std::move(rep), std::move(st));
}

void write_fitted_library(fitted_device& d, const std::filesystem::path& file) {
  write_library_file(d, file);
  d.set_library_file(std::filesystem::absolute(file));
}

// ------------------------------------------------------------------ loading

fitted_device load_fitted_device(const std::filesystem::path& file) {
  const std::string fname = file.string();
  const std::string text = read_file(file, "device library");
  std::map<std::string, std::vector<std::string>> scalars;  // key -> words
  std::map<std::string, std::vector<double>> lists;
  std::map<std::string, std::size_t> key_line;
  std::string subckt_name;
  bool ended = false;
  const auto lines = split_lines(text);
  for (std::size_t li = 0; li < lines.size(); ++li) {
    const source_location where{fname, li + 1};
    const std::string_view line = trim(lines[li]);
    if (line.starts_with(".subckt ") && subckt_name.empty()) {
      std::istringstream ss{std::string(line.substr(8))};
      ss >> subckt_name;
      continue;
    }
    if (!line.starts_with(fit_line_prefix)) continue;
    if (ended) throw parse_error(where, "spicenn-fit data after the 'end' line");
    std::istringstream ss{std::string(line.substr(fit_line_prefix.size()))};
    std::string key;
    ss >> key;
    std::vector<std::string> words;
    for (std::string w; ss >> w;) words.push_back(w);
    if (key == "end") {
      ended = true;
      continue;
    }
    const bool is_list = key == "coefficients" || key == "knots" || key == "values" || key == "second_derivatives";
    const bool is_scalar = key == "format" || key == "name" || key == "source" || key == "points" ||
                           key == "max_error" || key == "rms_error" || key == "method" || key == "window";
    if (!is_list && !is_scalar) throw parse_error(where, fmt::format("unknown spicenn-fit key '{}'", key));
    if (is_scalar && scalars.count(key)) throw parse_error(where, fmt::format("spicenn-fit key '{}' given twice", key));
    key_line.try_emplace(key, li + 1);
    if (is_list) {
      auto& out = lists[key];
      for (const auto& w : words) {
        auto v = try_parse_double(w);
        if (!v || !std::isfinite(*v))
          throw parse_error(where, fmt::format("spicenn-fit {}: '{}' is not a finite number", key, w));
        out.push_back(*v);
      }
    } else {
      scalars[key] = words;
    }
  }
  auto missing = [&](std::string_view key) {
    return parse_error(
        source_location{fname, 0},
        fmt::format("no '{} {}' line: not a device library written by spicenn fit-device", fit_line_prefix, key));
  };
  auto scalar_word = [&](const std::string& key, bool required) -> std::string {
    auto it = scalars.find(key);
    if (it == scalars.end()) {
      if (required) throw missing(key);
      return {};
    }
    if (key == "source") {  // free text
      std::string joined;
      for (const auto& w : it->second) joined += (joined.empty() ? "" : " ") + w;
      return joined;
    }
    if (it->second.size() != 1)
      throw parse_error(source_location{fname, key_line[key]},
                        fmt::format("spicenn-fit {}: expected one value, found {}", key, it->second.size()));
    return it->second[0];
  };
  auto scalar_number = [&](const std::string& key) -> double {
    const std::string w = scalar_word(key, false);
    if (w.empty()) return 0.0;
    auto v = try_parse_double(w);
    if (!v || !std::isfinite(*v) || *v < 0)
      throw parse_error(source_location{fname, key_line[key]},
                        fmt::format("spicenn-fit {}: '{}' is not a finite non-negative number", key, w));
    return *v;
  };
  const std::string format = scalar_word("format", true);
  if (format != std::to_string(fit_format_version))
    throw parse_error(
        source_location{fname, key_line["format"]},
        fmt::format("unsupported spicenn-fit format '{}' (this spicenn reads format {})", format, fit_format_version));
  const std::string name = scalar_word("name", true);
  if (!is_valid_device_name(name))
    throw parse_error(source_location{fname, key_line["name"]}, fmt::format("invalid device name '{}'", name));
  if (subckt_name != name)
    throw parse_error(
        source_location{fname, 0},
        fmt::format("the file defines subcircuit '{}' but its fit data name device '{}'", subckt_name, name));
  if (!ended) throw missing("end");
  fit_statistics st;
  st.source = scalar_word("source", false);
  st.points = static_cast<std::size_t>(scalar_number("points"));
  st.max_error = scalar_number("max_error");
  st.rms_error = scalar_number("rms_error");
  const std::string method = scalar_word("method", true);
  fitted_device::representation_type rep;
  if (method == "chebyshev") {
    const auto wit = scalars.find("window");
    if (wit == scalars.end()) throw missing("window");
    auto lo = wit->second.size() == 2 ? try_parse_double(wit->second[0]) : std::nullopt;
    auto hi = wit->second.size() == 2 ? try_parse_double(wit->second[1]) : std::nullopt;
    if (!lo || !hi)
      throw parse_error(source_location{fname, key_line["window"]}, "spicenn-fit window: expected two numbers 'lo hi'");
    if (!lists.count("coefficients")) throw missing("coefficients");
    rep = chebyshev_fit{{*lo, *hi}, lists["coefficients"]};
  } else if (method == "spline") {
    for (const char* key : {"knots", "values", "second_derivatives"})
      if (!lists.count(key)) throw missing(key);
    rep = spline_fit{lists["knots"], lists["values"], lists["second_derivatives"]};
  } else {
    throw parse_error(source_location{fname, key_line["method"]},
                      fmt::format("unknown spicenn-fit method '{}' (expected chebyshev or spline)", method));
  }
  try {
    return fitted_device(name, std::move(rep), std::move(st), std::filesystem::absolute(file));
  } catch (const parse_error&) {
    throw;
  } catch (const error& e) {
    throw parse_error(source_location{fname, 0}, e.what());
  }
}

}  // namespace spicenn::devices
