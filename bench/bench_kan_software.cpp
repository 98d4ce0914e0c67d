// Throughput of the KAN software model on the KANalogue MNIST network
// [196, 64, 10], bases z15 + zaz21, batch normalization, float64, inputs
// 8-bit pixel values k/255 with k uniform in 0..255 (as bench/kan_torch_peer.py,
// the PyTorch peer; the model evaluates the device curves once per distinct
// value in a batch, as it does on image data):
//   train: one optimizer step of `spicenn train` — set_model, forward in
//          training mode (batch statistics), softmax cross-entropy,
//          backward, Adam step with the running-statistics update; batch 64;
//   infer: forward in evaluation mode, batch 1000.
// items_per_second is samples/s. scripts/bench-kan-software.sh runs this
// and the PyTorch peer in one session and prints the ratios.
//
//   bench_kan_software --benchmark_filter=train
#include <benchmark/benchmark.h>

#include <vector>

#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/optimizer.hpp"
#include "ir/init.hpp"

namespace {

using namespace spicenn;

const ir::model& bench_model() {
  static const ir::model m = ir::init_kan({196, 64, 10}, {"z15", "zaz21"}, 7, {.batch_norm = true});
  return m;
}

Eigen::MatrixXd uniform_inputs(Eigen::Index batch, std::uint64_t seed) {
  rng r(seed);
  Eigen::MatrixXd x(196, batch);
  for (Eigen::Index b = 0; b < batch; ++b)
    for (Eigen::Index k = 0; k < 196; ++k) x(k, b) = static_cast<double>(r.below(256)) / 255.0;
  return x;
}

std::vector<int> labels_for(Eigen::Index batch, std::uint64_t seed) {
  rng r(seed);
  std::vector<int> y(static_cast<std::size_t>(batch));
  for (auto& v : y) v = static_cast<int>(r.below(10));
  return y;
}

// Args: threads.
void BM_kan_train(benchmark::State& state) {
  ir::model model = bench_model();
  // As `spicenn train` (and the PyTorch peer, whose inputs need no gradient): no ∂L/∂x.
  auto eval = cosim::make_evaluator(model, cosim::engine_kind::software,
                                    {.threads = static_cast<int>(state.range(0)), .input_gradient = false});
  cosim::optimizer opt({.kind = cosim::optimizer_kind::adam});
  const Eigen::Index batch = 64;
  const auto x = uniform_inputs(batch, 1);
  const auto labels = labels_for(batch, 2);
  for (auto _ : state) {
    eval->set_model(model);
    auto g = eval->gradient(x, labels);
    opt.step(model, g.parameters, 1e-3);
    for (auto& [name, values] : g.buffers) model.parameter(name).values = std::move(values);
    benchmark::DoNotOptimize(g.loss);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_kan_infer(benchmark::State& state) {
  auto eval = cosim::make_evaluator(bench_model(), cosim::engine_kind::software, {.threads = static_cast<int>(state.range(0))});
  const Eigen::Index batch = 1000;
  const auto x = uniform_inputs(batch, 3);
  for (auto _ : state) {
    auto f = eval->forward(x);
    benchmark::DoNotOptimize(f.outputs.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"threads"});
  for (int threads : {1, 2}) b->Args({threads});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
}

}  // namespace

BENCHMARK(BM_kan_train)->Apply(args);
BENCHMARK(BM_kan_infer)->Apply(args);
