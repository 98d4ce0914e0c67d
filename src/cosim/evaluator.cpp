#include "cosim/evaluator.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "cosim/kan_evaluators.hpp"
#include "cosim/kirchhoffnet_evaluators.hpp"
#include "cosim/mon_evaluators.hpp"

namespace spicenn::cosim {

std::string_view to_string(engine_kind k) {
  switch (k) {
    case engine_kind::software: return "software";
    case engine_kind::spice: return "spice";
    case engine_kind::finite_differences: return "fd";
  }
  return "?";
}

engine_kind engine_kind_from_string(std::string_view name) {
  if (name == "software") return engine_kind::software;
  if (name == "spice") return engine_kind::spice;
  if (name == "fd") return engine_kind::finite_differences;
  throw error(fmt::format("unknown engine '{}': choose software, spice or fd", name));
}

std::string_view to_string(spice_transient t) { return t == spice_transient::precise ? "precise" : "standard"; }

spice_transient spice_transient_from_string(std::string_view name) {
  if (name == "precise") return spice_transient::precise;
  if (name == "standard") return spice_transient::standard;
  throw error(fmt::format("unknown transient accuracy '{}': choose precise or standard", name));
}

std::string_view to_string(spice_gradient g) {
  switch (g) {
    case spice_gradient::automatic: return "auto";
    case spice_gradient::small_signal: return "ac";
    case spice_gradient::nudged: return "nudge";
  }
  return "?";
}

spice_gradient spice_gradient_from_string(std::string_view name) {
  if (name == "auto") return spice_gradient::automatic;
  if (name == "ac") return spice_gradient::small_signal;
  if (name == "nudge") return spice_gradient::nudged;
  throw error(fmt::format("unknown spice gradient method '{}': choose auto, ac or nudge", name));
}

std::vector<std::string> trainable_tensors(const ir::model& m) {
  std::vector<std::string> names;
  for (const auto& t : m.parameters)
    if (t.trainable && t.kind != ir::constraint::index) names.push_back(t.name);
  return names;
}

std::unique_ptr<evaluator> make_evaluator(const ir::model& m, engine_kind kind, const evaluator_options& options) {
  if (kind == engine_kind::finite_differences) return make_fd_evaluator(m, options);
  if (m.kind == ir::family::mon) {
    if (kind == engine_kind::software) return make_mon_software_evaluator(m, options);
    if (kind == engine_kind::spice) return make_mon_spice_evaluator(m, options);
  }
  if (m.kind == ir::family::kan) {
    if (kind == engine_kind::software) return make_kan_software_evaluator(m, options);
    if (kind == engine_kind::spice) return make_kan_spice_evaluator(m, options);
  }
  if (m.kind == ir::family::kirchhoffnet) {
    if (kind == engine_kind::software) return make_kirchhoffnet_software_evaluator(m, options);
    if (kind == engine_kind::spice) return make_kirchhoffnet_spice_evaluator(m, options);
  }
  throw error(fmt::format("the {} engine is not implemented for the {} family (implemented: software, spice, fd)",
                          to_string(kind), ir::to_string(m.kind)));
}

}  // namespace spicenn::cosim
