// fit-device: CSV reading and its errors, Chebyshev and spline fits, the
// written library (ngspice sweep and load_fitted_device).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.hpp"
#include "core/numbers.hpp"
#include "devices/builtin.hpp"
#include "devices/fit.hpp"
#include "devices/library_writer.hpp"
#include "ngspice_runner.hpp"

namespace dev = spicenn::devices;

namespace {

dev::iv_data sample(const std::function<double(double)>& f, double lo, double hi, int n) {
  dev::iv_data d;
  d.source = "synthetic";
  for (int i = 0; i < n; ++i) {
    const double v = lo + (hi - lo) * i / (n - 1);
    d.voltage.push_back(v);
    d.current.push_back(f(v));
    d.line.push_back(static_cast<std::size_t>(i + 1));
  }
  return d;
}

double poly5(double v) { return 1e-3 * (0.5 - 2 * v + 3 * v * v - v * v * v + 0.25 * std::pow(v, 5)); }

double esaki_curve(double v) { return dev::builtin_devices().get("esaki").current(v); }

double max_abs(const std::vector<double>& y) {
  double m = 0;
  for (double x : y) m = std::max(m, std::abs(x));
  return m;
}

// Message of the spicenn::error thrown by f ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const spicenn::error& e) {
    return e.what();
  }
  return "";
}

std::string parse_error_of(std::string_view csv) {
  try {
    (void)dev::parse_iv_csv(csv, "iv.csv");
  } catch (const spicenn::parse_error& e) {
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << text << "' lacks '" << part << "'";
}

}  // namespace

// ---------------------------------------------------------------- CSV

TEST(IvCsv, ReadsHeaderCommentsBlankLinesAndCrlf) {
  const auto d = dev::parse_iv_csv(
      "# measured\r\nvoltage,current\r\n\r\n0, 1e-6  # first\r\n0.5,2e-6\r\n+1.0 , -3E-6\r\n", "iv.csv");
  ASSERT_EQ(d.voltage.size(), 3u);
  EXPECT_EQ(d.voltage[2], 1.0);
  EXPECT_EQ(d.current[2], -3e-6);
  EXPECT_EQ(d.line[0], 4u);
  EXPECT_EQ(d.source, "iv.csv");
}

TEST(IvCsv, ReversesDecreasingVoltages) {
  const auto d = dev::parse_iv_csv("1,3\n0.5,2\n0,1\n", "iv.csv");
  EXPECT_EQ(d.voltage, (std::vector<double>{0, 0.5, 1}));
  EXPECT_EQ(d.current, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(d.line, (std::vector<std::size_t>{3, 2, 1}));
}

TEST(IvCsv, TextInANumberNamesFileLineAndField) {
  const auto m = parse_error_of("v,i\n0,1\n0.1,abc\n");
  expect_contains(m, "iv.csv:3");
  expect_contains(m, "current (column 2) 'abc' is not a number");
  expect_contains(parse_error_of("0,1\n0.1x,2\n"), "iv.csv:2: voltage (column 1) '0.1x' is not a number");
  // a half-numeric first line is not a header
  expect_contains(parse_error_of("voltage,1\n0,1\n"), "iv.csv:1: voltage (column 1) 'voltage' is not a number");
}

TEST(IvCsv, ColumnCountErrors) {
  expect_contains(parse_error_of("0,1\n0.1\n"), "iv.csv:2: expected 2 columns (voltage,current), found 1");
  expect_contains(parse_error_of("0,1\n0.1,2,3\n"), "iv.csv:2: expected 2 columns (voltage,current), found 3");
  expect_contains(parse_error_of("0,1\n0.1,\n"), "iv.csv:2: current (column 2) '' is not a number");
}

TEST(IvCsv, NonFiniteValues) {
  expect_contains(parse_error_of("0,1\n0.1,nan\n"), "iv.csv:2: current (column 2) 'nan' is not finite");
  expect_contains(parse_error_of("0,1\ninf,2\n"), "iv.csv:2: voltage (column 1) 'inf' is not finite");
  expect_contains(parse_error_of("0,1\n1,-inf\n"), "iv.csv:2: current (column 2) '-inf' is not finite");
}

TEST(IvCsv, DuplicateAndNonMonotoneVoltages) {
  expect_contains(parse_error_of("v,i\n0,1\n0.5,2\n0.5,3\n"), "iv.csv:4: duplicate voltage 0.5 (also on line 3)");
  const auto m = parse_error_of("0,1\n0.5,2\n0.3,3\n");
  expect_contains(m, "iv.csv:3: voltage 0.3 breaks the increasing order");
  expect_contains(m, "previous: 0.5 on line 2");
  expect_contains(parse_error_of("1,1\n0.5,2\n0.7,3\n"), "iv.csv:3: voltage 0.7 breaks the decreasing order");
}

TEST(IvCsv, EmptyFileAndMissingFile) {
  expect_contains(parse_error_of("# nothing\nvoltage,current\n"), "iv.csv: no data points");
  expect_contains(error_of([] { (void)dev::read_iv_csv("/nonexistent/iv.csv"); }),
                  "cannot open I-V data file '/nonexistent/iv.csv'");
}

TEST(IvCsv, ReadsAFile) {
  const auto dir = dev::testing::scratch_dir("csv");
  std::ofstream(dir / "iv.csv") << "0,0\n1,1\n";
  const auto d = dev::read_iv_csv(dir / "iv.csv");
  EXPECT_EQ(d.source, (dir / "iv.csv").string());
  EXPECT_EQ(d.voltage.size(), 2u);
  std::ofstream(dir / "bad.csv") << "0,0\n1,x\n";
  expect_contains(error_of([&] { (void)dev::read_iv_csv(dir / "bad.csv"); }), (dir / "bad.csv").string() + ":2:");
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------- fitting

TEST(FitDevice, TooFewPointsForTheDegree) {
  const auto d = dev::parse_iv_csv("0,1\n0.1,2\n0.2,3\n0.3,4\n0.4,5\n", "iv.csv");
  const auto m = error_of([&] { (void)dev::fit_device(d, "dev", {.degree = 12}); });
  expect_contains(m, "iv.csv: 5 data points are too few for a degree-12 fit (need at least 13)");
  EXPECT_NO_THROW((void)dev::fit_device(d, "dev", {.degree = 4}));
  expect_contains(error_of([&] { (void)dev::fit_device(d, "dev", {.degree = 31}); }),
                  "degree 31 is out of range 0..30");
  const auto two = dev::parse_iv_csv("0,1\n0.1,2\n", "two.csv");
  expect_contains(error_of([&] { (void)dev::fit_device(two, "dev", {.method = dev::fit_method::spline}); }),
                  "two.csv: 2 data points are too few for a spline fit (need at least 3)");
  expect_contains(
      error_of([&] { (void)dev::fit_device(d, "dev", {.method = dev::fit_method::spline, .spline_knots = 6}); }),
      "spline knot count 6 must be between 2 and min(points = 5, 200)");
}

TEST(FitDevice, RejectsBadNames) {
  const auto d = sample(poly5, 0, 1, 20);
  for (const char* bad : {"", "Dev", "2dev", "my-dev", "a b", "x\ny"})
    expect_contains(error_of([&] { (void)dev::fit_device(d, bad, {.degree = 3}); }), "must match [a-z][a-z0-9_]*");
}

// Polynomial data are recovered exactly by any degree >= theirs, on and
// between the data points (relative to max |I|).
TEST(FitDevice, RecoversPolynomialsExactly) {
  const auto d = sample(poly5, -0.3, 1.2, 40);
  const double scale = max_abs(d.current);
  for (int degree : {5, 6, 9, 15}) {
    const auto f = dev::fit_device(d, "p5", {.degree = degree});
    EXPECT_LE(f.statistics().max_error, 1e-12 * scale) << degree;
    for (double v = -0.3; v <= 1.2; v += 0.00731)
      EXPECT_NEAR(f.current(v), poly5(v), 1e-10 * scale) << degree << " " << v;
    const auto& c = std::get<dev::chebyshev_fit>(f.representation()).coefficients;
    for (std::size_t k = 6; k < c.size(); ++k) EXPECT_LE(std::abs(c[k]), 1e-12 * scale) << degree << " T_" << k;
  }
  // degree 4 cannot represent it
  EXPECT_GT(dev::fit_device(d, "p4", {.degree = 4}).statistics().max_error, 1e-6 * scale);
}

// Esaki curve (the builtin, 0-0.5 V, 201 points), degree 12: stated bound
// 3e-4 of the peak current max error, 1e-4 rms (measured 1.3e-4 and 2.9e-5).
TEST(FitDevice, EsakiCurveDegree12) {
  const auto d = sample(esaki_curve, 0.0, 0.5, 201);
  const double scale = max_abs(d.current);
  const auto f = dev::fit_device(d, "esaki_fit", {.degree = 12});
  RecordProperty("esaki_deg12_max_rel", fmt::format("{:.3g}", f.statistics().max_error / scale));
  RecordProperty("esaki_deg12_rms_rel", fmt::format("{:.3g}", f.statistics().rms_error / scale));
  EXPECT_LE(f.statistics().max_error, 3e-4 * scale);
  EXPECT_LE(f.statistics().rms_error, 1e-4 * scale);
  EXPECT_LT(f.statistics().rms_error, f.statistics().max_error);
  // higher degrees do better
  EXPECT_LT(dev::fit_device(d, "e20", {.degree = 20}).statistics().max_error, 0.2 * f.statistics().max_error);
  EXPECT_EQ(f.window()->lo, 0.0);
  EXPECT_EQ(f.window()->hi, 0.5);
}

TEST(FitDevice, SplineFits) {
  // auto knots (32) on 201 points of the Esaki curve: regression spline,
  // stated bound 1 % of the peak current
  const auto d = sample(esaki_curve, 0.0, 0.5, 201);
  const double scale = max_abs(d.current);
  const auto s = dev::fit_device(d, "esaki_spline", {.method = dev::fit_method::spline});
  EXPECT_EQ(std::get<dev::spline_fit>(s.representation()).knots.size(), 32u);
  RecordProperty("esaki_spline32_max_rel", fmt::format("{:.3g}", s.statistics().max_error / scale));
  EXPECT_LE(s.statistics().max_error, 0.01 * scale);
  // <= 32 points: knots at every point, an interpolating spline
  const auto few = sample(esaki_curve, 0.0, 0.5, 25);
  const auto si = dev::fit_device(few, "esaki_interp", {.method = dev::fit_method::spline});
  EXPECT_LE(si.statistics().max_error, 1e-12 * scale);
  EXPECT_LE(std::abs(si.current(0.0) - few.current[0]), 1e-15);
  // straight lines are reproduced exactly by a natural spline, between points too
  const auto line = sample([](double v) { return 2e-3 * v - 1e-4; }, -1, 1, 50);
  const auto sl = dev::fit_device(line, "line", {.method = dev::fit_method::spline, .spline_knots = 7});
  for (double v = -1; v <= 1; v += 0.0137) EXPECT_NEAR(sl.current(v), 2e-3 * v - 1e-4, 1e-15) << v;
  // natural end conditions
  const auto& sp = std::get<dev::spline_fit>(s.representation());
  EXPECT_EQ(sp.second_derivatives.front(), 0.0);
  EXPECT_EQ(sp.second_derivatives.back(), 0.0);
}

TEST(FitDevice, ConductanceMatchesFiniteDifferencesAndClamps) {
  const auto d = sample(esaki_curve, 0.0, 0.5, 201);
  for (const auto& opts :
       {dev::fit_options{.degree = 12}, dev::fit_options{.method = dev::fit_method::spline, .spline_knots = 20}}) {
    const auto f = dev::fit_device(d, "fd", opts);
    const double h = 1e-6;
    for (double v = 0.0031; v < 0.5; v += 0.0097) {
      const double fd = (f.current(v + h) - f.current(v - h)) / (2 * h);
      EXPECT_NEAR(f.conductance(v), fd, 1e-6 * (std::abs(fd) + 5e-3)) << v;
    }
    EXPECT_EQ(f.current(-1.0), f.current(0.0));
    EXPECT_EQ(f.current(7.0), f.current(0.5));
    EXPECT_EQ(f.conductance(-1.0), 0.0);
    EXPECT_EQ(f.conductance(0.6), 0.0);
  }
}

// ---------------------------------------------------------------- the written library

namespace {

void expect_roundtrip(const dev::fitted_device& f, const std::filesystem::path& file) {
  const auto g = dev::load_fitted_device(file);
  EXPECT_EQ(g.name(), f.name());
  EXPECT_EQ(g.library_file(), std::filesystem::absolute(file));
  EXPECT_EQ(g.statistics().points, f.statistics().points);
  EXPECT_EQ(g.statistics().max_error, f.statistics().max_error);
  EXPECT_EQ(g.statistics().rms_error, f.statistics().rms_error);
  EXPECT_EQ(g.statistics().source, f.statistics().source);
  const auto w = *f.window();
  for (double v = w.lo - 0.1; v <= w.hi + 0.1; v += (w.hi - w.lo) / 333) {
    EXPECT_EQ(g.current(v), f.current(v)) << v;  // bit-exact
    EXPECT_EQ(g.conductance(v), f.conductance(v)) << v;
  }
  EXPECT_EQ(dev::library_text(g), dev::library_text(f));
}

// Tolerance 1e-9 * max|I| (the SPICE expression is the power form of the
// same polynomial / spline pieces, with ngspice's decimal parsing).
void expect_ngspice_matches(const dev::fitted_device& f) {
  const auto w = *f.window();
  const double step = (w.hi - w.lo) / 400;
  const auto sweeps = dev::testing::sweep_device(f.library_file(), std::string(f.name()),
                                                 {{w.lo - 0.1 * (w.hi - w.lo), w.hi + 0.1 * (w.hi - w.lo), step}});
  double scale = 0;
  for (const auto& p : sweeps[0]) scale = std::max(scale, std::abs(f.current(p.volts)));
  ASSERT_GT(sweeps[0].size(), 450u);
  for (const auto& p : sweeps[0])
    EXPECT_LE(std::abs(p.amps - f.current(p.volts)), 1e-9 * scale)
        << f.name() << " at " << p.volts << ": ngspice " << p.amps << ", C++ " << f.current(p.volts);
}

}  // namespace

TEST(FittedLibrary, ChebyshevWrittenSweptAndReloaded) {
  const auto dir = dev::testing::scratch_dir("fitcheb");
  const auto data = sample(esaki_curve, 0.0, 0.5, 201);
  auto f = dev::fit_device(data, "esaki_fit", {.degree = 12});
  EXPECT_TRUE(f.library_file().empty());
  dev::write_fitted_library(f, dir / "esaki_fit.lib");
  EXPECT_EQ(f.library_file(), dir / "esaki_fit.lib");
  expect_roundtrip(f, dir / "esaki_fit.lib");
  expect_ngspice_matches(f);
  // a degree-20 fit on a narrow window (large power-form coefficients)
  auto g = dev::fit_device(sample(esaki_curve, 0.05, 0.15, 101), "narrow", {.degree = 20});
  dev::write_fitted_library(g, dir / "narrow.lib");
  expect_roundtrip(g, dir / "narrow.lib");
  expect_ngspice_matches(g);
  std::filesystem::remove_all(dir);
}

TEST(FittedLibrary, SplineWrittenSweptAndReloaded) {
  const auto dir = dev::testing::scratch_dir("fitspline");
  const auto z15 = [](double v) { return dev::builtin_devices().get("z15").current(v); };
  auto f = dev::fit_device(sample(z15, 0.0, 1.4, 281), "z15_spline", {.method = dev::fit_method::spline});
  dev::write_fitted_library(f, dir / "z15_spline.lib");
  expect_roundtrip(f, dir / "z15_spline.lib");
  expect_ngspice_matches(f);
  // an interpolating spline with 3 knots (smallest tree) too
  auto g = dev::fit_device(sample(z15, 0.5, 1.0, 3), "tiny", {.method = dev::fit_method::spline});
  dev::write_fitted_library(g, dir / "tiny.lib");
  expect_roundtrip(g, dir / "tiny.lib");
  expect_ngspice_matches(g);
  std::filesystem::remove_all(dir);
}

TEST(FittedLibrary, FileHoldsFitDataAndSubcircuit) {
  const auto data = dev::parse_iv_csv("0,0\n0.25,1e-6\n0.5,4e-6\n0.75,9e-6\n1,1.6e-5\n", "sq.csv");
  const auto f = dev::fit_device(data, "sq", {.degree = 2});
  const std::string text = dev::library_text(f);
  expect_contains(text, "* spicenn-fit: format 1\n");
  expect_contains(text, "* spicenn-fit: method chebyshev\n");
  expect_contains(text, "* spicenn-fit: window 0 1\n");
  expect_contains(text, "* spicenn-fit: source sq.csv\n");
  expect_contains(text, "* spicenn-fit: points 5\n");
  expect_contains(text, ".subckt sq anode cathode\nB1 anode cathode I = V(anode,cathode) < 0 ? ");
  expect_contains(text, " : (V(anode,cathode) > 1 ?");
  expect_contains(text, ".ends sq\n");
}

TEST(FittedLibrary, LoadErrorsNameFileAndLine) {
  const auto dir = dev::testing::scratch_dir("loaderr");
  auto f = dev::fit_device(sample(poly5, 0, 1, 20), "good", {.degree = 3});
  dev::write_fitted_library(f, dir / "good.lib");
  std::string text;
  {
    std::ifstream in(dir / "good.lib");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    const auto pos = t.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    t.replace(pos, from.size(), to);
    std::ofstream(dir / "bad.lib") << t;
    try {
      (void)dev::load_fitted_device(dir / "bad.lib");
    } catch (const spicenn::parse_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string bad = (dir / "bad.lib").string();
  const auto lines_before = [&](const std::string& marker) {
    return std::count(text.begin(), text.begin() + static_cast<long>(text.find(marker)), '\n') + 1;
  };
  const auto coef_line = lines_before("* spicenn-fit: coefficients");
  expect_contains(with("* spicenn-fit: coefficients ", "* spicenn-fit: coefficients zz "),
                  fmt::format("{}:{}: spicenn-fit coefficients: 'zz' is not a finite number", bad, coef_line));
  expect_contains(with("* spicenn-fit: format 1", "* spicenn-fit: format 9"), "unsupported spicenn-fit format '9'");
  expect_contains(with("* spicenn-fit: method chebyshev", "* spicenn-fit: method bspline"),
                  "unknown spicenn-fit method 'bspline'");
  expect_contains(with("* spicenn-fit: window", "* spicenn-fit: windoe"), "unknown spicenn-fit key 'windoe'");
  expect_contains(with("* spicenn-fit: end\n", ""), "no '* spicenn-fit: end' line");
  expect_contains(with(".subckt good ", ".subckt other "),
                  "defines subcircuit 'other' but its fit data name device 'good'");
  expect_contains(with("* spicenn-fit: name good", "* spicenn-fit: name Good"), "invalid device name 'Good'");
  // a builtin library has no fit data
  expect_contains(error_of([] { (void)dev::load_fitted_device(dev::builtin_devices().get("z15").library_file()); }),
                  "no '* spicenn-fit: format' line: not a device library written by spicenn fit-device");
  std::filesystem::remove_all(dir);
}

