// Size of a KirchhoffNet netlist at the scale of the real use (834 nodes,
// 230,068 edges per slice, 2 slices, shift_tanh1: 920,272 θ values): builds
// the synthetic model in memory (random distinct edges over nodes 0..834,
// ground included), compiles it with each θ storage and writes the decks, to
// be timed in the ngspice program (docs/kirchhoffnet.md "Circuit", "Size"):
//
//   build/bench/bench_kn_netlist_size /tmp/kn [nodes] [edges] [slices]
//   /usr/bin/time -v ngspice -b /tmp/kn/kn_resistor_parse.cir
//
// Per storage it writes kn_<storage>_parse.cir (no analysis: ngspice parses,
// builds the devices and stops) and kn_<storage>_tran.cir (a transient of
// 1e-3 time units with a step of 1e-4: the matrix setup, the first
// factorization and ~10 steps).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "compiler/kirchhoffnet_compiler.hpp"
#include "core/random.hpp"
#include "ir/init.hpp"

using namespace spicenn;

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "/tmp/kn_bench";
  const std::int64_t nodes = argc > 2 ? std::atoll(argv[2]) : 834;
  const std::size_t edges = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 230068;
  const std::int64_t slices = argc > 4 ? std::atoll(argv[4]) : 2;
  std::filesystem::create_directories(dir);
  const auto pairs = static_cast<std::size_t>((nodes + 1) * nodes);
  if (edges > pairs) {
    fmt::print(stderr, "{} edges exceed the {} ordered pairs of distinct nodes in 0..{}\n", edges, pairs, nodes);
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  rng r(7);
  std::unordered_set<std::int64_t> taken;
  std::vector<std::array<std::int64_t, 2>> list;
  while (list.size() < edges) {
    const auto s = static_cast<std::int64_t>(r.uniform() * static_cast<double>(nodes + 1));
    const auto d = static_cast<std::int64_t>(r.uniform() * static_cast<double>(nodes + 1));
    if (s == d || !taken.insert(s * (nodes + 1) + d).second) continue;
    list.push_back({s, d});
  }
  auto m = ir::init_kirchhoffnet(std::min<std::int64_t>(nodes, 784), nodes, std::min<std::int64_t>(nodes, 10), slices,
                                 "shift_tanh1", 7, list);
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("model: {} nodes, {} edges x {} slices, {} theta values (built in {:.2f} s)\n", nodes, edges, slices,
             edges * static_cast<std::size_t>(slices) * 2, build_s);
  for (auto [storage, tag] : {std::pair{compiler::theta_storage::inline_values, "inline"},
                              std::pair{compiler::theta_storage::current_into_resistor, "resistor"},
                              std::pair{compiler::theta_storage::voltage_source, "vsource"}}) {
    t0 = std::chrono::steady_clock::now();
    auto net = compiler::compile_kirchhoffnet(m, {.theta = storage, .transient_cards = false});
    const double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto parse = dir / fmt::format("kn_{}_parse.cir", tag);
    std::ofstream(parse) << net.text;
    // The same deck with a short transient.
    std::string tran = net.text.substr(0, net.text.rfind(".end"));
    // (`ngspice -b` runs no analysis without a .print or .meas card.)
    tran += fmt::format(".tran {} {} 0 {} uic\n.meas tran y0 find v(out0) at={}\n.end\n", 1e-4 * net.second,
                        1e-3 * net.second, 1e-4 * net.second, 0.999e-3 * net.second);
    std::ofstream(dir / fmt::format("kn_{}_tran.cir", tag)) << tran;
    fmt::print("{:8}: {} elements, ~{} MNA unknowns, {:.1f} MB of text, compiled in {:.2f} s -> {}\n", tag, net.elements,
               net.mna_unknowns, static_cast<double>(net.text.size()) / 1e6, compile_s, parse.string());
  }
}
