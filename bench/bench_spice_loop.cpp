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

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "compiler/mon_compiler.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/mon_evaluators.hpp"
#include "data/dataset.hpp"
#include "ir/model_file.hpp"
#include "spice/batch.hpp"
#include "spice/engine.hpp"

using namespace spicenn;

namespace {

double seconds_of(const auto& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

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
  bool deck_costs = false;
  double nudge = cosim::evaluator_options{}.mon_nudge;
  std::size_t pool = 1, resize = 0;
  app.add_option("model", file, "model file")->required();
  app.add_option("--batch", batch, "images per call")->capture_default_str();
  app.add_option("--rounds", rounds, "alternating rounds (medians)")->capture_default_str();
  app.add_option("--ac-images", ac_images, "MON: also the small-signal (ac) gradient on this many images");
  app.add_option("--nudge", nudge, "MON: largest |dv| of the nudged gradient (normalized)")->capture_default_str();
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
  std::vector<std::unique_ptr<cosim::evaluator>> evals;
  for (int engines : {1, 2}) {
    cosim::evaluator_options o;
    o.threads = engines;
    o.mon_nudge = nudge;
    evals.push_back(cosim::make_evaluator(model, cosim::engine_kind::spice, o));
  }
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
  fmt::print("2 engines / 1 engine (speed-up): forward {:.2f}x, gradient {:.2f}x, training step {:.2f}x\n",
             median(per_engines[0].forward) / median(per_engines[1].forward),
             median(per_engines[0].gradient) / median(per_engines[1].gradient),
             median(per_engines[0].step) / median(per_engines[1].step));

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
    fmt::print("deck of {} images, 1 engine: load (parse) {:.1f} ms, dc sweep {:.1f} ms ({:.0f} % of the pair); compile "
               "(set_model) {:.1f} ms\n",
               batch, 1e3 * median(load), 1e3 * median(sweep), 100.0 * median(load) / (median(load) + median(sweep)),
               1e3 * median(compile));
  }
}
