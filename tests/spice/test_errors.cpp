// Every failure of the engine becomes a typed error with ngspice's words and,
// for netlist problems, the offending line.
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "spice/engine.hpp"

namespace {

using namespace spicenn::spice;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs f, expects exception E, returns it.
template <class E, class F>
E expect_error(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type " << typeid(e).name() << ": " << e.what();
    throw;
  }
  ADD_FAILURE() << "no exception";
  throw std::logic_error("no exception");
}

TEST(EngineErrors, UnknownModelNamesTheLine) {
  engine eng;
  auto e = expect_error<netlist_error>([&] {
    eng.load("unknown model\nV1 in 0 DC 10\nR1 in out 1k\nD1 out 0 NoSuchModel\n.end\n");
  });
  EXPECT_EQ(e.line_number(), 4u);
  EXPECT_EQ(e.netlist_line(), "D1 out 0 NoSuchModel");  // as written, not lowercased
  EXPECT_EQ(e.command(), "load");
  EXPECT_TRUE(contains(e.what(), "line 4")) << e.what();
  EXPECT_TRUE(contains(e.what(), "could not find a valid modelname")) << e.what();
  EXPECT_TRUE(contains(e.ngspice_message(), "nosuchmodel")) << e.ngspice_message();
  EXPECT_FALSE(eng.loaded());
  // The engine refuses to run an analysis on the failed deck.
  EXPECT_THROW(eng.op(), command_error);
}

TEST(EngineErrors, UnknownSubcircuitNamesTheLine) {
  engine eng;
  auto e = expect_error<netlist_error>([&] {
    eng.load("unknown subckt\nV1 in 0 DC 10\n* a comment\nR1 in out 1k\nX1 out 0 nosub\n.end\n");
  });
  EXPECT_EQ(e.line_number(), 5u);
  EXPECT_EQ(e.netlist_line(), "X1 out 0 nosub");
  EXPECT_TRUE(contains(e.what(), "unknown subckt")) << e.what();
}

TEST(EngineErrors, BadExpressionNamesTheLine) {
  engine eng;
  auto e = expect_error<netlist_error>([&] {
    eng.load("bad expression\nV1 in 0 DC 10\nB1 out 0 V = v(in) * frob(2)\nR1 out 0 1k\n.end\n");
  });
  EXPECT_EQ(e.line_number(), 3u);
  EXPECT_EQ(e.netlist_line(), "B1 out 0 V = v(in) * frob(2)");
  EXPECT_TRUE(contains(e.what(), "no such function 'frob'")) << e.what();
}

TEST(EngineErrors, MissingIncludeFileNamesTheLine) {
  engine eng;
  auto e = expect_error<netlist_error>([&] {
    eng.load("include\nV1 a 0 DC 1\n.include /nonexistent/spicenn/models.lib\nR1 a 0 1k\n.end\n");
  });
  EXPECT_EQ(e.line_number(), 3u);
  EXPECT_TRUE(contains(e.what(), "/nonexistent/spicenn/models.lib")) << e.what();
}

TEST(EngineErrors, ErrorsInOneDeckDoNotLeakIntoTheNext) {
  engine eng;
  EXPECT_THROW(eng.load("bad\nV1 a 0 DC 1\nR1 a 0 rubbish\n.end\n"), netlist_error);
  eng.load("good\nV1 a 0 DC 1\nR1 a 0 1k\n.end\n");
  eng.op();
  EXPECT_NEAR(eng.real_value("i(v1)"), -1e-3, 1e-15);
}

TEST(EngineErrors, VoltageSourceLoopIsTimestepError) {
  engine eng;
  eng.load("loop\nV1 a 0 DC 1\nV2 a 0 DC 2\nR1 a 0 1k\n.end\n");
  auto e = expect_error<timestep_error>([&] { eng.op(); });
  EXPECT_TRUE(contains(e.what(), "timestep too small")) << e.what();
  EXPECT_TRUE(e.node() == "v1#branch" || e.node() == "v2#branch") << e.node();
  EXPECT_EQ(e.command(), "op");
  // timestep_error is a convergence_error is a simulation_error.
  EXPECT_THROW(eng.op(), convergence_error);
  EXPECT_THROW(eng.op(), spicenn::simulation_error);
}

TEST(EngineErrors, TransientTimestepTooSmall) {
  engine eng;
  eng.load("tran loop\nV1 a 0 DC 1\nV2 a 0 SIN(0 1 1k)\nR1 a 0 1k\n.end\n");
  tran_options opt;
  opt.uic = true;
  auto e = expect_error<timestep_error>([&] { eng.tran(1e-6, 1e-3, opt); });
  EXPECT_TRUE(contains(e.command(), "tran")) << e.command();
  EXPECT_TRUE(contains(e.ngspice_message(), "Timestep too small")) << e.ngspice_message();
}

TEST(EngineErrors, RunawayDiodeDoesNotConverge) {
  // A B source pushing exp(50 v) amperes into a diode node: Newton, gmin and
  // source stepping and the transient op all fail.
  engine eng;
  eng.load("runaway\nV1 a 0 DC 1\nR1 a b 1k\nD1 b 0 dmod\nB1 0 b I = 1e3*exp(50*v(b))\n"
           ".model dmod D(IS=1e-14)\n.end\n");
  auto e = expect_error<timestep_error>([&] { eng.op(); });
  EXPECT_FALSE(e.node().empty()) << e.what();
}

TEST(EngineErrors, ImplausibleOperatingPointIsReported) {
  // 1 A pushed into a node whose only way out sinks 0.5 A: ngspice
  // "converges" to ~5e11 V without complaint.
  const char* deck = "sink limited\nI1 0 a DC 1\nD1 a b dmod\nI2 b 0 DC 0.5\nR9 b 0 1e12\n"
                     ".model dmod D(IS=1e-14)\n.end\n";
  engine eng;
  eng.load(deck);
  eng.op();  // no error from ngspice itself
  EXPECT_GT(std::abs(eng.real_value("v(b)")), 1e9);
  auto e = expect_error<convergence_error>([&] { eng.check_node_voltages(100); });
  EXPECT_TRUE(e.node() == "a" || e.node() == "b") << e.node();
  EXPECT_TRUE(contains(e.what(), "plausibility bound of 100 V")) << e.what();
  EXPECT_TRUE(contains(e.what(), "node '" + e.node() + "'")) << e.what();

  // As an engine option, op() itself fails.
  engine_options opt;
  opt.voltage_bound = 100;
  engine checked(opt);
  checked.load(deck);
  EXPECT_THROW(checked.op(), convergence_error);
  // A sane circuit passes the same check.
  checked.load("fine\nV1 a 0 DC 50\nR1 a b 1k\nR2 b 0 1k\n.end\n");
  checked.op();
  EXPECT_NEAR(checked.real_value("v(b)"), 25, 1e-12);
  EXPECT_THROW(checked.check_node_voltages(40), convergence_error);  // v(a) = 50 V
}

TEST(EngineErrors, FatalErrorReloadsTheLibrary) {
  engine eng;
  const int id = eng.id();
  eng.load("first\nV1 a 0 DC 1\nR1 a 0 1k\n.end\n");
  eng.op();
  // A .subckt without .ends makes ngspice call ControlledExit.
  auto e = expect_error<engine_fatal_error>([&] {
    eng.load("broken\n.subckt foo a b\nR1 a b 1k\nV1 in 0 DC 10\nR2 in 0 1k\n.end\n");
  });
  EXPECT_EQ(e.line_number(), 2u);
  EXPECT_EQ(e.netlist_line(), ".subckt foo a b");
  EXPECT_TRUE(contains(e.what(), "fatal")) << e.what();
  EXPECT_TRUE(contains(e.what(), "Mismatch of .subckt ... .ends")) << e.what();
  EXPECT_TRUE(contains(e.what(), "reloaded")) << e.what();
  EXPECT_EQ(eng.restarts(), 1u);
  EXPECT_FALSE(eng.loaded());
  EXPECT_THROW(eng.op(), command_error);
  // A dead ngspice answers "circuit not parsed" to everything; the reloaded one works.
  eng.load("after\nV1 a 0 DC 2\nR1 a b 1k\nR2 b 0 1k\n.end\n");
  eng.op();
  EXPECT_NEAR(eng.real_value("v(b)"), 1.0, 1e-12);
  EXPECT_EQ(eng.id(), id);
}

TEST(EngineErrors, UndefinedParameterIsFatalWithLine) {
  engine eng;
  auto e = expect_error<engine_fatal_error>([&] {
    eng.load("params\n.param a = {b*2}\nV1 in 0 DC {a}\nR1 in 0 1k\n.end\n");
  });
  EXPECT_EQ(e.line_number(), 2u);
  EXPECT_TRUE(contains(e.what(), "Undefined parameter [b]")) << e.what();
  eng.load("ok\n.param a = 3\nV1 in 0 DC {a}\nR1 in 0 1k\n.end\n");
  eng.op();
  EXPECT_NEAR(eng.real_value("v(in)"), 3.0, 1e-12);
  EXPECT_EQ(eng.restarts(), 1u);
}

TEST(EngineErrors, RepeatedFatalErrorsKeepRecovering) {
  engine eng;
  for (int i = 0; i < 5; ++i) {
    EXPECT_THROW(eng.load("broken\n.subckt foo a b\nR1 a b 1k\n.end\n"), engine_fatal_error);
    eng.load(fmt::format("ok\nV1 a 0 DC {}\nR1 a 0 1k\n.end\n", i + 1));
    eng.op();
    EXPECT_NEAR(eng.real_value("v(a)"), i + 1, 1e-12);
  }
  EXPECT_EQ(eng.restarts(), 5u);
}

TEST(EngineErrors, BadVectorName) {
  engine eng;
  eng.load("v\nV1 a 0 DC 1\nR1 a 0 1k\n.end\n");
  eng.op();
  auto e = expect_error<vector_error>([&] { eng.real_vector("v(nosuch)"); });
  EXPECT_EQ(e.vector_name(), "v(nosuch)");
  EXPECT_TRUE(contains(e.what(), "v1#branch")) << "lists what exists: " << e.what();
  EXPECT_FALSE(eng.has_vector("nosuch"));
  EXPECT_TRUE(eng.has_vector("v(a)"));
  eng.dc("v1", 0, 1, 0.5);
  EXPECT_THROW(eng.real_value("v(a)"), vector_error);  // 3 values, not one
}

TEST(EngineErrors, RejectedCommands) {
  engine eng;
  eng.load("v\nV1 a 0 DC 1\nR1 a 0 1k\n.end\n");
  auto unknown_device = expect_error<command_error>([&] { eng.alter("rnone", 1.0); });
  EXPECT_TRUE(contains(unknown_device.what(), "no such device")) << unknown_device.what();
  EXPECT_EQ(unknown_device.command(), "alter rnone = 1");
  auto unknown_param = expect_error<command_error>([&] { eng.alter("r1", "nosuch", 1.0); });
  EXPECT_TRUE(contains(unknown_param.what(), "no such parameter")) << unknown_param.what();
  auto unknown_source = expect_error<command_error>([&] { eng.dc("vnone", 0, 1, 0.1); });
  EXPECT_TRUE(contains(unknown_source.what(), "not in the circuit")) << unknown_source.what();
  auto unknown_command = expect_error<command_error>([&] { eng.command("frobnicate 3"); });
  EXPECT_TRUE(contains(unknown_command.what(), "no such command")) << unknown_command.what();
  EXPECT_THROW(eng.alter("r1; shell true", 1.0), command_error);  // not a name
  EXPECT_THROW(eng.alter("r1", std::nan("")), command_error);
  // None of this broke the circuit.
  eng.op();
  EXPECT_NEAR(eng.real_value("v(a)"), 1.0, 1e-12);
}

TEST(EngineErrors, ControlBlocksAreRefusedUnlessAllowed) {
  const char* deck = "ctl\nV1 a 0 DC 1\nR1 a 0 1k\n.control\necho from control\n.endc\n.end\n";
  engine eng;
  auto e = expect_error<netlist_error>([&] { eng.load(deck); });
  EXPECT_EQ(e.line_number(), 4u);
  engine_options opt;
  opt.allow_control_blocks = true;
  engine trusting(opt);
  trusting.load(deck);
  EXPECT_TRUE(contains(trusting.last_output(), "from control")) << trusting.last_output();
}

TEST(EngineErrors, MissingLibraryIsReported) {
  engine_options opt;
  opt.library_path = "/nonexistent/libngspice.so.0";
  auto e = expect_error<engine_fatal_error>([&] { engine eng(opt); });
  EXPECT_TRUE(contains(e.what(), "/nonexistent/libngspice.so.0")) << e.what();
}

}  // namespace
