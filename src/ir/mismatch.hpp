// Fixed multiplicative variation of a KAN's crossbar conductances, as on a
// fabricated chip: layer{l}.coef_mismatch = 1 + σ·n with n standard normal,
// drawn once from a seed (the KANalogue robustness study perturbs
// coefficients the same way, c·(1 + σ·n)). The circuit realises c·m; the
// software model computes with c·m; training adapts c and leaves m alone.
//
//   auto m = ir::load_model("kan.xml");
//   ir::add_coefficient_mismatch(m, 0.1, /*seed=*/3);   // σ = 10 %
#pragma once

#include <cstdint>

#include "ir/model.hpp"

namespace spicenn::ir {

// Sets (replaces) layer{l}.coef_mismatch of every layer. A draw with
// 1 + σ·n < 0 would flip a conductance's sign, which no resistor does: it
// is clipped to 0 (an open). Throws spicenn::error for a non-KAN model or
// σ not finite and >= 0. Deterministic for a seed on every platform.
void add_coefficient_mismatch(model& m, double sigma, std::uint64_t seed);

}  // namespace spicenn::ir
