// Classification rules for ngspice's printed output, on text recorded from
// ngspice 39 (embedded) runs.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spice/diagnose.hpp"
#include "spice/errors.hpp"

namespace {

using namespace spicenn::spice;

std::vector<output_line> err(std::initializer_list<const char*> lines) {
  std::vector<output_line> out;
  for (const char* l : lines) out.push_back({true, l});
  return out;
}

TEST(Diagnose, SuccessfulGminSteppingIsNotAnError) {
  // op on a circuit with a floating resistor: every stepping method "fails"
  // on the way, the transient op finally succeeds.
  auto out = err({"Warning: singular matrix:  check node c", "Note: Starting dynamic gmin stepping",
                  "Trying gmin =   1.0000E-03 Note: One successful gmin step", "Warning: Dynamic gmin stepping failed",
                  "Note: Starting true gmin stepping", "Warning: True gmin stepping failed",
                  "Note: Starting source stepping", "Supplies reduced to   0.0000% Warning: source stepping failed",
                  "Note: Transient op started", "Note: Transient op finished successfully"});
  out.insert(out.begin(), {false, "Doing analysis at TEMP = 27.000000 and TNOM = 27.000000"});
  out.push_back({false, "No. of Data Rows : 1"});
  EXPECT_NO_THROW(check_command_output("op", command_kind::analysis, out));
}

TEST(Diagnose, WarningsDuringSensAreNotErrors) {
  std::vector<output_line> out = {{false, "GET ERROR: Diode:dmod:d1 -> param lm (25)"}};
  EXPECT_NO_THROW(check_command_output("sens v(out)", command_kind::analysis, out));
}

TEST(Diagnose, AbortedAnalysisWithoutTimestepIsConvergenceError) {
  // Not observed with ngspice 39's defaults (they end in the transient op's
  // "Timestep too small"), but ngspice has the message for an iteration limit.
  auto out = err({"Warning: singular matrix:  check node x1", "doAnalyses: iteration limit reached",
                  "op simulation(s) aborted"});
  try {
    check_command_output("op", command_kind::analysis, out);
    ADD_FAILURE() << "no error";
  } catch (const timestep_error&) {
    ADD_FAILURE() << "not a timestep error";
  } catch (const convergence_error& e) {
    EXPECT_EQ(e.node(), "x1");
  }
}

TEST(Diagnose, BlamedNodeFromTheLastNodeVoltagesTable) {
  std::vector<output_line> out = {
      {true, "Error: Transient op failed, timestep too small"},
      {false, "DC solution failed -"},
      {false, "Last Node Voltages"},
      {false, "------------------"},
      {false, "Node                                   Last Voltage        Previous Iter"},
      {false, "----                                   ------------        -------------"},
      {false, "a                                                 1                    1"},
      {false, "b                                              -nan                 -nan"},
      {true, "doAnalyses: OP:  Timestep too small; cause unrecorded."},
      {true, "op simulation(s) aborted"}};
  try {
    check_command_output("op", command_kind::analysis, out);
    ADD_FAILURE() << "no error";
  } catch (const timestep_error& e) {
    EXPECT_EQ(e.node(), "b");
  }
  out[8].text = "doAnalyses: OP:  Timestep too small; trouble with dmod-instance d1";
  try {
    check_command_output("op", command_kind::analysis, out);
  } catch (const timestep_error& e) {
    EXPECT_EQ(e.node(), "d1");
  }
}

TEST(Diagnose, LocateNetlistLine) {
  const std::vector<std::string> deck = {"title", "V1 in 0 DC 1", ".subckt cell a b", "D1 a b dmod", ".ends",
                                         "X1 in 0 cell", "R1  In   0  1K", ".end"};
  EXPECT_EQ(locate_netlist_line(deck, 4, "d1 a b dmod"), 4u);         // number and name agree
  EXPECT_EQ(locate_netlist_line(deck, 40, "r1 in 0 1k"), 7u);         // number off: whitespace/case-normalised text
  EXPECT_EQ(locate_netlist_line(deck, 0, "r1 in 0 1000"), 7u);        // substituted value: unique device name
  EXPECT_EQ(locate_netlist_line(deck, 9, "d.x1.d1 in 0 dmod"), 4u);   // device inside a subcircuit instance
  EXPECT_EQ(locate_netlist_line(deck, 0, ".subckt cell a b"), 3u);
  EXPECT_EQ(locate_netlist_line(deck, 2, ""), 2u);                    // number only
  EXPECT_EQ(locate_netlist_line(deck, 0, "q1 c b e"), 0u);            // unknown
}

TEST(Diagnose, LoadErrorsBecomeNetlistErrors) {
  const std::vector<std::string> deck = {"t", "V1 in 0 DC 10", "B1 out 0 V = frob(v(in))", "R1 out 0 1k", ".end"};
  auto out = err({"Error: no such function 'frob'", "Error on line 3 or its substitute:", "b1 out 0 v= frob ( v(in) )",
                  "parameter value out of range or the wrong type"});
  out.insert(out.begin(), {false, "Circuit: t"});
  try {
    check_load_output(out, deck);
    ADD_FAILURE() << "no error";
  } catch (const netlist_error& e) {
    EXPECT_EQ(e.line_number(), 3u);
    EXPECT_EQ(e.netlist_line(), "B1 out 0 V = frob(v(in))");
    EXPECT_NE(std::string(e.what()).find("no such function 'frob'"), std::string::npos) << e.what();
  }
  // A title that mentions "error" is printed on stdout and is not an error.
  EXPECT_NO_THROW(check_load_output({{false, "Circuit: error test"}}, deck));
}

}  // namespace
