#include "ir/prune.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace spicenn::ir {

prune_report prune_mon(model& m, double siemens) {
  if (m.kind != family::mon) throw error(fmt::format("prune: applies to 'mon' models, not '{}'", to_string(m.kind)));
  if (!std::isfinite(siemens) || siemens < 0) throw error(fmt::format("prune: threshold {} S is not a conductance", siemens));
  prune_report r;
  r.threshold = siemens / (m.scale.ampere / m.scale.volt);
  auto prune = [&](double& g) {
    if (g == 0.0) return;
    if (std::abs(g) < r.threshold) {
      g = 0.0;
      ++r.removed;
    } else {
      ++r.kept;
    }
  };
  const auto hidden = static_cast<std::size_t>(m.size("hidden"));
  for (std::int64_t s = 0; s < m.size("stages"); ++s) {
    const auto p = fmt::format("stage{}.", s);
    auto& hp = m.parameter(p + "h_pos").values;
    auto& hn = m.parameter(p + "h_neg").values;
    auto& gg = m.parameter(p + "g_ground").values;
    const std::size_t fan_in = hp.size() / hidden;
    for (std::size_t j = 0; j < hidden; ++j)
      for (std::size_t k = 0; k < fan_in; ++k) {
        double& a = hp[j * fan_in + k];
        double& b = hn[j * fan_in + k];
        const auto merged = merge_input_pair(a, b);
        if (merged.ground > 0) ++r.pairs_merged;
        gg[j] += merged.ground;
        a = merged.pos;
        b = merged.neg;
        prune(a);
        prune(b);
      }
    // symmetric: the pair (j, k) and (k, j) is one resistor
    auto& gb = m.parameter(p + "g_between").values;
    for (std::size_t j = 0; j < hidden; ++j)
      for (std::size_t k = j + 1; k < hidden; ++k) {
        prune(gb[j * hidden + k]);
        gb[k * hidden + j] = gb[j * hidden + k];
      }
  }
  for (double& c : m.parameter("readout.weight").values) prune(c);
  return r;
}

prune_report prune_kan(model& m, double siemens) {
  if (m.kind != family::kan) throw error(fmt::format("prune: prune_kan applies to 'kan' models, not '{}'", to_string(m.kind)));
  if (!std::isfinite(siemens) || siemens < 0) throw error(fmt::format("prune: threshold {} S is not a conductance", siemens));
  if (m.find_parameter("layer0.bn_weight"))
    throw error("prune: the KAN has batch normalization; its circuit realises the folded coefficients, so fold it first");
  prune_report r;
  r.threshold = siemens / (m.scale.ampere / m.scale.volt);
  for (std::int64_t l = 0; l < m.size("layers"); ++l) {
    auto& c = m.parameter(fmt::format("layer{}.coef", l)).values;
    const auto* mismatch = m.find_parameter(fmt::format("layer{}.coef_mismatch", l));
    for (std::size_t k = 0; k < c.size(); ++k) {
      const double g = std::abs(c[k] * (mismatch ? mismatch->values[k] : 1.0));
      if (g == 0.0) continue;
      if (g < r.threshold) {
        c[k] = 0.0;
        ++r.removed;
      } else {
        ++r.kept;
      }
    }
  }
  return r;
}

}  // namespace spicenn::ir
