// The cost of the trainer's fixed-order reduction (process_group::ordered_sum:
// a chain of size-1 messages and one broadcast) per optimizer step, for a
// gradient of `values` doubles (default 168,013: the 784-100-10 MNIST MON's
// trainable values plus loss, count and stop flag), median of `rounds` calls.
// Run under mpirun; rank 0 prints.
//
//   mpirun -np 2 build/bench/bench_mpi_reduce [values] [rounds]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "cosim/distributed.hpp"

int main(int argc, char** argv) {
  spicenn::cosim::mpi_session mpi(argc, argv);
  const auto* group = spicenn::cosim::process_group::world();
  if (!group) {
    fmt::print(stderr, "bench_mpi_reduce: start it with mpirun -np N\n");
    return 2;
  }
  const std::size_t values = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 168013;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 50;
  std::vector<double> mine(values, 1e-3 * (group->rank() + 1));
  std::vector<double> seconds;
  for (int r = 0; r < rounds + 3; ++r) {
    group->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    const auto total = group->ordered_sum(values, [&](std::vector<double>& acc) {
      for (std::size_t i = 0; i < values; ++i) acc[i] += mine[i];
    });
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 3) seconds.push_back(t);  // the first calls set up the shared-memory transport
    if (total.size() != values) return 1;
  }
  std::sort(seconds.begin(), seconds.end());
  if (group->root())
    fmt::print("ordered_sum of {} doubles ({:.2f} MB) over {} ranks: median {:.3f} ms, min {:.3f} ms ({} calls)\n", values,
               8e-6 * static_cast<double>(values), group->size(), 1e3 * seconds[seconds.size() / 2], 1e3 * seconds.front(),
               seconds.size());
}
