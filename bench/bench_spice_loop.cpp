// The cost of training against SPICE, for any family, through the one
// evaluator interface, measured in one run so that ratios are not moved by
// the machine's drift. In alternating rounds (medians of `rounds`), at 1 and
// 2 ngspice engines:
//   forward     per image, a batch of `batch` test images
//   gradient    per image, the same batch (the family's default SPICE gradient)
//   step        per image, gradient + an optimizer-sized change of every
//               trainable value + set_model (what one training batch costs)
// then the ratios gradient / forward and 2 engines / 1 engine. With
// --ac-images K (MON): the small-signal gradient on K images as well (an
// `ac` per image, slow). With --deck-costs (MON): the batch's deck parsed
// (load) against swept (dc) in one engine, and set_model's compile.
//
//   build/bench/bench_spice_loop build/results/mon-mnist/trained.xml --batch 64 --rounds 3 --ac-images 16 --deck-costs
//
// Inputs: the model's data set (provenance), its test split, with --pool /
// --resize as the model was trained with.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bench_timing.hpp"
#include "compiler/mon_compiler.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/mon_evaluators.hpp"
#include "data/dataset.hpp"
#include "ir/model_file.hpp"
#include "spice/batch.hpp"
#include "spice/engine.hpp"

using namespace spicenn;

namespace {

using bench::median;
using bench::seconds_of;

// Every trainable value moved by a relative 1e-4 (signs kept): a model
// that differs from the loaded one everywhere, as after an optimizer step.
ir::model stepped(ir::model m, int round) {
  const double f = 1.0 + 1e-4 * (round % 2 ? 1.0 : -1.0);
  for (const auto& name : cosim::trainable_tensors(m))
    for (auto& v : m.parameter(name).values) v *= f;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SPICE-in-the-loop costs of one model (forward, gradient, training step) at 1 and 2 engines"};
  std::string file;
  long batch = 64, ac_images = 0;
  int rounds = 3;
  bool deck_costs = false, alter_theta = false, isolation_cost = false;
  double nudge = cosim::evaluator_options{}.mon_nudge;
  std::string transient = "precise";
  std::size_t pool = 1, resize = 0;
  app.add_option("model", file, "model file")->required();
  app.add_option("--batch", batch, "images per call")->capture_default_str();
  app.add_option("--rounds", rounds, "alternating rounds (medians)")->capture_default_str();
  app.add_option("--ac-images", ac_images, "MON: also the small-signal (ac) gradient on this many images");
  app.add_option("--nudge", nudge, "MON: largest |dv| of the nudged gradient (normalized)")->capture_default_str();
  app.add_option("--transient", transient, "KirchhoffNet: precise or standard transients")->capture_default_str();
  app.add_flag("--alter-theta", alter_theta,
               "KirchhoffNet: after a step alter theta in place (theta on dc sources) instead of recompiling and re-parsing");
  app.add_flag("--isolation-cost", isolation_cost,
               "also forward and gradient at 1 engine in this process against 1 isolated engine (worker process)");
  app.add_flag("--deck-costs", deck_costs, "MON: time load (parse) against sweep of the batch deck, and compile");
  app.add_option("--pool", pool, "image pooling the model was trained with")->capture_default_str();
  app.add_option("--resize", resize, "image resizing the model was trained with")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto model = ir::load_model(file);
  const auto test = data::load_dataset(model.origin.data, data::split::test, {.pool = pool, .resize = resize});
  const Eigen::MatrixXd x = test.features.leftCols(batch).cast<double>();
  const std::vector<int> labels(test.labels.begin(), test.labels.begin() + batch);
  fmt::print("model {} ({}), {} test images of {} per call, {} rounds\n", file, ir::to_string(model.kind), batch,
             model.origin.data, rounds);

  struct timings {
    std::vector<double> forward, gradient, step;
  };
  std::vector<timings> per_engines(2);
  // The evaluator options of every timed evaluator: the command line's.
  auto spice_options = [&](int engines) {
    cosim::evaluator_options o;
    o.threads = engines;
    o.mon_nudge = nudge;
    o.transient = cosim::spice_transient_from_string(transient);
    o.kirchhoffnet_alter_theta = alter_theta;
    return o;
  };
  std::vector<std::unique_ptr<cosim::evaluator>> evals;
  for (int engines : {1, 2}) evals.push_back(cosim::make_evaluator(model, cosim::engine_kind::spice, spice_options(engines)));
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t e = 0; e < 2; ++e) {
      auto& eval = *evals[e];
      auto& t = per_engines[e];
      t.forward.push_back(seconds_of([&] { eval.forward(x); }) / static_cast<double>(batch));
      t.gradient.push_back(seconds_of([&] { eval.gradient(x, labels); }) / static_cast<double>(batch));
      const auto next = stepped(model, r);
      t.step.push_back(seconds_of([&] {
                         eval.gradient(x, labels);
                         eval.set_model(next);
                       }) /
                       static_cast<double>(batch));
      eval.set_model(model);
      std::string extra;
      if (const auto* mon = dynamic_cast<const cosim::mon_spice_evaluator*>(&eval))
        extra = fmt::format(" ({} gradient, {} of {} images redone by ac)", mon->nudged_gradient() ? "nudged" : "ac",
                            mon->last_stats().nudged_fallbacks, batch);
      fmt::print("round {} engines {}: forward {:.2f} ms, gradient {:.2f} ms, step {:.2f} ms per image{}\n", r + 1, e + 1,
                 1e3 * t.forward.back(), 1e3 * t.gradient.back(), 1e3 * t.step.back(), extra);
      std::fflush(stdout);
    }
  }
  fmt::print("\n| engines | forward per image | gradient per image | gradient / forward | training step per image | training samples/s |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  for (std::size_t e = 0; e < 2; ++e) {
    const auto& t = per_engines[e];
    fmt::print("| {} | {:.2f} ms | {:.2f} ms | {:.2f} | {:.2f} ms | {:.1f} |\n", e + 1, 1e3 * median(t.forward),
               1e3 * median(t.gradient), median(t.gradient) / median(t.forward), 1e3 * median(t.step),
               1.0 / median(t.step));
  }
  // Speed-ups per round (1 and 2 engines measured back to back), then their median.
  auto speedup = [&](const std::vector<double> timings::*what) {
    std::vector<double> ratios;
    for (int r = 0; r < rounds; ++r) ratios.push_back((per_engines[0].*what)[r] / (per_engines[1].*what)[r]);
    return median(ratios);
  };
  fmt::print("2 engines / 1 engine (speed-up, median of the rounds' ratios): forward {:.2f}x, gradient {:.2f}x, training "
             "step {:.2f}x\n",
             speedup(&timings::forward), speedup(&timings::gradient), speedup(&timings::step));

  if (isolation_cost) {
    // The same calls on an engine in this process and on one in a worker
    // process, alternating: what isolation costs (socket round trips, the
    // vectors copied once more).
    std::vector<std::unique_ptr<cosim::evaluator>> pair;
    for (bool isolated : {false, true}) {
      auto o = spice_options(1);
      o.spice_isolated = isolated;
      pair.push_back(cosim::make_evaluator(model, cosim::engine_kind::spice, o));
    }
    std::vector<double> forward[2], gradient[2];
    for (int r = 0; r < rounds; ++r)
      for (int i = 0; i < 2; ++i) {
        forward[i].push_back(seconds_of([&] { pair[i]->forward(x); }) / static_cast<double>(batch));
        gradient[i].push_back(seconds_of([&] { pair[i]->gradient(x, labels); }) / static_cast<double>(batch));
      }
    std::vector<double> forward_ratio, gradient_ratio;
    for (int r = 0; r < rounds; ++r) {
      forward_ratio.push_back(forward[1][r] / forward[0][r]);
      gradient_ratio.push_back(gradient[1][r] / gradient[0][r]);
    }
    fmt::print("isolation, 1 engine: forward {:.2f} ms in process, {:.2f} ms isolated ({:.3f}x); gradient {:.2f} ms, {:.2f} "
               "ms ({:.3f}x) per image (medians of the rounds' ratios)\n",
               1e3 * median(forward[0]), 1e3 * median(forward[1]), median(forward_ratio), 1e3 * median(gradient[0]),
               1e3 * median(gradient[1]), median(gradient_ratio));
  }
  if (model.kind == ir::family::mon && ac_images > 0) {
    cosim::evaluator_options o;
    o.threads = 1;
    o.mon_gradient = cosim::spice_gradient::small_signal;
    auto ac = cosim::make_evaluator(model, cosim::engine_kind::spice, o);
    const long k = std::min(ac_images, batch);
    const double t = seconds_of([&] { ac->gradient(x.leftCols(k), std::span<const int>(labels.data(), k)); });
    fmt::print("small-signal (ac) gradient, 1 engine, {} images: {:.1f} ms per image = {:.1f}x the nudged gradient\n", k,
               1e3 * t / k, (t / k) / median(per_engines[0].gradient));
  }
  if (model.kind == ir::family::mon && deck_costs) {
    // Two engines in two threads, each loading and sweeping its own half of
    // the batch, against one engine doing one half alone: how well ngspice
    // instances run side by side in one process, without the evaluator.
    const long half = batch / 2;
    const auto deck_a = cosim::mon_sweep_deck(model, x.leftCols(half)), deck_b = cosim::mon_sweep_deck(model, x.rightCols(half));
    spice::engine a, b;
    auto run = [&](spice::engine& eng, const std::string& deck) {
      eng.load(deck);
      eng.dc(spice::sample_index_source, 0, static_cast<double>(half - 1), 1);
    };
    std::vector<double> alone, together;
    for (int r = 0; r < rounds; ++r) {
      alone.push_back(seconds_of([&] { run(a, deck_a); }));
      together.push_back(seconds_of([&] {
        std::thread other([&] { run(b, deck_b); });
        run(a, deck_a);
        other.join();
      }));
    }
    // The same pairing for a loop that stays in registers: what the cores
    // give when nothing is shared.
    auto spin = [] {
      volatile double sink = 0.0;
      double acc = 1.0;
      for (long i = 0; i < 400'000'000; ++i) acc = acc * 1.0000001 + 1e-9;
      sink = acc;
      (void)sink;
    };
    std::vector<double> spin_alone, spin_together;
    for (int r = 0; r < rounds; ++r) {
      spin_alone.push_back(seconds_of(spin));
      spin_together.push_back(seconds_of([&] {
        std::thread other(spin);
        spin();
        other.join();
      }));
    }
    std::vector<double> pair_ratio, spin_ratio;
    for (int r = 0; r < rounds; ++r) {
      pair_ratio.push_back(2.0 * alone[r] / together[r]);
      spin_ratio.push_back(2.0 * spin_alone[r] / spin_together[r]);
    }
    fmt::print("two engines side by side, {} images each (load + sweep): one alone {:.2f} s, both together {:.2f} s: "
               "{:.2f}x the throughput of one (rounds: {:.2f}); a register-only loop side by side: {:.2f}x\n",
               half, median(alone), median(together), median(pair_ratio), fmt::join(pair_ratio, ", "), median(spin_ratio));
  }
  if (model.kind == ir::family::mon && deck_costs) {
    // One engine: the batch deck parsed, then swept; set_model's compile.
    const auto deck = cosim::mon_sweep_deck(model, x);
    spice::engine eng;
    std::vector<double> load, sweep, compile;
    for (int r = 0; r < rounds; ++r) {
      load.push_back(seconds_of([&] { eng.load(deck); }));
      sweep.push_back(seconds_of([&] { eng.dc(spice::sample_index_source, 0, static_cast<double>(batch - 1), 1); }));
      compiler::mon_compile_options co;
      co.operating_point_card = false;
      co.adjoint_sources = true;
      compile.push_back(seconds_of([&] { compiler::compile_mon(stepped(model, r), co); }));
    }
    // Writing the batch deck's text (the pwl tables), which each engine does for its share.
    compiler::mon_compile_options co;
    co.operating_point_card = false;
    co.adjoint_sources = true;
    const auto net = compiler::compile_mon(model, co);
    const Eigen::MatrixXd samples = x.transpose() * model.scale.volt;
    const double t_text = seconds_of([&] { spice::sweep_netlist(net.text, net.input_sources, samples); });
    fmt::print("deck of {} images, 1 engine: load (parse) {:.1f} ms, dc sweep {:.1f} ms ({:.0f} % of the pair); writing "
               "its text {:.1f} ms; compile (set_model) {:.1f} ms\n",
               batch, 1e3 * median(load), 1e3 * median(sweep), 100.0 * median(load) / (median(load) + median(sweep)),
               1e3 * t_text, 1e3 * median(compile));
    // The alternative to re-parsing after an optimizer step: `alter` every
    // resistor of the loaded deck (every conductance changes in a step).
    std::vector<std::string> resistors;
    for (std::size_t at = 0; at < deck.size();) {
      const std::size_t end = std::min(deck.find('\n', at), deck.size());
      if (deck[at] == 'r' || deck[at] == 'R') resistors.push_back(deck.substr(at, deck.find(' ', at) - at));
      at = end + 1;
    }
    const std::size_t timed = std::min<std::size_t>(resistors.size(), 5000);
    const double t_alter = seconds_of([&] {
      for (std::size_t i = 0; i < timed; ++i) eng.alter(resistors[i], "resistance", 1e4 * (1.0 + 1e-4 * static_cast<double>(i % 7)));
    });
    const double per_alter = timed ? t_alter / static_cast<double>(timed) : 0.0;
    fmt::print("alter in place instead: {} resistors in the deck x {:.1f} us per alter (timed on {}) = {:.0f} ms per "
               "optimizer step, against {:.0f} ms to compile and parse the deck anew\n",
               resistors.size(), 1e6 * per_alter, timed, 1e3 * per_alter * static_cast<double>(resistors.size()),
               1e3 * (median(load) + median(compile)));
  }
}
