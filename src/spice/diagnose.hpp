// Turning ngspice's printed output into typed errors (used by engine.cpp).
//
// ngspice returns 0 from ngSpice_Circ / ngSpice_Command for most failures;
// the only signal is the text it prints. The engine records every line of
// one call (SendChar: "stdout ..." / "stderr ...") and hands it here:
//
//   std::vector<spicenn::spice::output_line> out = ...;   // one call's text
//   spicenn::spice::check_load_output(out, deck_lines);     // throws netlist_error
//   spicenn::spice::check_command_output("op", spicenn::spice::command_kind::analysis, out);
//
// Kept separate from the engine so that the classification rules can be
// unit-tested on recorded ngspice text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace spicenn::spice {

struct output_line {
  bool is_stderr = false;
  std::string text;  // without the "stdout "/"stderr " prefix
};

enum class command_kind {
  analysis,  // op, dc, ac, tran, sens, run: convergence is checked
  other,     // alter, reset, any other command
};

// Where in the deck ngspice's complaint points. `ngspice_line_number` and
// `quoted` are what ngspice printed ("Error on line 4 or its substitute:"
// followed by the lowercased, substituted line); the result is the 1-based
// line of `deck` that matches, or 0.
std::size_t locate_netlist_line(const std::vector<std::string>& deck, std::size_t ngspice_line_number,
                                std::string_view quoted);

// Throws netlist_error if the output of ngSpice_Circ reports an error.
void check_load_output(const std::vector<output_line>& output, const std::vector<std::string>& deck);

// Throws timestep_error / convergence_error / command_error if the output of
// ngSpice_Command(command) reports a failure.
void check_command_output(std::string_view command, command_kind kind, const std::vector<output_line>& output);

// The lines worth showing a user: errors, failures, warnings about singular
// matrices; gmin-stepping chatter dropped, repeats collapsed, at most
// max_lines. Joined with '\n'.
std::string relevant_messages(const std::vector<output_line>& output, std::size_t max_lines = 20);

// Fatal error (ControlledExit) during a call: builds the engine_fatal_error
// message from that call's output; for ngSpice_Circ (`deck` non-null) it
// also locates the netlist line ngspice blamed.
[[noreturn]] void throw_fatal(std::string_view command, const std::vector<output_line>& output,
                              const std::vector<std::string>* deck, std::string_view extra);

}  // namespace spicenn::spice
