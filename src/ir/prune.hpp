// Removing the weakest conductances of a MON, so that its circuit uses only
// resistors up to a given value (e.g. 1 MOhm: conductances >= 1 uS).
//
// Each input pair is first put in its merged form, the one the compiler
// realises (compiler/mon_compiler.hpp): h_pos, h_neg -> (d)+, (-d)+ with
// d = h_pos - h_neg, and 2*min(h_pos, h_neg) added to g_ground. That step
// changes no node voltage. Then every realised conductance below the
// threshold is set to zero: merged input pairs, g_between, readout weights
// (|C|). g_ground is kept (it holds every node's path to ground). What the
// pruning costs in accuracy is for `spicenn eval` / `verify` to show.
//
//   auto report = spicenn::ir::prune_mon(model, 1e-6);   // siemens
//   report.removed;   // conductances set to zero
#pragma once

#include <cstddef>

#include "ir/model.hpp"

namespace spicenn::ir {

// One input pair in merged form: conductances to +x and to −x (at most one
// nonzero) and the conductance added to ground; the current into the node,
// (h_pos − h_neg)·x − (h_pos + h_neg)·v, is unchanged.
struct merged_input_pair {
  double pos = 0.0, neg = 0.0, ground = 0.0;
};
inline merged_input_pair merge_input_pair(double h_pos, double h_neg) {
  const double common = h_pos < h_neg ? h_pos : h_neg;
  return {h_pos - common, h_neg - common, 2.0 * common};
}

struct prune_report {
  std::size_t pairs_merged = 0;  // input pairs with both conductances > 0 before
  std::size_t removed = 0;       // realised conductances set to zero
  std::size_t kept = 0;          // realised conductances left (> 0)
  double threshold = 0.0;        // normalized units
};

// Throws spicenn::error for a non-MON model or a threshold that is not finite and >= 0.
prune_report prune_mon(model& m, double siemens);

// KAN: sets every coefficient whose crossbar conductance |c·m|·G_unit is
// below `siemens` to zero (no resistor). The model must have no batch
// normalization (the circuit's conductances are those of the folded model:
// fold first, models::kan_fold_batch_norm); throws spicenn::error otherwise.
prune_report prune_kan(model& m, double siemens);

}  // namespace spicenn::ir
