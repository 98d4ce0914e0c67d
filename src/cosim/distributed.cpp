#include "cosim/distributed.hpp"

#include <climits>
#include <cstdlib>
#include <optional>

#include <mpi.h>

#include <fmt/format.h>

#include "core/error.hpp"

namespace spicenn::cosim {

namespace {

std::optional<process_group> g_world;  // set while an mpi_session has MPI initialized

constexpr int tag_chain = 71;

int to_int(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw error(fmt::format("distributed: {} of {} elements is more than one MPI message can carry", what, n));
  return static_cast<int>(n);
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw error(fmt::format("distributed: {} failed: {}", what, std::string(text, static_cast<std::size_t>(length))));
}

std::optional<std::uint64_t> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0') return std::nullopt;
  return n;
}

}  // namespace

// ---- mpi_session -------------------------------------------------------------

bool mpi_session::launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (const char* v = std::getenv(name); v && *v) return true;
  return false;
}

mpi_session::mpi_session(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  check(MPI_Init(&argc, &argv), "MPI_Init");
  // Errors are reported as exceptions (and then abort the job in main).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  g_world.emplace(rank, size);
}

mpi_session::~mpi_session() {
  if (!g_world) return;
  g_world.reset();
  MPI_Finalize();
}

void mpi_session::abort_job_if_parallel(int code) {
  if (g_world && g_world->size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

// ---- process_group -----------------------------------------------------------

const process_group* process_group::world() { return g_world ? &*g_world : nullptr; }

std::pair<std::size_t, std::size_t> process_group::share(std::size_t count) const {
  const auto n = static_cast<std::size_t>(size_);
  const auto r = static_cast<std::size_t>(rank_);
  auto start = [&](std::size_t k) { return (k * count + n - 1) / n; };
  return {start(r), start(r + 1)};
}

std::vector<double> process_group::ordered_sum(std::size_t length,
                                               const std::function<void(std::vector<double>& acc)>& add_mine) const {
  std::vector<double> acc(length, 0.0);
  const int n = to_int(length, "a sum");
  if (rank_ > 0)  // the running sum of ranks 0..rank-1
    check(MPI_Recv(acc.data(), n, MPI_DOUBLE, rank_ - 1, tag_chain, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  add_mine(acc);
  if (acc.size() != length)
    throw internal_error(fmt::format("distributed: rank {} resized a sum of {} values to {}", rank_, length, acc.size()));
  if (rank_ + 1 < size_) check(MPI_Send(acc.data(), n, MPI_DOUBLE, rank_ + 1, tag_chain, MPI_COMM_WORLD), "MPI_Send");
  // The last rank holds the total.
  check(MPI_Bcast(acc.data(), n, MPI_DOUBLE, size_ - 1, MPI_COMM_WORLD), "MPI_Bcast");
  return acc;
}

std::vector<double> process_group::all_gather(const std::vector<double>& local) const {
  const int mine = to_int(local.size(), "a gather");
  std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  std::size_t total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[static_cast<std::size_t>(r)] = to_int(total, "a gather");
    total += static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]);
  }
  std::vector<double> all(total);
  check(MPI_Allgatherv(local.data(), mine, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                       MPI_COMM_WORLD),
        "MPI_Allgatherv");
  return all;
}

std::vector<std::uint64_t> process_group::all_gather(std::uint64_t local) const {
  std::vector<std::uint64_t> all(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&local, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  return all;
}

void process_group::sum(std::vector<std::uint64_t>& values) const {
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), to_int(values.size(), "a sum"), MPI_UINT64_T, MPI_SUM,
                      MPI_COMM_WORLD),
        "MPI_Allreduce");
}

std::uint64_t process_group::max(std::uint64_t value) const {
  check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return value;
}

bool process_group::any(bool flag) const {
  int v = flag ? 1 : 0;
  check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD), "MPI_Allreduce");
  return v != 0;
}

void process_group::broadcast(std::string& text) const {
  std::uint64_t n = text.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  text.resize(n);
  check(MPI_Bcast(text.data(), to_int(text.size(), "a broadcast"), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

void process_group::barrier() const { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

// ---- helpers -----------------------------------------------------------------

int threads_per_rank(int requested) {
  if (requested > 0) return requested;
  return process_group::world() ? 1 : 0;
}

void maybe_die_for_test(const process_group* group, std::uint64_t steps) {
  if (!group) return;
  static const auto rank = env_number("SPICENN_TEST_KILL_RANK");
  static const auto after = env_number("SPICENN_TEST_KILL_AFTER_STEPS");
  if (!rank || !after || *rank != static_cast<std::uint64_t>(group->rank()) || steps != *after) return;
  std::fprintf(stderr, "spicenn: rank %d: SPICENN_TEST_KILL_AFTER_STEPS=%llu reached, dying\n", group->rank(),
               static_cast<unsigned long long>(steps));
  std::_Exit(9);
}

}  // namespace spicenn::cosim
