// Per-sample cost of evaluating a circuit many times in embedded ngspice:
//   reparse: load() a netlist with the sample's input values, op, read probes;
//   alter:   alter() every input source, op, read probes (no re-parse);
//   sweep:   evaluate_batch(): one DC sweep over a sample index (pwl B sources).
// Circuit: a random 50-node resistor network, a diode from ground to every
// node (anode at ground, as in the MON family), 8 input sources each driving
// 3 nodes through resistors, 10 probed nodes. Counters: s_per_sample
// (CPU seconds per sample, lower is better) and items_per_second (samples/s).
//
//   bench_engine --benchmark_counters_tabular=true
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "spice/batch.hpp"
#include "spice/engine.hpp"

namespace {

constexpr int nodes = 50, inputs = 8, probes_count = 10;

struct circuit {
  std::string header;               // everything but the input source lines
  std::vector<std::string> sources;  // input source names
  std::vector<std::string> probes;

  std::string deck(const Eigen::VectorXd& x) const {
    std::string d = header;
    for (int k = 0; k < inputs; ++k) d += fmt::format("{} in{} 0 DC {}\n", sources[static_cast<std::size_t>(k)], k, x(k));
    return d + ".end\n";
  }
};

circuit make_circuit() {
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> node(1, nodes);
  std::uniform_real_distribution<double> ohms(1e3, 1e4);
  circuit c;
  c.header = "50-node random resistor-diode network\n.model dmod D(IS=1e-14)\n";
  int r = 0;
  for (int j = 1; j <= nodes; ++j) {
    for (int e = 0; e < 3; ++e) {  // ~150 random edges
      int k = node(rng);
      if (k != j) c.header += fmt::format("R{} n{} n{} {}\n", ++r, j, k, ohms(rng));
    }
    c.header += fmt::format("R{} n{} 0 {}\n", ++r, j, 10 * ohms(rng));
    c.header += fmt::format("D{} 0 n{} dmod\n", j, j);
  }
  for (int k = 0; k < inputs; ++k) {
    c.sources.push_back(fmt::format("vin{}", k));
    for (int e = 0; e < 3; ++e) c.header += fmt::format("R{} in{} n{} {}\n", ++r, k, node(rng), ohms(rng));
  }
  for (int p = 0; p < probes_count; ++p) c.probes.push_back(fmt::format("v(n{})", 1 + p * (nodes / probes_count)));
  return c;
}

Eigen::MatrixXd samples(Eigen::Index n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Eigen::MatrixXd x(n, inputs);
  for (Eigen::Index i = 0; i < n; ++i)
    for (int k = 0; k < inputs; ++k) x(i, k) = u(rng);
  return x;
}

void per_sample_counters(benchmark::State& state, std::int64_t samples_done) {
  state.SetItemsProcessed(samples_done);
  // CPU seconds per sample, printed with an SI prefix ("226u" = 226 us).
  state.counters["s_per_sample"] =
      benchmark::Counter(static_cast<double>(samples_done), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_reparse_op(benchmark::State& state) {
  const circuit c = make_circuit();
  const Eigen::MatrixXd x = samples(256);
  spicenn::spice::engine eng;
  std::int64_t i = 0;
  double sink = 0;
  for (auto _ : state) {
    eng.load(c.deck(x.row(i % x.rows()).transpose()));
    eng.op();
    for (const auto& p : c.probes) sink += eng.real_value(p);
    ++i;
  }
  benchmark::DoNotOptimize(sink);
  per_sample_counters(state, i);
}
BENCHMARK(BM_reparse_op)->Unit(benchmark::kMicrosecond);

void BM_alter_op(benchmark::State& state) {
  const circuit c = make_circuit();
  const Eigen::MatrixXd x = samples(256);
  spicenn::spice::engine eng;
  eng.load(c.deck(x.row(0).transpose()));
  std::int64_t i = 0;
  double sink = 0;
  for (auto _ : state) {
    const auto row = x.row(i % x.rows());
    for (int k = 0; k < inputs; ++k) eng.alter(c.sources[static_cast<std::size_t>(k)], row(k));
    eng.op();
    for (const auto& p : c.probes) sink += eng.real_value(p);
    ++i;
  }
  benchmark::DoNotOptimize(sink);
  per_sample_counters(state, i);
}
BENCHMARK(BM_alter_op)->Unit(benchmark::kMicrosecond);

// Arg: samples per call (= chunk size up to 1000).
void BM_batch_sweep(benchmark::State& state) {
  const circuit c = make_circuit();
  const Eigen::MatrixXd x = samples(state.range(0));
  const std::string deck = c.deck(Eigen::VectorXd::Zero(inputs));
  spicenn::spice::engine eng;
  std::int64_t done = 0;
  for (auto _ : state) {
    Eigen::MatrixXd y = spicenn::spice::evaluate_batch(eng, deck, c.sources, x, c.probes);
    benchmark::DoNotOptimize(y.data());
    done += x.rows();
  }
  per_sample_counters(state, done);
}
BENCHMARK(BM_batch_sweep)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// 4000 samples split into chunks of Arg samples: the cost of one load per
// chunk against the pwl tables growing with the chunk (batch_options::chunk_size).
void BM_batch_chunk_size(benchmark::State& state) {
  const circuit c = make_circuit();
  const Eigen::MatrixXd x = samples(4000);
  const std::string deck = c.deck(Eigen::VectorXd::Zero(inputs));
  spicenn::spice::batch_options opt;
  opt.chunk_size = static_cast<std::size_t>(state.range(0));
  spicenn::spice::engine eng;
  std::int64_t done = 0;
  for (auto _ : state) {
    Eigen::MatrixXd y = spicenn::spice::evaluate_batch(eng, deck, c.sources, x, c.probes, opt);
    benchmark::DoNotOptimize(y.data());
    done += x.rows();
  }
  per_sample_counters(state, done);
}
BENCHMARK(BM_batch_chunk_size)->Arg(250)->Arg(1000)->Arg(4000)->Unit(benchmark::kMillisecond);

}  // namespace
