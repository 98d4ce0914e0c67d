// Throughput of the KirchhoffNet software model on the reference's MNIST
// topology (ir::image_topology, neighbor 4, 50 hub nodes, 2 slices of
// duration 1, shift_relu1, kaiming initial θ, capacitance 1), Dormand-Prince
// 5(4) at rtol = atol = 1e-3 (the reference's settings), float64, on the
// first 64 MNIST test images (2×2 average pooling for 14×14):
//   forward14: 14×14 images, 246 nodes, 49,132 edges per slice, batch 64;
//   train14:   one optimizer step of `spicenn train` on it — set_model,
//              forward, softmax cross-entropy, discrete-adjoint backward
//              (no ∂L/∂x), Adam step; batch 64;
//   forward28: the published model's size: 28×28 images, 834 nodes,
//              230,068 edges per slice, batch 64.
// Argument: threads. items_per_second is samples/s; rhs_per_slice the
// right-hand-side evaluations per slice and group (torchdiffeq's NFE).
// scripts/bench-kirchhoffnet-software.sh runs it and prints the ratios to
// the torchdiffeq reference figures.
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "cosim/evaluator.hpp"
#include "cosim/optimizer.hpp"
#include "data/dataset.hpp"
#include "ir/init.hpp"
#include "models/kirchhoffnet.hpp"

namespace {

using namespace spicenn;

ir::model image_model(std::int64_t side) {
  auto edges = ir::image_topology(side, side, 4, 50);
  return ir::init_kirchhoffnet(side * side, side * side + 50, 10, 2, "shift_relu1", 1, edges,
                               {.kaiming = true, .duration = 1.0});
}

struct batch_data {
  Eigen::MatrixXd x;
  std::vector<int> labels;
};

const batch_data& images(std::size_t pool) {
  static std::map<std::size_t, batch_data> cache;
  auto it = cache.find(pool);
  if (it != cache.end()) return it->second;
  auto test = data::load_dataset("mnist", data::split::test, {.pool = pool});
  std::vector<std::size_t> first(64);
  std::iota(first.begin(), first.end(), 0);
  return cache[pool] = {test.batch_features(first), test.batch_labels(first)};
}

void forward(benchmark::State& state, std::int64_t side) {
  const auto model = image_model(side);
  const auto net = models::kn_network::from_model(model);
  const auto& d = images(side == 14 ? 2 : 1);
  models::kn_tolerances tol{.rtol = 1e-3, .atol = 1e-3, .threads = static_cast<int>(state.range(0))};
  models::kn_stats stats;
  for (auto _ : state) {
    auto f = models::kn_forward(net, d.x, tol);
    benchmark::DoNotOptimize(f.outputs.data());
    stats = f.stats;
  }
  state.SetItemsProcessed(state.iterations() * d.x.cols());
  state.counters["rhs_per_slice"] = static_cast<double>(stats.rhs_evaluations) / static_cast<double>(stats.groups * 2);
}

void BM_kirchhoffnet_forward14(benchmark::State& state) { forward(state, 14); }
void BM_kirchhoffnet_forward28(benchmark::State& state) { forward(state, 28); }

void BM_kirchhoffnet_train14(benchmark::State& state) {
  ir::model model = image_model(14);
  auto eval = cosim::make_evaluator(model, cosim::engine_kind::software,
                                    {.threads = static_cast<int>(state.range(0)), .input_gradient = false});
  cosim::optimizer opt({.kind = cosim::optimizer_kind::adam});
  const auto& d = images(2);
  for (auto _ : state) {
    eval->set_model(model);
    auto g = eval->gradient(d.x, d.labels);
    opt.step(model, g.parameters, 5e-4);
    benchmark::DoNotOptimize(g.loss);
  }
  state.SetItemsProcessed(state.iterations() * d.x.cols());
}

}  // namespace

BENCHMARK(BM_kirchhoffnet_forward14)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_kirchhoffnet_train14)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_kirchhoffnet_forward28)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
