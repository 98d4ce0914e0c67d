#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/finite_scan.hpp"
#include "core/numbers.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"

namespace spicenn {

static bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(Numbers, FormatDoubleRoundTripsExactly) {
  const double values[] = {0.1, 1.0 / 3.0, -2.5e-300, 4.9e-324 /* smallest subnormal */, 1.7976931348623157e308,
                           123456789.0, -0.0, 6.02214076e23};
  for (double v : values) {
    auto text = format_double(v);
    auto back = try_parse_double(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_TRUE(same_bits(v, *back)) << text;
  }
  EXPECT_EQ(format_double(0.1), "0.1");  // shortest form, not 0.1000000000000000055511
}

TEST(Numbers, ParseRejectsGarbageAndAcceptsBlanks) {
  EXPECT_FALSE(try_parse_double("").has_value());
  EXPECT_FALSE(try_parse_double("1.0x").has_value());
  EXPECT_FALSE(try_parse_double("abc").has_value());
  EXPECT_FALSE(try_parse_double("1,5").has_value());
  EXPECT_DOUBLE_EQ(*try_parse_double("  +2.5e3 "), 2500.0);
  EXPECT_TRUE(std::isinf(*try_parse_double("inf")));
  EXPECT_THROW(parse_double("1.2.3"), error);
}

TEST(FiniteScan, AgreesWithStdIsfiniteAndTheSignOfEveryKindOfDouble) {
  // Every class of double at every position of an array longer than a vector
  // register, against std::isfinite / std::signbit one value at a time.
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double kinds[] = {0.0,  -0.0, 1.5,  -1.5, std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(),
                          std::numeric_limits<double>::denorm_min(), -std::numeric_limits<double>::denorm_min(),
                          inf,  -inf, nan,  -nan, std::numeric_limits<double>::signaling_NaN()};
  for (const double k : kinds)
    for (std::size_t at : {0u, 7u, 8u, 16u, 36u}) {
      std::vector<double> v(37, 0.25);
      v[at] = k;
      EXPECT_EQ(spicenn::all_finite(v), static_cast<bool>(std::isfinite(k))) << k << " at " << at;
      EXPECT_EQ(spicenn::all_finite_nonnegative(v), std::isfinite(k) && !std::signbit(k)) << k << " at " << at;
    }
  EXPECT_TRUE(spicenn::all_finite(std::vector<double>{}));
  EXPECT_TRUE(spicenn::all_finite_nonnegative(std::vector<double>{}));
}

TEST(Errors, MessagesCarryLocationAndElement) {
  validation_error e({"net.xml", 12}, "/model/tensor", "value -1 < 0");
  EXPECT_STREQ(e.what(), "net.xml:12: /model/tensor: value -1 < 0");
  parse_error p({"a.csv", 0}, "bad");
  EXPECT_STREQ(p.what(), "a.csv: bad");
  try {
    SPICENN_ASSERT(1 + 1 == 3, "arithmetic");
    FAIL();
  } catch (const internal_error& ie) {
    EXPECT_NE(std::string(ie.what()).find("test_core.cpp"), std::string::npos);
  }
}

TEST(Random, MatchesTheStandardEngineAndHasTheRightMoments) {
  // mt19937_64's 10000th output is fixed by the C++ standard.
  std::mt19937_64 reference(5489u);
  reference.discard(9999);
  EXPECT_EQ(reference(), 9981545732273789042ull);
  rng a(7), b(7);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = a.normal();
    EXPECT_EQ(z, b.normal());
    sum += z;
    sum2 += z * z;
  }
  // Mean 0 ± 4 standard errors, variance 1 ± 4 standard errors (sqrt(2/n)).
  EXPECT_NEAR(sum / n, 0.0, 4.0 / std::sqrt(n));
  EXPECT_NEAR(sum2 / n, 1.0, 4.0 * std::sqrt(2.0 / n));
}

// ------------------------------------------------------------------ parallel

TEST(Parallel, EveryWorkerRunsOnceOnItsOwnThreadCallAfterCall) {
  for (int call = 0; call < 50; ++call) {
    for (int workers : {1, 2, 3, 5}) {
      std::vector<int> runs(static_cast<std::size_t>(workers), 0);
      std::vector<std::thread::id> ids(static_cast<std::size_t>(workers));
      parallel_workers(workers, [&](int w) {
        ++runs[static_cast<std::size_t>(w)];
        ids[static_cast<std::size_t>(w)] = std::this_thread::get_id();
      });
      for (int w = 0; w < workers; ++w) EXPECT_EQ(runs[static_cast<std::size_t>(w)], 1) << workers << " workers, " << w;
      EXPECT_EQ(ids[0], std::this_thread::get_id());  // worker 0 on the caller
      EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), static_cast<std::size_t>(workers));
    }
  }
}

TEST(Parallel, NestedCallsAndExceptionsFromAnyWorker) {
  std::atomic<int> inner{0};
  parallel_workers(2, [&](int) { parallel_workers(3, [&](int) { ++inner; }); });  // the pool is busy: own threads
  EXPECT_EQ(inner.load(), 6);
  for (int thrower : {0, 1, 2})
    EXPECT_THROW(parallel_workers(3,
                                  [&](int w) {
                                    if (w == thrower) throw std::runtime_error("worker");
                                  }),
                 std::runtime_error);
  std::atomic<int> after{0};
  parallel_workers(3, [&](int) { ++after; });  // the pool still works
  EXPECT_EQ(after.load(), 3);
  std::vector<long> seen(100, 0);
  parallel_chunks(100, 3, [&](int, long b, long e) {
    for (long i = b; i < e; ++i) ++seen[static_cast<std::size_t>(i)];
  });
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 100);
}

TEST(Parallel, AForkedChildHasAWorkingPool) {
  parallel_workers(2, [](int) {});  // the parent's pool has a thread
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::atomic<int> n{0};
    parallel_workers(3, [&](int) { ++n; });
    std::_Exit(n.load() == 3 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace spicenn
