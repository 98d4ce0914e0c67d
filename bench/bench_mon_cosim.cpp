// Per-sample cost of the MON co-simulation engines on a 784 → 100 → 10
// single-stage network. The model: $SPICENN_BENCH_MODEL if set (e.g. the
// trained MNIST model of scripts/reproduce-mon-mnist.sh, with MNIST test
// images as inputs when its provenance says mnist or fashion-mnist), else
// ir::init_mon seed 7 (fully connected, pwl_diode) with MNIST-like inputs
// (19 % of pixels lit in [0.5, 1]):
//   software_forward     models::mon forward, batch 200
//   spice_cold_op        the reference point: load the compiled netlist of
//                        one sample and run `op` (what one sample costs
//                        without batching), per sample
//   spice_forward        ngspice batched DC sweep (load + sweep per chunk)
//   spice_gradient       forward sweep + per sample one `ac` (hardware
//                        linearization, includes ngspice's own operating point)
//   fd_per_parameter     what finite differences through ngspice cost per
//                        trainable value: 2 × (compile + load + sweep) of the
//                        batch, measured on a few values; `full_fd_s_per_sample`
//                        extrapolates to every trainable value
// items_per_second is samples/s; s_per_sample is its inverse. The first
// argument is the batch, the second the ngspice instances (threads).
//
//   bench_mon_cosim --benchmark_filter=spice_gradient --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <vector>

#include <cstdlib>

#include "bench_inputs.hpp"
#include "compiler/mon_compiler.hpp"
#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/mon_evaluators.hpp"
#include "data/dataset.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "spice/engine.hpp"

namespace {

using namespace spicenn;
using spicenn::bench::labels_for;
using spicenn::bench::mnist_like;

const ir::model& bench_model() {
  static const ir::model m = [] {
    const char* file = std::getenv("SPICENN_BENCH_MODEL");
    return file && *file ? ir::load_model(file) : ir::init_mon(784, 100, 10, 1, /*seed=*/7, "ideal");
  }();
  return m;
}

// The first `batch` test images of the model's data set, or MNIST-like inputs.
Eigen::MatrixXd bench_inputs(Eigen::Index batch) {
  const auto& data = bench_model().origin.data;
  if (data != "mnist" && data != "fashion-mnist") return mnist_like(batch, 1);
  static const auto test = data::load_dataset(data, data::split::test);
  return test.features.leftCols(batch).cast<double>();
}

void per_sample(benchmark::State& state, Eigen::Index batch) { state.SetItemsProcessed(state.iterations() * batch); }

void BM_software_forward(benchmark::State& state) {
  const Eigen::Index batch = state.range(0);
  cosim::evaluator_options o;
  o.threads = static_cast<int>(state.range(1));
  auto eval = cosim::make_evaluator(bench_model(), cosim::engine_kind::software, o);
  const auto x = bench_inputs(batch);
  for (auto _ : state) benchmark::DoNotOptimize(eval->forward(x));
  per_sample(state, batch);
}
BENCHMARK(BM_software_forward)->Args({200, 1})->Args({200, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

void report(benchmark::State& state, const cosim::mon_spice_stats& s, Eigen::Index batch) {
  state.counters["s_per_sample"] = s.seconds / static_cast<double>(batch);
  state.counters["ac_runs"] = static_cast<double>(s.ac_runs);
  state.counters["loads"] = static_cast<double>(s.loads);
}

// One sample without batching: its netlist loaded and solved cold (`op`),
// as `spicenn compile --input ...` + ngspice would. Samples differ, so each
// iteration takes the next one.
void BM_spice_cold_op(benchmark::State& state) {
  const Eigen::Index samples = state.range(0);
  const auto x = bench_inputs(samples);
  std::vector<std::string> decks;
  for (Eigen::Index b = 0; b < samples; ++b) {
    compiler::mon_compile_options co;
    co.inputs.assign(x.col(b).data(), x.col(b).data() + x.rows());
    co.operating_point_card = false;
    co.simulator_options = compiler::mon_precise_simulator_options();
    decks.push_back(compiler::compile_mon(bench_model(), co).text);
  }
  spice::engine eng;
  Eigen::Index b = 0;
  for (auto _ : state) {
    eng.load(decks[static_cast<std::size_t>(b++ % samples)]);
    eng.op();
  }
  per_sample(state, 1);
}
BENCHMARK(BM_spice_cold_op)->Args({3})->Iterations(3)->Unit(benchmark::kSecond)->UseRealTime();

void BM_spice_forward(benchmark::State& state) {
  const Eigen::Index batch = state.range(0);
  cosim::evaluator_options o;
  o.threads = static_cast<int>(state.range(1));
  auto eval = cosim::make_mon_spice_evaluator(bench_model(), o);
  const auto x = bench_inputs(batch);
  for (auto _ : state) benchmark::DoNotOptimize(eval->forward(x));
  report(state, eval->last_stats(), batch);
  per_sample(state, batch);
}
BENCHMARK(BM_spice_forward)->Args({16, 1})->Args({500, 1})->Args({1000, 2})->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_spice_gradient(benchmark::State& state) {
  const Eigen::Index batch = state.range(0);
  cosim::evaluator_options o;
  o.threads = static_cast<int>(state.range(1));
  auto eval = cosim::make_mon_spice_evaluator(bench_model(), o);
  const auto x = bench_inputs(batch);
  const auto labels = labels_for(batch, 2);
  for (auto _ : state) benchmark::DoNotOptimize(eval->gradient(x, labels));
  report(state, eval->last_stats(), batch);
  per_sample(state, batch);
}
BENCHMARK(BM_spice_gradient)->Args({16, 1})->Args({32, 2})->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

// Finite differences: the fd engine refuses this model (too many values), so
// its unit of work — a perturbed model compiled, loaded and swept, twice per
// value — is timed on `values` trainable values and scaled.
void BM_fd_per_parameter(benchmark::State& state) {
  const Eigen::Index batch = state.range(0);
  const int values = static_cast<int>(state.range(1));
  cosim::evaluator_options o;
  o.threads = 1;
  auto eval = cosim::make_mon_spice_evaluator(bench_model(), o);
  const auto x = bench_inputs(batch);
  std::size_t trainable = 0;
  for (const auto& name : cosim::trainable_tensors(bench_model())) trainable += bench_model().parameter(name).values.size();
  double seconds = 0.0;
  for (auto _ : state) {
    auto m = bench_model();
    auto& h = m.parameter("stage0.h_pos").values;
    for (int i = 0; i < values; ++i) {
      const double theta = h[static_cast<std::size_t>(i) * 997];
      for (double sign : {1.0, -1.0}) {
        // conductances stay >= 0 (the fd engine takes a forward difference there)
        h[static_cast<std::size_t>(i) * 997] = std::max(theta + sign * 1e-6 * std::max(std::abs(theta), 1.0), 0.0);
        const auto t0 = std::chrono::steady_clock::now();
        eval->set_model(m);                          // compile
        benchmark::DoNotOptimize(eval->forward(x));  // load + sweep
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      h[static_cast<std::size_t>(i) * 997] = theta;
    }
  }
  const double per_value = seconds / static_cast<double>(state.iterations() * values);  // both runs
  state.counters["s_per_value"] = per_value;
  state.counters["trainable_values"] = static_cast<double>(trainable);
  state.counters["full_fd_s_per_sample"] = per_value * static_cast<double>(trainable) / static_cast<double>(batch);
  per_sample(state, batch * values);
}
BENCHMARK(BM_fd_per_parameter)->Args({4, 2})->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
