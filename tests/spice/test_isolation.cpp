// Isolated engines (engine_options::isolation::worker_process): the same
// results and the same typed errors as an engine in this process, and a
// worker that crashes, hangs or hits an ngspice fatal error costs a restart
// and a retry, not the call. Faults are injected into the worker program
// with SPICENN_WORKER_FAULT (spice/worker_main.cpp).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "scratch_path.hpp"
#include "spice/engine.hpp"

namespace {

using namespace spicenn::spice;

engine_options isolated(double time_limit = 60) {
  engine_options o;
  o.where = engine_options::isolation::worker_process;
  o.time_limit = time_limit;
  return o;
}

// An RC low-pass and a diode: op, ac, tran and alter all have something to do.
const char* circuit =
    "isolation test\n"
    "V1 in 0 DC 1 AC 1\n"
    "R1 in out 1k\n"
    "C1 out 0 1u\n"
    "D1 out d 1n4148\n"
    "R2 d 0 10k\n"
    ".model 1n4148 D(Is=2.52n N=1.752 Rs=0.568)\n"
    ".end\n";

// What one engine computes for the circuit: op, an alter, ac and tran.
struct results {
  double op_out = 0, altered_out = 0;
  std::vector<std::complex<double>> ac_out;
  std::vector<double> tran_time, tran_out;
};

results run_all(engine& eng) {
  results r;
  eng.load(circuit);
  eng.op();
  r.op_out = eng.real_value("v(out)");
  eng.alter("v1", 3.0);
  eng.alter("r2", "resistance", 2e3);
  eng.op();
  r.altered_out = eng.real_value("v(out)");
  eng.ac(ac_sweep::dec, 5, 10, 1e5);
  r.ac_out = eng.complex_vector("v(out)");
  eng.tran(1e-5, 5e-3, {.max_step = 1e-5, .uic = true});
  r.tran_time = eng.real_vector("time");
  r.tran_out = eng.real_vector("v(out)");
  return r;
}

void expect_same(const results& a, const results& b) {
  EXPECT_EQ(a.op_out, b.op_out);
  EXPECT_EQ(a.altered_out, b.altered_out);
  EXPECT_EQ(a.ac_out, b.ac_out);
  EXPECT_EQ(a.tran_time, b.tran_time);
  EXPECT_EQ(a.tran_out, b.tran_out);
}

// Sets SPICENN_WORKER_FAULT for the workers started in this scope.
class fault_scope {
 public:
  explicit fault_scope(const std::string& spec) { ::setenv("SPICENN_WORKER_FAULT", spec.c_str(), 1); }
  ~fault_scope() { ::unsetenv("SPICENN_WORKER_FAULT"); }
};

TEST(IsolatedEngine, GivesTheResultsOfAnEngineInThisProcess) {
  engine local;
  engine remote(isolated());
  const auto a = run_all(local), b = run_all(remote);
  expect_same(a, b);
  EXPECT_GT(a.op_out, 0.3);
  EXPECT_EQ(remote.deck(), local.deck());
  EXPECT_EQ(remote.vector_names(), local.vector_names());
  EXPECT_EQ(remote.current_plot(), local.current_plot());
  EXPECT_TRUE(remote.has_vector("v(out)"));
  EXPECT_FALSE(remote.has_vector("v(nowhere)"));
  EXPECT_EQ(remote.restarts(), 0u);
  EXPECT_NE(remote.id(), local.id());
}

TEST(IsolatedEngine, RaisesTheSameTypedErrors) {
  engine local;
  engine remote(isolated());
  for (auto* eng : {&local, &remote}) {
    try {
      eng->load("bad\nV1 in 0 DC 1\nD1 in 0 nosuchmodel\n.end\n");
      ADD_FAILURE() << "accepted a diode without a model";
    } catch (const netlist_error& e) {
      EXPECT_EQ(e.line_number(), 3u);
      EXPECT_EQ(e.netlist_line(), "D1 in 0 nosuchmodel");
      EXPECT_EQ(e.command(), "load");
    }
    EXPECT_FALSE(eng->loaded());
    EXPECT_THROW(eng->op(), command_error);  // nothing loaded
    eng->load(circuit);
    eng->op();
    try {
      (void)eng->real_vector("v(nowhere)");
      ADD_FAILURE() << "read a vector that does not exist";
    } catch (const vector_error& e) {
      EXPECT_EQ(e.vector_name(), "v(nowhere)");
    }
    EXPECT_THROW(eng->alter("nosuchdevice", 1.0), command_error);
    EXPECT_THROW(eng->check_node_voltages(0.1), convergence_error);  // v(in) = 1 V
  }
  // The messages are the same words.
  auto message = [](engine& eng) {
    try {
      eng.load("bad\nV1 in 0 DC 1\nD1 in 0 nosuchmodel\n.end\n");
    } catch (const spice_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const auto local_what = message(local);
  EXPECT_FALSE(local_what.empty());
  EXPECT_EQ(message(remote), local_what);
}

// Every kind of fault at the 3rd analysis of the first worker (the marker
// file makes it happen once): the calls give what an undisturbed engine
// gives, and restarts() counts the recovery.
TEST(IsolatedEngine, RecoversFromACrashAHangAndAFatalErrorWithTheSameResults) {
  engine reference;
  const auto expected = run_all(reference);
  for (const std::string kind : {"segv", "abort", "kill", "hang", "fatal"}) {
    SCOPED_TRACE(kind);
    const auto marker = spicenn::test::scratch_path("fault_" + kind);
    fault_scope fault(kind + "@3:" + marker.string());
    engine eng(isolated(kind == "hang" ? 1.0 : 60.0));
    const auto t0 = std::chrono::steady_clock::now();
    const auto got = run_all(eng);
    expect_same(got, expected);
    EXPECT_TRUE(std::filesystem::exists(marker)) << "the fault was not injected";
    EXPECT_EQ(eng.restarts(), 1u);  // a new worker, or (fatal) ngspice reloaded in the same one
    if (kind == "hang")
      EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  }
}

// A fault that comes back after the restart: a clear error naming the
// command, what happened and a saved copy of the netlist; the engine is
// usable again once the fault is gone.
TEST(IsolatedEngine, AFaultThatRecursIsAnErrorNamingTheCommandAndTheNetlist) {
  std::optional<engine> eng;
  {
    fault_scope fault("segv@1");  // every worker: its first analysis crashes
    eng.emplace(isolated());
    eng->load(circuit);
    try {
      eng->op();
      ADD_FAILURE() << "op succeeded";
    } catch (const engine_crash_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.command(), "op");
      EXPECT_NE(what.find("signal 11"), std::string::npos) << what;
      EXPECT_NE(what.find("restarted"), std::string::npos) << what;
      const auto at = what.find("saved in ");
      ASSERT_NE(at, std::string::npos) << what;
      const std::filesystem::path saved = what.substr(at + 9);
      std::ifstream in(saved);
      std::stringstream text;
      text << in.rdbuf();
      EXPECT_EQ(text.str(), circuit);
      std::filesystem::remove(saved);
    }
  }
  // The next call starts a worker without the fault and restores the circuit.
  eng->op();
  EXPECT_GT(eng->real_value("v(out)"), 0.3);
}

// This process's children (the workers), from /proc.
std::vector<pid_t> children() {
  std::vector<pid_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    for (pid_t p; in >> p;) out.push_back(p);
  }
  return out;
}

// After recycle_after_loads loads the next load starts a fresh worker (ngspice
// keeps a little memory per circuit): the same results, no restart counted.
TEST(IsolatedEngine, RecyclesItsWorkerAfterSoManyLoads) {
  auto options = isolated();
  options.recycle_after_loads = 2;
  engine eng(options);
  engine reference;
  std::vector<pid_t> seen;
  for (int i = 0; i < 5; ++i) {
    const auto r = run_all(eng);
    expect_same(r, run_all(reference));
    const auto now = children();
    ASSERT_EQ(now.size(), 1u);
    if (seen.empty() || seen.back() != now[0]) seen.push_back(now[0]);
  }
  EXPECT_EQ(seen.size(), 3u);  // loads 1-2, 3-4, 5
  EXPECT_EQ(eng.restarts(), 0u);
}

// A worker of another build (a stale SPICENN_NGSPICE_WORKER) refuses the
// start request: a clear error naming the program, no worker left behind.
TEST(IsolatedEngine, AWorkerOfAnotherBuildIsRefusedClearly) {
  fault_scope fault("version@0");
  try {
    engine eng(isolated());
    eng.load(circuit);
    eng.op();
    FAIL() << "a worker speaking another protocol version was used";
  } catch (const spicenn::error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("refused to start"), std::string::npos) << what;
    EXPECT_NE(what.find("another build of spicenn"), std::string::npos) << what;
    EXPECT_NE(what.find("spicenn-ngspice-worker"), std::string::npos) << what;
  }
  EXPECT_TRUE(children().empty());
}

// The worker dies with the process that started it (no orphans after kill -9).
TEST(IsolatedEngine, AWorkerDoesNotOutliveItsEngine) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    engine eng(isolated());
    eng.load(circuit);
    eng.op();
    ::pause();  // killed below
    std::_Exit(0);
  }
  // The worker: the child's child.
  const std::string children = "/proc/" + std::to_string(child) + "/task/" + std::to_string(child) + "/children";
  pid_t worker = -1;
  for (int i = 0; i < 500 && worker < 0; ++i) {
    std::ifstream in(children);
    if (!(in >> worker)) {
      worker = -1;
      ::usleep(20000);
    }
  }
  ASSERT_GT(worker, 0);
  ::kill(child, SIGKILL);
  int status;
  ::waitpid(child, &status, 0);
  // Gone, or a zombie waiting for whoever adopts orphans to reap it.
  auto alive = [&] {
    std::ifstream stat("/proc/" + std::to_string(worker) + "/stat");
    std::string pid, name, state;
    if (!(stat >> pid >> name >> state)) return false;
    return state != "Z" && state != "X";
  };
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !alive();
    if (!gone) ::usleep(20000);
  }
  EXPECT_TRUE(gone) << "worker " << worker << " outlived its engine's process";
}

}  // namespace
