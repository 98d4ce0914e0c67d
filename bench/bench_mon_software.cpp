// Throughput of the MON software model on a 784 → 100 → 10 single-stage
// MNIST-sized network (ir::init_mon), ideal diodes, synthetic MNIST-like
// inputs (19 % of pixels lit in [0.5, 1]).
//   train: rebuild the network from the ir::model, forward, softmax
//          cross-entropy, backward (all parameter gradients), Adam step on
//          the model (cosim::optimizer, learning rate 1e-7 so that the
//          network stays put, as the peer's), batch 64;
//   infer: forward only, batch 1000;
//   infer_shockley: forward with Shockley diodes, batch 200.
// items_per_second is samples/s; max_resid is the largest scaled KKT
// residual (mon_equilibrium.hpp). The PyTorch peer (a monDEQ,
// bench/mon_torch_peer.py) runs side by side with this program in
// scripts/bench-mon-software.sh; the figures are in docs/results.md. Like the
// CLI, the program keeps freed memory for reuse (core/memory.hpp).
//
//   bench_mon_software --benchmark_filter=infer
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "bench_inputs.hpp"
#include "core/memory.hpp"
#include "core/random.hpp"
#include "cosim/optimizer.hpp"
#include "devices/device.hpp"
#include "ir/init.hpp"
#include "models/loss.hpp"
#include "models/mon.hpp"

namespace {

using namespace spicenn;
using spicenn::bench::labels_for;
using spicenn::bench::mnist_like;

const bool allocator_policy = keep_freed_memory_for_reuse();  // as spicenn's main() does

// bias_shift moves every bias by this many units of its own scale: 0 keeps
// init_mon's (mostly conducting-off, v > 0) network; negative values clamp
// more nodes, like a trained network with sparse activity.
ir::model bench_model(double bias_shift) {
  auto m = ir::init_mon(784, 100, 10, 1, /*seed=*/7, "ideal");
  if (bias_shift != 0.0) {
    auto& b = m.parameter("stage0.bias");
    for (auto& x : b.values) x += bias_shift * 1.4;
  }
  return m;
}

models::mon_network ideal_network(const ir::model& m) {
  return models::mon_network::from_model(m, static_cast<const devices::shockley_parameters*>(nullptr));
}

models::mon_options options_from(const benchmark::State& state) {
  models::mon_options o;
  o.threads = static_cast<int>(state.range(0));
  o.warm_start = state.range(1) > 0 ? models::mon_warm_start::peaceman_rachford : models::mon_warm_start::unconstrained;
  o.warm_start_iterations = static_cast<int>(state.range(1));
  return o;
}

void report(benchmark::State& state, const models::mon_forward_result& f) {
  state.counters["mean_iters"] = f.mean_iterations();
  state.counters["max_resid"] = f.max_residual();
  double frac = 0.0;
  for (Eigen::Index b = 0; b < f.stages[0].v.cols(); ++b)
    frac += static_cast<double>((f.stages[0].v.col(b).array() > 0.0).count());
  state.counters["free_frac"] = frac / static_cast<double>(f.stages[0].v.size());
}

// Args: threads, warm-start PR iterations (0 = unconstrained start), bias shift ×10.
void BM_mon_train(benchmark::State& state) {
  auto model = bench_model(static_cast<double>(state.range(2)) / 10.0);
  const auto opt = options_from(state);
  cosim::optimizer adam({.threads = opt.threads});  // as spicenn train --threads
  const Eigen::Index batch = 64;
  const auto x = mnist_like(batch, 1);
  const auto labels = labels_for(batch, 2);
  models::mon_forward_result f;
  for (auto _ : state) {
    const auto net = ideal_network(model);
    f = models::mon_forward(net, x, opt, true);
    Eigen::MatrixXd dy;
    const double loss = models::softmax_cross_entropy(f.y, labels, &dy);
    auto g = models::mon_backward(net, f, dy, opt, /*input_gradient=*/false);
    adam.step(model, g.parameters, 1e-7);
    benchmark::DoNotOptimize(loss);
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["allocator_policy"] = allocator_policy ? 1 : 0;
  report(state, f);
}

// Forward passes of `batch` MNIST-like samples, timed; the last result.
models::mon_forward_result time_inference(benchmark::State& state, const models::mon_network& net,
                                          const models::mon_options& opt, const Eigen::MatrixXd& x) {
  models::mon_forward_result f;
  for (auto _ : state) {
    f = models::mon_forward(net, x, opt, false);
    benchmark::DoNotOptimize(f.y.data());
  }
  state.SetItemsProcessed(state.iterations() * x.cols());
  report(state, f);
  return f;
}

void BM_mon_infer(benchmark::State& state) {
  const auto net = ideal_network(bench_model(static_cast<double>(state.range(2)) / 10.0));
  time_inference(state, net, options_from(state), mnist_like(1000, 3));
}

// mon_precision::float32 (projected Jacobi in float32, mon.hpp); max_resid
// is its own float32 scaled residual, f64_resid the same measure of its
// solution evaluated in float64. Args: threads, bias shift ×10.
void BM_mon_infer_float32(benchmark::State& state) {
  const auto net = ideal_network(bench_model(static_cast<double>(state.range(1)) / 10.0));
  models::mon_options opt;
  opt.threads = static_cast<int>(state.range(0));
  opt.precision = models::mon_precision::float32;
  const auto x = mnist_like(1000, 3);
  const auto f = time_inference(state, net, opt, x);
  const auto& st = net.stages[0];
  const Eigen::MatrixXd S = st.sources(x);
  double worst = 0.0;
  for (Eigen::Index b = 0; b < x.cols(); ++b)
    worst = std::max(worst, models::mon_ideal_residual(st.G, S.col(b), f.stages[0].v.col(b)));
  state.counters["f64_resid"] = worst;
  state.counters["contraction"] = st.jacobi_contraction;
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"threads", "pr_iters", "bias_shift_x10"});
  for (int shift : {0, -10})
    for (int pr : {0, 4})
      for (int threads : {1, 2}) b->Args({threads, pr, shift});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Shockley diodes (builtin shockley_diode parameters): Newton with a dense
// n×n factorization per step and sample. Args: threads.
void BM_mon_infer_shockley(benchmark::State& state) {
  auto model = bench_model(-1.0);
  model.options["diode"] = "shockley";
  const auto diode = *devices::builtin_devices().get("shockley_diode").shockley();
  const auto net = models::mon_network::from_model(model, &diode);
  models::mon_options opt;
  opt.threads = static_cast<int>(state.range(0));
  time_inference(state, net, opt, mnist_like(200, 3));
}

BENCHMARK(BM_mon_train)->Apply(args);
BENCHMARK(BM_mon_infer)->Apply(args);
BENCHMARK(BM_mon_infer_float32)
    ->ArgNames({"threads", "bias_shift_x10"})
    ->Args({1, -10})
    ->Args({2, -10})
    ->Args({1, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_mon_infer_shockley)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
// main() comes from benchmark::benchmark_main (bench/CMakeLists.txt).
