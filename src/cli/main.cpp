// spicenn: compile analog neural networks to SPICE, simulate them in
// embedded ngspice, and train against the simulation.
#include <clocale>
#include <cstdio>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  std::setlocale(LC_NUMERIC, "C");  // ngspice and our parsers read '.' decimals
  CLI::App app{"spicenn: compile analog neural networks (KAN, MON, KirchhoffNet) to SPICE netlists, "
               "simulate them in embedded ngspice, and train against the simulation"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "spicenn 0.1.0");
  spicenn::cli::register_simulate(app);
  spicenn::cli::register_init(app);
  spicenn::cli::register_info(app);
  spicenn::cli::register_devices(app);
  spicenn::cli::register_fit_device(app);
  spicenn::cli::register_compile(app);
  spicenn::cli::register_set_diode(app);
  spicenn::cli::register_prune(app);
  spicenn::cli::register_perturb(app);
  spicenn::cli::register_run(app);
  spicenn::cli::register_grad(app);
  spicenn::cli::register_verify(app);
  spicenn::cli::register_train(app);
  spicenn::cli::register_eval(app);
  spicenn::cli::register_trajectory(app);
  spicenn::cli::register_predict(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const spicenn::error& e) {
    fmt::print(stderr, "spicenn: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "spicenn: unexpected error: {}\n", e.what());
    return 2;
  }
  return 0;
}
