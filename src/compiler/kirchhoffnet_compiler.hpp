// Lowers a KirchhoffNet model to a standalone SPICE netlist (docs/models.md
// §3, docs/kirchhoffnet.md "Circuit").
//
// Nodes n1..n<N> over ground 0. Capacitor c<i> (C_i·farad, ic = the input
// value·volt on nodes 1..inputs, 0 elsewhere) from each node to ground. Edge
// e of slice k is the B element b<k>_<e> from its source node to its
// destination node with
//     i = v(g<k>) · ampere · f(v(ns)/volt, v(nd)/volt; θ)
// where f is the edge function's registry `spice_expression` (so a newly
// registered function compiles without changes here). θ_{k,e,p} is read as
// the voltage of node th<k>_<e>_<p>, held by
//   - theta_storage::voltage_source: vth<k>_<e>_<p> (dc θ V), or
//   - theta_storage::current_into_resistor: ith<k>_<e>_<p> (dc θ A) into the
//     1 ohm resistor rth<k>_<e>_<p>: the same voltage without a branch row;
// both change in place with `alter <source> dc = θ`. theta_storage::inline_values
// writes the numbers into the expressions instead (inference only: no θ
// nodes, nothing to alter).
//
// Slices are gated within one transient: v(g<k>) is a pwl source vg<k>,
// 1 during slice k and 0 outside, each boundary a linear ramp of width δ
// centred on it (the ramps of the two slices sum to 1, and the first-order
// error of the ramp cancels: docs/kirchhoffnet.md). A model with one slice
// of positive duration has no gate; a slice of duration 0 changes nothing
// and is omitted (its names are empty).
//
// Outputs: the VCVS buffers eout<o> give out<o> = v(n<k>) for the model's
// output nodes; `.tran tstep T 0 tmax uic` and `.meas tran out<o>_t find
// v(out<o>) at=T·(1 − 1e-10)` make `ngspice -b` print them (volts: divide
// by volt; ngspice's last point can fall an ulp short of T).
//
//   auto m = spicenn::ir::load_model("kn.xml");
//   auto net = spicenn::compiler::compile_kirchhoffnet(m, {.inputs = {0.2, 0.7}});
//   write(net.text);   // runs in `ngspice -b` and in spicenn::spice::engine
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "compiler/netlist_writer.hpp"
#include "ir/model.hpp"

namespace spicenn::compiler {

enum class theta_storage { voltage_source, current_into_resistor, inline_values };

struct kirchhoffnet_compile_options {
  std::vector<double> inputs;  // normalized initial voltages of nodes 1..inputs; empty = all zero
  theta_storage theta = theta_storage::current_into_resistor;
  // Gate ramp width δ as a fraction of the shortest slice of positive duration; in (0, 0.5].
  double gate_transition = 1e-3;
  // Largest internal time step in normalized time units (the .tran tmax); 0 = the print step T/200.
  double max_step = 0.0;
  bool transient_cards = true;  // .tran and the .meas of every output (for `ngspice -b`)
  // Only this slice, as a circuit of its own: its edges, no gate, time from
  // 0 to its duration (the co-simulation runs the slices as consecutive
  // transients that carry the state, so each Newton iteration evaluates one
  // slice's sources instead of all of them). -1 = every slice, gated.
  int only_slice = -1;
  std::string source_name;      // shown in the header comment
  std::vector<std::pair<std::string, double>> simulator_options;  // e.g. kirchhoffnet_precise_simulator_options()
};

// Tight transient tolerances for agreement with the software ODE: reltol
// 1e-7, vntol 1e-9·volt, abstol 1e-9·ampere, chgtol 1e-9·farad·volt and
// trtol 1 (ngspice's defaults reltol=1e-3, trtol=7 leave ~1e-3 errors).
// Pair with max_step ≈ T/1000 for long slices.
std::vector<std::pair<std::string, double>> kirchhoffnet_precise_simulator_options(const ir::physical_scale& scale);

struct compiled_kirchhoffnet {
  std::string text;
  std::vector<std::string> nodes;          // [i] "n<i+1>"
  std::vector<std::string> capacitors;     // [i] "c<i+1>": `alter c<i> ic = v` sets an initial voltage
  std::vector<std::string> output_nodes;   // [o] "out<o>"
  std::vector<std::size_t> output_model_nodes;  // [o] model node (1-based) that out<o> copies
  std::vector<std::string> gate_sources;   // [k] "vg<k>"; empty name: no gate (one active slice, or duration 0)
  std::vector<std::vector<std::string>> edge_sources;   // [k][e] "b<k>_<e>"; empty for a slice of duration 0
  // [k][e·theta + p]: the source to alter for θ_{k,e,p} ("vth.." or "ith.."); empty with inline_values.
  std::vector<std::vector<std::string>> theta_sources;
  std::vector<double> slice_start;         // [k] seconds
  double stop_time = 0.0;                  // T in seconds
  double gate_width = 0.0;                 // δ in seconds (0: no gate)
  double volt = 1.0, ampere = 1e-4, second = 1e-5;
  std::size_t elements = 0, edges = 0, theta_values = 0;
  std::size_t mna_unknowns = 0;            // node voltages + branch currents ngspice solves for
  double min_farads = 0.0, max_farads = 0.0, min_theta = 0.0, max_theta = 0.0;
};

// Throws lowering_error (or validation_error from the IR) naming the tensor,
// edge or option that cannot be realised.
compiled_kirchhoffnet compile_kirchhoffnet(const ir::model& m, const kirchhoffnet_compile_options& options = {});

// The circuit adjoint of one sample (docs/models.md §3 "Gradient"): the
// linearized, time-reversed circuit, in normalized units (1 F, 1 s = one
// time unit). With μ_i = λ_i / C_i and τ = T − t, an adjoint node a<i> per
// node with capacitance C_i and initial voltage μ_i(τ=0) = ∂L/∂v_i(T) / C_i;
// per edge e = (s → d), behavioural sources inject (μ_d − μ_s)·∂f/∂v_s into
// a<s> and (μ_d − μ_s)·∂f/∂v_d into a<d>, the partials evaluated on the
// forward trajectory, replayed backward by a pwl source f<i> per node; and
// per θ an integrator node g<k>_<e>_<p> (1 F, from 0) fed (μ_d − μ_s)·∂f/∂θ.
// At τ = T: λ(0) = C·v(a), ∂L/∂θ = v(g…). Slices gated in τ like the
// forward. The partials come from the registry's spice_partials.
struct kirchhoffnet_adjoint_deck {
  std::string text;
  std::vector<std::string> adjoint_nodes;                // [i] "a<i+1>"
  std::vector<std::vector<std::string>> theta_integrals;  // [k][e·theta + p] "g<k>_<e>_<p>"; empty for a skipped slice
  double stop = 0.0;                                      // T, normalized
};
// forward_times: the forward transient's times (seconds, ascending, from 0
// to T·second); forward_volts: per node 1..N its voltages at those times
// (volts); lambda_end: ∂L/∂v(T) per node (normalized).
kirchhoffnet_adjoint_deck compile_kirchhoffnet_adjoint(const ir::model& m, const std::vector<double>& forward_times,
                                                       const std::vector<std::vector<double>>& forward_volts,
                                                       const std::vector<double>& lambda_end,
                                                       const std::vector<std::pair<std::string, double>>& simulator_options = {});

// "vsource", "resistor", "inline" (the CLI's --theta values).
theta_storage theta_storage_from_string(std::string_view name);

}  // namespace spicenn::compiler
