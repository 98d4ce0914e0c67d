// Memory over many cycles, several engines at once, locale independence.
#include <locale.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "reference.hpp"
#include "spice/engine.hpp"
#include "spice/ngspice_library.hpp"

namespace {

using namespace spicenn::spice;
using spicenn::spice::testing::resident_kb;

// Sanitizers keep freed memory in quarantine: RSS bounds mean nothing there.
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_IF_SANITIZED() GTEST_SKIP() << "RSS is meaningless under AddressSanitizer"
#else
#define SKIP_IF_SANITIZED() (void)0
#endif

std::string small_deck(double v) {
  // Divider with a reverse-biased diode (anode at ground): v(out) = 0.75 v
  // up to the diode's leakage (IS + gmin v, ~1e-11 A here).
  return fmt::format(
      "memory cycle\nV1 in 0 DC {}\nR1 in out 1k\nR2 out 0 3k\nD1 0 out dmod\n.model dmod D(IS=1e-14)\n.end\n", v);
}

TEST(EngineLifecycle, MemoryStaysFlatOver10000LoadRunCycles) {
  SKIP_IF_SANITIZED();
  constexpr int cycles = 10000;  // 50-100 us each on the development machine
  engine eng;
  auto one_cycle = [&](int i) {
    const double v = 1.0 + (i % 17);
    eng.load(small_deck(v));
    eng.op();
    const double out = eng.real_value("v(out)");
    if (std::abs(out - 0.75 * v) > 1e-6) ADD_FAILURE() << "cycle " << i << ": v(out) = " << out;
  };
  for (int i = 0; i < 300; ++i) one_cycle(i);  // warm-up: allocator pools, first plots
  const long before = resident_kb();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < cycles; ++i) one_cycle(i);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long growth = resident_kb() - before;
  std::printf("[ memory ] %d load+op cycles in %.2f s (%.1f us each): RSS %+ld kB\n", cycles, seconds,
              1e6 * seconds / cycles, growth);
  RecordProperty("rss_growth_kb", static_cast<int>(growth));
  EXPECT_LT(growth, 2 * 1024) << "kB after " << cycles << " load+op cycles";
}

TEST(EngineLifecycle, FailedLoadsLeakOnlyWhatNgspiceLeaks) {
  SKIP_IF_SANITIZED();
  // ngspice 39 itself leaks ~11 kB per deck that fails to parse (its error
  // path does not free the partial circuit; remcirc cannot reach it). This
  // bounds that, so that the engine's own error handling adds nothing.
  engine eng;
  auto one_cycle = [&] {
    EXPECT_THROW(eng.load("bad\nV1 in 0 DC 1\nR1 in out 1k\nD1 out 0 nomodel\n.end\n"), netlist_error);
    eng.load(small_deck(2.0));
    eng.op();
  };
  for (int i = 0; i < 50; ++i) one_cycle();
  const long before = resident_kb();
  constexpr int failures = 400;
  for (int i = 0; i < failures; ++i) one_cycle();
  const double per_failure = static_cast<double>(resident_kb() - before) / failures;
  std::printf("[ memory ] %.1f kB per failed load\n", per_failure);
  EXPECT_LT(per_failure, 16.0);
}

TEST(EngineLifecycle, MemoryStaysFlatOver10000AlterRunCycles) {
  SKIP_IF_SANITIZED();
  engine eng;
  eng.load(small_deck(1.0));
  auto one_cycle = [&](int i) {
    const double v = 1.0 + (i % 13);
    eng.alter("v1", v);
    eng.op();
    const double out = eng.real_value("v(out)");
    if (std::abs(out - 0.75 * v) > 1e-6) ADD_FAILURE() << "cycle " << i << ": v(out) = " << out;
  };
  for (int i = 0; i < 300; ++i) one_cycle(i);
  const long before = resident_kb();
  for (int i = 0; i < 10000; ++i) one_cycle(i);
  const long growth = resident_kb() - before;
  std::printf("[ memory ] 10000 alter+op cycles: RSS %+ld kB\n", growth);
  EXPECT_LT(growth, 3 * 1024);
}

TEST(EngineLifecycle, EnginesAreFreedWhenDestroyed) {
  SKIP_IF_SANITIZED();
  auto one = [] {
    engine eng;
    eng.load(small_deck(2.0));
    eng.op();
    EXPECT_NEAR(eng.real_value("v(out)"), 1.5, 1e-6);
  };
  for (int i = 0; i < 5; ++i) one();
  const long before = resident_kb();
  for (int i = 0; i < 40; ++i) one();
  const long growth = resident_kb() - before;
  std::printf("[ memory ] 40 engines created and destroyed: RSS %+ld kB\n", growth);
  EXPECT_LT(growth, 2 * 1024);  // ~1.5 kB each measured; a 7.6 MB library leaked would be obvious
}

TEST(EngineLifecycle, TemporaryFilesAreRemoved) {
  // A private TMPDIR, so that engines of other test processes do not count.
  // The process-wide spinit directory is made by the first engine: before.
  engine first;
  namespace fs = std::filesystem;
  const char* old_env = std::getenv("TMPDIR");
  const std::string old_tmpdir = old_env ? old_env : "";
  const fs::path dir = fs::temp_directory_path() / fmt::format("spicenn-test-tmp-{}", ::getpid());
  fs::create_directories(dir);
  setenv("TMPDIR", dir.c_str(), 1);
  auto leftovers = [&] {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      auto name = entry.path().filename().string();
      if (name.rfind("spicenn-ngspice-scripts-", 0) != 0) names.push_back(name);  // one per process, by design
    }
    return names;
  };
  {
    engine a, b;
    a.load(small_deck(1.0));
    a.op();
    EXPECT_TRUE(leftovers().empty()) << "private copies are deleted as soon as they are loaded";
    EXPECT_THROW(a.load("broken\n.subckt foo a b\n.end\n"), engine_fatal_error);  // the reload makes a new copy
    EXPECT_TRUE(leftovers().empty());
    EXPECT_EQ(a.restarts(), 1u);
  }
  auto left = leftovers();
  EXPECT_TRUE(left.empty()) << left.front();
  if (old_env) setenv("TMPDIR", old_tmpdir.c_str(), 1);
  else unsetenv("TMPDIR");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(EngineLifecycle, StaleTemporaryDirectoriesAreRemoved) {
  namespace fs = std::filesystem;
  const char* old_env = std::getenv("TMPDIR");
  const std::string old_tmpdir = old_env ? old_env : "";
  const fs::path dir = fs::temp_directory_path() / fmt::format("spicenn-test-stale-{}", ::getpid());
  fs::create_directories(dir);
  setenv("TMPDIR", dir.c_str(), 1);
  // A pid that surely exited: a child we have reaped.
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  const std::vector<std::string> stale = {fmt::format("spicenn-ngspice-{}-a1b2c3", dead),
                                          fmt::format("spicenn-ngspice-scripts-{}-d4e5f6", dead)};
  const std::vector<std::string> kept = {fmt::format("spicenn-ngspice-{}-alive0", ::getpid()),
                                         "spicenn-ngspice-notapid", "unrelated-42-xyz"};
  for (const auto& n : stale) fs::create_directories(dir / n / "sub");
  for (const auto& n : kept) fs::create_directories(dir / n);
  remove_stale_temp_dirs();
  for (const auto& n : stale) EXPECT_FALSE(fs::exists(dir / n)) << n;
  for (const auto& n : kept) EXPECT_TRUE(fs::exists(dir / n)) << n;
  if (old_env) setenv("TMPDIR", old_tmpdir.c_str(), 1);
  else unsetenv("TMPDIR");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(EngineLifecycle, MovedEngineKeepsWorking) {
  engine a;
  a.load(small_deck(4.0));
  engine b = std::move(a);
  b.op();
  EXPECT_NEAR(b.real_value("v(out)"), 3.0, 1e-6);
  engine c;
  c = std::move(b);
  c.alter("v1", 8.0);
  c.op();
  EXPECT_NEAR(c.real_value("v(out)"), 6.0, 1e-6);
}

TEST(EngineThreads, TwoEnginesRunConcurrentlyWithIndependentResults) {
  using clock = std::chrono::steady_clock;
  struct result {
    int id = 0;
    clock::time_point start, end;
    std::vector<std::string> failures;
  };
  std::atomic<int> ready{0};
  result results[2];

  auto worker = [&](int which) {
    result& r = results[which];
    try {
      engine eng;
      r.id = eng.id();
      ++ready;
      while (ready.load() < 2) std::this_thread::yield();
      r.start = clock::now();
      for (int i = 0; i < 300; ++i) {
        const double x = 0.5 + 0.01 * i + which;
        double got = 0, expected = 0;
        if (which == 0) {
          // Divider; re-parsed every 10th sample.
          if (i % 10 == 0) eng.load(fmt::format("divider\nV1 in 0 DC 1\nR1 in out 1k\nR2 out 0 {}\n.end\n", 1000 + i));
          eng.alter("v1", x);
          eng.op();
          got = eng.real_value("v(out)");
          const double r2 = 1000 + (i / 10) * 10;
          expected = x * r2 / (1000 + r2);
        } else {
          // POLY source (XSPICE code model): 1 + 2x + 3x^2.
          if (i % 10 == 0) eng.load("poly\nV1 a 0 DC 1\nR1 a 0 1k\nE1 b 0 POLY(1) a 0 1 2 3\nR2 b 0 1k\n.end\n");
          eng.alter("v1", x);
          eng.op();
          got = eng.real_value("v(b)");
          expected = 1 + 2 * x + 3 * x * x;
        }
        if (std::abs(got - expected) > 1e-9 * std::max(1.0, std::abs(expected)))
          r.failures.push_back(fmt::format("engine {} sample {}: got {} expected {}", which, i, got, expected));
      }
      r.end = clock::now();
    } catch (const std::exception& e) {
      r.failures.push_back(fmt::format("engine {} threw: {}", which, e.what()));
      ++ready;
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  for (const auto& r : results)
    for (const auto& f : r.failures) ADD_FAILURE() << f;
  EXPECT_NE(results[0].id, results[1].id);
  // The two runs overlapped in time.
  EXPECT_LT(results[0].start, results[1].end);
  EXPECT_LT(results[1].start, results[0].end);
}

// A locale whose decimal separator is a comma: an installed one, else one
// compiled with localedef into a temporary directory (LOCPATH).
locale_t comma_locale(std::string& why_not) {
  for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE", "fr_FR"})
    if (locale_t l = newlocale(LC_ALL_MASK, name, static_cast<locale_t>(nullptr))) return l;
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("spicenn-test-locale-{}", ::getpid());
  fs::create_directories(dir);
  std::string cmd = fmt::format("localedef -i de_DE -f UTF-8 '{}' > /dev/null 2>&1", (dir / "de_DE.UTF-8").string());
  if (std::system(cmd.c_str()) != 0 || !fs::exists(dir / "de_DE.UTF-8")) {
    why_not = "no locale with a decimal comma installed and localedef could not build one";
    return static_cast<locale_t>(nullptr);
  }
  setenv("LOCPATH", dir.c_str(), 1);  // single-threaded here
  locale_t l = newlocale(LC_ALL_MASK, "de_DE.UTF-8", static_cast<locale_t>(nullptr));
  unsetenv("LOCPATH");
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!l) why_not = "newlocale(de_DE.UTF-8) failed";
  return l;
}

TEST(EngineThreads, NumbersAreReadInTheCLocaleWhateverTheCallersLocale) {
  std::string why_not;
  locale_t comma = comma_locale(why_not);
  if (!comma) GTEST_SKIP() << why_not;
  locale_t previous = uselocale(comma);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", 1.5);
  EXPECT_STREQ(buf, "1,5") << "the test locale does not use a decimal comma";
  {
    // .param expressions and B-source constants go through the C library's
    // number conversions; plain element values do not.
    engine eng;
    eng.load("locale\n.param rb=0.5k\nV1 in 0 DC 1.5\nR1 in out 1.5k\nR2 out 0 {rb}\nB1 b 0 V = 0.25*v(out)\n"
             "R3 b 0 1k\n.end\n");
    eng.op();
    EXPECT_NEAR(eng.real_value("v(out)"), 1.5 * 0.5 / 2.0, 1e-12);
    EXPECT_NEAR(eng.real_value("v(b)"), 0.25 * 1.5 * 0.5 / 2.0, 1e-12);
    eng.alter("v1", 2.25);
    eng.op();
    EXPECT_NEAR(eng.real_value("v(out)"), 2.25 * 0.25, 1e-12);
  }
  std::snprintf(buf, sizeof buf, "%.1f", 1.5);
  EXPECT_STREQ(buf, "1,5") << "the engine must not change the caller's locale";
  uselocale(previous);
  freelocale(comma);
}

}  // namespace
