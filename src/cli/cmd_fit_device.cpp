#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "core/error.hpp"
#include "devices/fit.hpp"
#include "plot/plot.hpp"

namespace spicenn::cli {

namespace {

// Data points and the fitted curve over the window plus 5 % each side
// (where the fit holds its end values).
void write_fit_plot(const devices::iv_data& data, const devices::fitted_device& fit, const std::filesystem::path& file) {
  const auto w = *fit.window();
  const double margin = 0.05 * (w.hi - w.lo);
  plot::figure f;
  std::string what(fit.description());  // names the data file: by its name only, to fit the title
  const std::string& source = fit.statistics().source;
  if (const auto at = what.find(source); !source.empty() && at != std::string::npos)
    what.replace(at, source.size(), std::filesystem::path(source).filename().string());
  f.title = fmt::format("{}: {}\nmax error {:.3g} A, rms {:.3g} A", fit.name(), what, fit.statistics().max_error,
                        fit.statistics().rms_error);
  f.x_label = "voltage (V)";
  f.y_label = "current (A)";
  plot::curve points{fmt::format("data ({} points)", data.voltage.size()), data.voltage, data.current, plot::style::points};
  plot::curve curve{"fit (held at its end values outside the data window)", {}, {}, plot::style::lines};
  constexpr int samples = 600;
  for (int i = 0; i <= samples; ++i) {
    const double v = w.lo - margin + (w.hi - w.lo + 2 * margin) * i / samples;
    curve.x.push_back(v);
    curve.y.push_back(fit.current(v));
  }
  f.curves = {std::move(points), std::move(curve)};
  plot::write(f, file);
}

}  // namespace

void register_fit_device(CLI::App& app) {
  struct args {
    std::string csv, name, output, plot;
    int degree = -1;
    bool spline = false, json = false;
    std::size_t knots = 0;
  };
  static args a;
  auto* cmd = app.add_subcommand("fit-device",
                                 "Fit measured I-V points (CSV voltage [V], current [A]) and write a two-pin subcircuit "
                                 "NAME (anode cathode) that holds the fit inside the data window and its end values outside");
  cmd->add_option("csv", a.csv, "I-V data: one 'voltage,current' pair per line, header optional, '#' comments")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--name", a.name, "Subcircuit name, [a-z][a-z0-9_]*")->required();
  auto* degree = cmd->add_option("--degree", a.degree, "Chebyshev polynomial degree (0..30), least squares over the window");
  auto* spline = cmd->add_flag("--spline", a.spline, "Natural cubic regression spline instead of a polynomial");
  cmd->add_option("--knots", a.knots, "Spline knots (default: every point up to 32, else 32)")->needs(spline);
  degree->excludes(spline);
  cmd->add_option("-o,--output", a.output, "Library file to write (.lib)")->required();
  cmd->add_option("--plot", a.plot, "Also write a plot of data and fit (.svg or .png, drawn by gnuplot)");
  cmd->add_flag("--json", a.json,
                "Print the fit as JSON instead of text: name, library, data, points, window_volts, method, max_error_A, "
                "rms_error_A, plot");
  cmd->callback([] {
    if (a.degree < 0 && !a.spline) throw error("fit-device: give --degree N or --spline");
    if (!a.plot.empty() && !a.plot.ends_with(".svg") && !a.plot.ends_with(".png"))
      throw error(fmt::format("fit-device: --plot writes SVG or PNG; '{}' should end in .svg or .png", a.plot));
    auto data = devices::read_iv_csv(a.csv);
    devices::fit_options options;
    if (a.spline) {
      options.method = devices::fit_method::spline;
      options.spline_knots = a.knots;
    } else {
      options.degree = a.degree;
    }
    auto fit = devices::fit_device(data, a.name, options);
    devices::write_fitted_library(fit, a.output);
    const auto& s = fit.statistics();
    auto w = *fit.window();
    if (!a.plot.empty()) write_fit_plot(data, fit, a.plot);
    const std::string method = a.spline ? "cubic spline" : fmt::format("Chebyshev degree {}", a.degree);
    if (a.json) {
      const json j = {{"name", a.name},          {"library", a.output},         {"data", a.csv},
                      {"points", s.points},      {"window_volts", {w.lo, w.hi}}, {"method", method},
                      {"max_error_A", s.max_error}, {"rms_error_A", s.rms_error}, {"plot", a.plot.empty() ? json(nullptr) : json(a.plot)}};
      fmt::print("{}\n", to_text(j));
      return;
    }
    fmt::print("{}: {} points over {:g}..{:g} V, {}\n", a.csv, s.points, w.lo, w.hi, method);
    fmt::print("max error {:.4g} A, rms error {:.4g} A\n", s.max_error, s.rms_error);
    fmt::print("wrote {} (subcircuit {} (anode cathode))\n", a.output, a.name);
    if (!a.plot.empty()) fmt::print("wrote {}\n", a.plot);
  });
}

}  // namespace spicenn::cli
