#include "ir/mismatch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"
#include "ir/schema.hpp"

namespace spicenn::ir {

void add_coefficient_mismatch(model& m, double sigma, std::uint64_t seed) {
  if (m.kind != family::kan) throw error(fmt::format("coefficient mismatch: the model is a {}, not a kan", to_string(m.kind)));
  if (!std::isfinite(sigma) || sigma < 0)
    throw error(fmt::format("coefficient mismatch: sigma = {} must be finite and >= 0", sigma));
  rng r(seed);
  for (std::int64_t l = 0; l < m.size("layers"); ++l) {
    const std::string name = fmt::format("layer{}.coef_mismatch", l);
    const auto& coef = m.parameter(fmt::format("layer{}.coef", l));
    tensor t{name, coef.shape, constraint::none, false, {}};
    t.values.reserve(coef.values.size());
    for (std::size_t k = 0; k < coef.values.size(); ++k) t.values.push_back(std::max(0.0, 1.0 + sigma * r.normal()));
    std::erase_if(m.parameters, [&](const tensor& x) { return x.name == name; });
    m.parameters.push_back(std::move(t));
  }
  validate(m);
}

}  // namespace spicenn::ir
