#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>  // environ

#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "devices/fit.hpp"

namespace spicenn::cli {

namespace {

// PNG plots are the SVG plot rasterised by rsvg-convert (Debian librsvg2-bin,
// installed by scripts/install-deps.sh), run without a shell.
void write_png_plot(const devices::iv_data& data, const devices::device& fit, const std::filesystem::path& png) {
  auto svg = png;
  svg += ".tmp.svg";
  devices::write_fit_plot_svg(data, fit, svg);
  std::string out = png.string(), in = svg.string();
  std::vector<char*> argv = {const_cast<char*>("rsvg-convert"), const_cast<char*>("-o"), out.data(), in.data(), nullptr};
  pid_t pid = 0;
  int status = 0;
  const int spawned = posix_spawnp(&pid, "rsvg-convert", nullptr, nullptr, argv.data(), environ);
  if (spawned == 0) waitpid(pid, &status, 0);
  std::error_code ec;
  std::filesystem::remove(svg, ec);
  if (spawned != 0) throw error(fmt::format("--plot {}: PNG needs rsvg-convert (apt-get install librsvg2-bin); write .svg instead", out));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw error(fmt::format("--plot {}: rsvg-convert failed", out));
}

}  // namespace

void register_fit_device(CLI::App& app) {
  struct args {
    std::string csv, name, output, plot;
    int degree = -1;
    bool spline = false;
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
  cmd->add_option("--plot", a.plot, "Also write a plot of data and fit (.svg, or .png via rsvg-convert)");
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
    fmt::print("{}: {} points over {:g}..{:g} V, {}\n", a.csv, s.points, w.lo, w.hi,
               a.spline ? "cubic spline" : fmt::format("Chebyshev degree {}", a.degree));
    fmt::print("max error {:.4g} A, rms error {:.4g} A\n", s.max_error, s.rms_error);
    fmt::print("wrote {} (subcircuit {} (anode cathode))\n", a.output, a.name);
    if (!a.plot.empty()) {
      if (a.plot.ends_with(".png")) write_png_plot(data, fit, a.plot);
      else devices::write_fit_plot_svg(data, fit, a.plot);
      fmt::print("wrote {}\n", a.plot);
    }
  });
}

}  // namespace spicenn::cli
