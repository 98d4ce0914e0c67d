// Batch evaluation: many input vectors in one ngspice DC sweep.
//
// Instead of `alter` + `op` per sample (each op starts cold), the input
// voltage sources are replaced by B sources that read their value from a
// sample-index source:
//
//   Vin1 a 0 DC 0.3    ->   bspicenn_vin1 a 0 v=pwl(v(spicenn_idx), 0,x0, 1,x1, ..., N-1,xN-1)
//   (added)                 vspicenn_idx spicenn_idx 0 dc 0
//
// and one `dc vspicenn_idx 0 N-1 1` evaluates every sample, each sweep point
// starting from the previous solution. Large batches are split into chunks
// (one load + sweep each).
//
//   Eigen::MatrixXd x(1000, 2);   // 1000 samples of the inputs vin1, vin2
//   ...
//   Eigen::MatrixXd y = spicenn::spice::evaluate_batch(
//       eng, netlist, {"Vin1", "Vin2"}, x, {"v(out1)", "v(out2)"});
//   // y(i, j): probe j for sample i, as alter(vin1, x(i,0)); alter(vin2, x(i,1)); op()
//
// Input source lines must have the form `V<name> n+ n- [DC] value` (one
// line, no continuation); current sources `I<name> n+ n- [DC] value` are
// swept the same way (a B source `i=pwl(...)`, same direction). Probes are vector names of a DC sweep: node
// voltages ("v(out)", "out"), branch currents ("i(vdd)", "vdd#branch";
// the current of an input source itself is that of its B source and is
// mapped for you), device quantities ("@d1[id]").
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "spice/engine.hpp"

namespace spicenn::spice {

struct batch_options {
  // Samples per sweep. Each chunk is one load + one sweep; the deck holds
  // one pwl line per input with chunk_size points.
  std::size_t chunk_size = 1000;
  // If set, every real node voltage of every sweep point must lie within
  // +-voltage_bound (see engine::check_node_voltages); the error names the
  // sample index.
  std::optional<double> voltage_bound;
};

// The name of the sample-index source and node added to the deck.
inline constexpr std::string_view sample_index_source = "vspicenn_idx";
inline constexpr std::string_view sample_index_node = "spicenn_idx";

// The B source that replaces input source `name` ("vin1" -> "bspicenn_vin1").
std::string batch_source_name(std::string_view input_source);

// The deck evaluate_batch loads for `samples` (rows: samples, columns: the
// input sources, in order). Throws netlist_error naming the line if an input
// source is missing, duplicated or not of the form `V<name> n+ n- [DC] value`.
// Exposed for inspection and tests.
std::string sweep_netlist(std::string_view netlist, const std::vector<std::string>& input_sources,
                          const Eigen::Ref<const Eigen::MatrixXd>& samples);

// Evaluates every row of `samples` and returns a samples.rows() x
// probes.size() matrix. Leaves the last chunk's circuit loaded in `eng`.
Eigen::MatrixXd evaluate_batch(engine& eng, std::string_view netlist, const std::vector<std::string>& input_sources,
                               const Eigen::Ref<const Eigen::MatrixXd>& samples, const std::vector<std::string>& probes,
                               const batch_options& options = {});

}  // namespace spicenn::spice
