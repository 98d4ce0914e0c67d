// spicenn: compile analog neural networks to SPICE, simulate them in
// embedded ngspice, and train against the simulation.
#include <clocale>
#include <cstdio>
#include <iostream>
#include <streambuf>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/memory.hpp"
#include "cosim/distributed.hpp"

namespace {

// "" or, in a job of several MPI ranks, "rank R: " (errors may come from one rank only).
std::string rank_prefix() {
  const auto* g = spicenn::cosim::process_group::world();
  return g && g->size() > 1 ? fmt::format("rank {}: ", g->rank()) : std::string();
}

struct null_buffer : std::streambuf {
  int overflow(int c) override { return c; }
};

}  // namespace

int main(int argc, char** argv) {
  std::setlocale(LC_NUMERIC, "C");  // ngspice and our parsers read '.' decimals
  spicenn::keep_freed_memory_for_reuse();  // training reuses its large per-batch buffers (core/memory.hpp)
  // Under mpirun: joins the MPI job (train and eval then run data-parallel,
  // docs/distributed.md); started without a launcher it does nothing.
  spicenn::cosim::mpi_session mpi(argc, argv);
  const auto* group = spicenn::cosim::process_group::world();
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
  spicenn::cli::register_activation(app);
  spicenn::cli::register_plot(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (group && !group->root()) {  // help and usage errors once, from rank 0
      null_buffer null;
      std::ostream quiet(&null);
      return app.exit(e, quiet, quiet);
    }
    return app.exit(e);
  } catch (const spicenn::error& e) {
    fmt::print(stderr, "spicenn: {}error: {}\n", rank_prefix(), e.what());
    spicenn::cosim::mpi_session::abort_job_if_parallel(1);
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "spicenn: {}unexpected error: {}\n", rank_prefix(), e.what());
    spicenn::cosim::mpi_session::abort_job_if_parallel(2);
    return 2;
  }
  return 0;
}
