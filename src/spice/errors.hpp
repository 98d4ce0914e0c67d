// Errors raised by the embedded ngspice engine (spice/engine.hpp).
//
// ngspice reports most failures only as text (its calls return 0 for a
// netlist that did not parse and for an analysis that did not converge), so
// the engine captures everything ngspice prints during a call and turns a
// failure into one of these types. Each carries the command that failed and
// ngspice's own words; netlist_error also carries the offending netlist line.
//
//   try {
//     eng.load(deck);
//     eng.op();
//   } catch (const spicenn::spice::netlist_error& e) {
//     // e.line_number() == 4, e.netlist_line() == "D1 out 0 nomodel"
//     // e.what(): "ngspice rejected the netlist at line 4: could not find a
//     //            valid modelname\n  line 4: D1 out 0 nomodel\n  ngspice: ..."
//   } catch (const spicenn::spice::convergence_error& e) {
//     // also catches timestep_error; e.node() may name the culprit node
//   }
//
// Hierarchy (all derive from spicenn::simulation_error):
//   spice_error                  common base: command(), ngspice_message(),
//   |                            line_number(), netlist_line()
//   +- netlist_error             the deck did not parse (line number and text)
//   +- convergence_error         an analysis failed to converge or an
//   |  |                         implausible solution (check_node_voltages)
//   |  +- timestep_error         "timestep too small"
//   +- engine_fatal_error        ngspice called ControlledExit, or the library
//   |  |                         could not be loaded; the engine was reloaded
//   |  +- engine_crash_error     an isolated engine's worker process died or
//   |                            hung, twice (restarted each time)
//   +- command_error             a command was rejected (unknown command,
//   |                            unknown device in alter or dc, bad arguments)
//   +- vector_error              no such vector / wrong kind of vector
#pragma once

#include <cstddef>
#include <string>

#include "core/error.hpp"

namespace spicenn::spice {

class spice_error : public simulation_error {
 public:
  // what() is `summary`, then the netlist line (if any), then ngspice's
  // message, indented, one line each.
  spice_error(std::string command, const std::string& summary, std::string ngspice_message,
              std::size_t line_number = 0, std::string netlist_line = {});

  // The command that failed: "op", "alter r1 = 2", "load" (ngSpice_Circ), ...
  const std::string& command() const { return command_; }
  // The error lines ngspice printed during that command (may be empty).
  const std::string& ngspice_message() const { return ngspice_message_; }
  // 1-based line of the loaded deck (line 1 is the title) that ngspice
  // blamed, 0 if none or if it could not be found in the deck.
  std::size_t line_number() const { return line_number_; }
  // That line as given to load(), or ngspice's quotation of it when it
  // could not be found in the deck; empty if ngspice named no line.
  const std::string& netlist_line() const { return netlist_line_; }
  // The first line of what(), without the netlist line and ngspice's words.
  const std::string& summary() const { return summary_; }

 private:
  std::string summary_;
  std::string command_;
  std::string ngspice_message_;
  std::size_t line_number_;
  std::string netlist_line_;
};

// The netlist was rejected by ngspice's parser (line_number(), netlist_line()).
class netlist_error : public spice_error {
 public:
  netlist_error(const std::string& summary, std::string ngspice_message, std::size_t line_number,
                std::string netlist_line);
};

// An analysis did not converge, or its result is implausible.
class convergence_error : public spice_error {
 public:
  // node: the node, branch ("v1#branch") or device instance ("d1") that
  // ngspice (or the plausibility check) blamed; may be empty.
  convergence_error(std::string command, const std::string& summary, std::string ngspice_message,
                    std::string node = {});
  const std::string& node() const { return node_; }

 private:
  std::string node_;
};

// "Timestep too small": a transient (or the transient operating point) gave up.
class timestep_error : public convergence_error {
 public:
  using convergence_error::convergence_error;
};

// ngspice hit an internal fatal error (ControlledExit) or could not be loaded.
// When raised by a call on an engine, the engine has already been reloaded
// with a fresh copy of the library: it is usable, but the circuit is gone.
// Fatal errors while loading a deck (e.g. a .subckt without .ends, an
// undefined .param) also name the netlist line when ngspice gives one.
class engine_fatal_error : public spice_error {
 public:
  using spice_error::spice_error;
};

// An isolated engine's worker process died (a signal, an exit) or did not
// answer within the time limit, was restarted, and the call failed again
// after the restart and one retry (engine_options::isolation). The engine
// is usable; the circuit it held is loaded again on the next call.
class engine_crash_error : public engine_fatal_error {
 public:
  using engine_fatal_error::engine_fatal_error;
};

// ngspice refused a command: unknown command, device or parameter.
class command_error : public spice_error {
 public:
  using spice_error::spice_error;
};

// A vector that does not exist in the current plot, or has the wrong kind.
class vector_error : public spice_error {
 public:
  vector_error(std::string vector_name, const std::string& summary, std::string ngspice_message = {});
  const std::string& vector_name() const { return vector_name_; }

 private:
  std::string vector_name_;
};

}  // namespace spicenn::spice
