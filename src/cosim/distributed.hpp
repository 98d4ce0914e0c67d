// Data-parallel training and evaluation over MPI (Open MPI): the one layer
// every family shares. `spicenn` started by an MPI launcher (`mpirun -np N
// spicenn train ...`) joins the job in main (mpi_session); the trainer and
// evaluate_classifier then split every batch over the ranks and combine the
// results in a fixed order, so that the outcome does not depend on N.
// Started without a launcher nothing here calls MPI, and
// process_group::world() is nullptr: the serial code paths run unchanged.
//
//   int main(int argc, char** argv) {
//     cosim::mpi_session mpi(argc, argv);              // MPI_Init only under mpirun
//     const cosim::process_group* g = cosim::process_group::world();  // nullptr without mpirun
//     auto [p0, p1] = g->share(pieces);                // this rank's contiguous run of pieces
//     auto total = g->ordered_sum(n, [&](std::vector<double>& acc) { /* acc += piece p0, p0+1, ... */ });
//   }
//
// The fixed-order reduction (ordered_sum) is a chain: rank 0 starts from a
// zero accumulator and adds its pieces one after the other, sends it to
// rank 1, which adds its pieces, ..., and the last rank broadcasts the
// total. Every element of the total is thus the same left-to-right sequence
// of floating-point additions, piece 0 first, for every number of ranks.
// MPI is kept out of this header (mpi.h is included by distributed.cpp only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace spicenn::cosim {

// Initializes MPI for the program's lifetime if it was started by an MPI
// launcher (Open MPI's mpirun/mpiexec set OMPI_COMM_WORLD_SIZE; PMIx and
// PMI launchers PMIX_RANK / PMI_RANK), and finalizes it on destruction.
// Without a launcher it does nothing (no MPI call, no output).
class mpi_session {
 public:
  mpi_session(int& argc, char**& argv);
  ~mpi_session();
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  static bool launched_by_mpi();  // the launcher's environment variables are present
  // After an error on this rank: a job of more than one rank is aborted
  // (MPI_Abort: the other ranks may wait in a collective operation for this
  // one); otherwise returns and the caller exits normally.
  static void abort_job_if_parallel(int code);
};

// The ranks of the job (MPI_COMM_WORLD). Every operation is collective:
// all ranks must call it, in the same order.
class process_group {
 public:
  // The job's group while an mpi_session is active (also for -np 1), else nullptr.
  static const process_group* world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  // This rank's contiguous share [begin, end) of `count` items in rank
  // order: rank r takes [ceil(r·count/size), ceil((r+1)·count/size)), so
  // rank 0 always has one when count > 0.
  std::pair<std::size_t, std::size_t> share(std::size_t count) const;

  // The fixed-order sum described above, of `length` values (the same on
  // every rank). add_mine(acc) adds this rank's contributions to acc in
  // order (acc arrives as zeros on rank 0, as ranks 0..r-1 left it on rank
  // r; a rank with nothing to add leaves it as it is). Returns the total on
  // every rank: size-1 messages along the chain and one broadcast.
  std::vector<double> ordered_sum(std::size_t length, const std::function<void(std::vector<double>& acc)>& add_mine) const;

  // Every rank's `local` values concatenated in rank order (on every rank).
  std::vector<double> all_gather(const std::vector<double>& local) const;
  std::vector<std::uint64_t> all_gather(std::uint64_t local) const;
  // Element-wise sums and maxima over the ranks (exact: integers).
  void sum(std::vector<std::uint64_t>& values) const;
  std::uint64_t max(std::uint64_t value) const;
  bool any(bool flag) const;  // true on every rank if true on some rank
  // Root's text on every rank.
  void broadcast(std::string& text) const;
  void barrier() const;

  process_group(int rank, int size) : rank_(rank), size_(size) {}

 private:
  int rank_ = 0, size_ = 1;
};

// Worker threads / ngspice instances per rank: `requested` if > 0; under MPI
// 1 (one rank per core; the result inside a piece then never depends on
// the machine's core count), else 0 (= all cores, as without MPI).
int threads_per_rank(int requested);

// Test hook: SPICENN_TEST_KILL_RANK=R and SPICENN_TEST_KILL_AFTER_STEPS=K
// make rank R die (std::_Exit(9), no clean-up, like kill -9) after its K-th
// optimizer step. Called by the trainer after every step; a no-op without
// the variables.
void maybe_die_for_test(const process_group* group, std::uint64_t steps);

}  // namespace spicenn::cosim
