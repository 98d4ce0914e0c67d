#include "compiler/kirchhoffnet_compiler.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "compiler/netlist_template.hpp"
#include "core/error.hpp"
#include "ir/edge_functions.hpp"
#include "ir/schema.hpp"

namespace spicenn::compiler {

namespace {

std::string node_name(std::size_t node) { return node == 0 ? "0" : fmt::format("n{}", node); }

// The registry's spice_expression as a template whose placeholders are all
// known: {vs}, {vd}, {theta0}..{theta<count-1>}.
netlist_template edge_expression(const ir::edge_function& fn, bool constant_theta) {
  const bool cheaper = constant_theta && !fn.spice_constant_theta_expression.empty();
  const std::string& text = cheaper ? fn.spice_constant_theta_expression : fn.spice_expression;
  const std::string where =
      fmt::format("edge function {} ({} \"{}\")", fn.name, cheaper ? "spice_constant_theta_expression" : "spice_expression", text);
  netlist_template t(text, where);
  for (const auto& p : t.placeholders()) {
    bool known = p == "vs" || p == "vd";
    for (std::size_t k = 0; k < fn.theta_count && !known; ++k) known = p == fmt::format("theta{}", k);
    if (!known)
      throw lowering_error(fmt::format("{}: unknown placeholder {{{}}}; known: {{vs}}, {{vd}}, {{theta0}}..{{theta{}}}", where,
                                       p, fn.theta_count - 1));
  }
  return t;
}

}  // namespace

std::vector<std::pair<std::string, double>> kirchhoffnet_precise_simulator_options(const ir::physical_scale& s) {
  return {{"reltol", 1e-7}, {"vntol", 1e-9 * s.volt}, {"abstol", 1e-9 * s.ampere}, {"chgtol", 1e-9 * s.farad * s.volt},
          {"trtol", 1}};
}

theta_storage theta_storage_from_string(std::string_view name) {
  if (name == "vsource") return theta_storage::voltage_source;
  if (name == "resistor") return theta_storage::current_into_resistor;
  if (name == "inline") return theta_storage::inline_values;
  throw error(fmt::format("unknown theta storage '{}': vsource, resistor or inline", name));
}

compiled_kirchhoffnet compile_kirchhoffnet(const ir::model& m, const kirchhoffnet_compile_options& options) {
  if (m.kind != ir::family::kirchhoffnet)
    throw lowering_error(
        fmt::format("compile_kirchhoffnet: model family is '{}', not 'kirchhoffnet'", ir::to_string(m.kind)));
  ir::validate(m);  // sizes, shapes, node ranges, capacitances > 0, scale (second = farad*ohm)
  const auto N = static_cast<std::size_t>(m.size("nodes"));
  const auto inputs = static_cast<std::size_t>(m.size("inputs"));
  const auto outputs = static_cast<std::size_t>(m.size("outputs"));
  const auto slices = static_cast<std::size_t>(m.size("slices"));
  const auto E = static_cast<std::size_t>(m.size("edges"));
  const auto P = static_cast<std::size_t>(m.size("theta"));
  const auto& fn = ir::find_edge_function(m.option("edge_function"));
  const auto expression = edge_expression(fn, options.theta == theta_storage::inline_values);
  if (!options.inputs.empty() && options.inputs.size() != inputs)
    throw lowering_error(fmt::format("compile_kirchhoffnet: {} input values given, the model has {} inputs",
                                     options.inputs.size(), inputs));
  if (!(options.gate_transition > 0 && options.gate_transition <= 0.5))
    throw lowering_error(fmt::format("compile_kirchhoffnet: gate_transition = {} must be in (0, 0.5]", options.gate_transition));
  if (!(options.max_step >= 0) || !std::isfinite(options.max_step))
    throw lowering_error(fmt::format("compile_kirchhoffnet: max_step = {} must be >= 0", options.max_step));
  const auto& sc = m.scale;
  // ir::validate checks it too; repeated here because the whole time scale rests on it.
  if (std::abs(sc.second - sc.farad * sc.ohm) > 1e-9 * sc.second)
    throw lowering_error(fmt::format("compile_kirchhoffnet: inconsistent scale: second = {} but farad*ohm = {}; physical "
                                     "time = normalized time * farad*ohm, so they must agree",
                                     spice_number(sc.second), spice_number(sc.farad * sc.ohm)));

  if (options.only_slice >= 0) {
    const auto k = static_cast<std::size_t>(options.only_slice);
    if (k >= slices)
      throw lowering_error(fmt::format("compile_kirchhoffnet: only_slice = {} but the model has {} slice(s)", k, slices));
    if (!(m.parameter(fmt::format("slice{}.duration", k)).values[0] > 0))
      throw lowering_error(fmt::format("compile_kirchhoffnet: only_slice = {}: slice{}.duration is 0", k, k));
  }
  // Slice times (normalized) and which slices take part.
  std::vector<double> duration(slices), start(slices);
  double T = 0, shortest = 0;
  std::vector<std::size_t> active;
  for (std::size_t k = 0; k < slices; ++k) {
    duration[k] = m.parameter(fmt::format("slice{}.duration", k)).values[0];
    if (options.only_slice >= 0 && k != static_cast<std::size_t>(options.only_slice)) duration[k] = 0;
    start[k] = T;
    T += duration[k];
    if (duration[k] > 0) {
      shortest = active.empty() ? duration[k] : std::min(shortest, duration[k]);
      active.push_back(k);
    }
  }
  if (active.empty())
    throw lowering_error(fmt::format("compile_kirchhoffnet: every slice{{0..{}}}.duration is 0: nothing to simulate", slices - 1));

  compiled_kirchhoffnet out;
  out.volt = sc.volt;
  out.ampere = sc.ampere;
  out.second = sc.second;
  out.stop_time = T * sc.second;
  for (std::size_t k = 0; k < slices; ++k) out.slice_start.push_back(start[k] * sc.second);
  const bool gated = active.size() > 1;
  const double delta = gated ? options.gate_transition * shortest : 0.0;  // normalized
  out.gate_width = delta * sc.second;

  netlist_writer w(fmt::format("spicenn kirchhoffnet: {} nodes ({} inputs, {} outputs), {} slice(s) of {} edges, edge "
                               "function {}",
                               N, inputs, outputs, slices, E, fn.name));
  if (!options.source_name.empty()) w.comment("model: " + options.source_name);
  w.comment(fmt::format("scale: 1 unit = {} V, {} A, {} ohm, {} F; 1 time unit = farad*ohm = {} s; T = {} units = {} s",
                        spice_number(sc.volt), spice_number(sc.ampere), spice_number(sc.ohm), spice_number(sc.farad),
                        spice_number(sc.second), spice_number(T), spice_number(out.stop_time)));
  w.comment(fmt::format("edge current i = gate * {} A * ({}) with vs, vd in units of {} V", spice_number(sc.ampere),
                        fn.formula.empty() ? fn.spice_expression : fn.formula, spice_number(sc.volt)));
  w.comment("realisation: " + fn.realisation);
  const char* storage = options.theta == theta_storage::voltage_source          ? "dc voltage sources vth<k>_<e>_<p>"
                        : options.theta == theta_storage::current_into_resistor ? "dc current sources ith<k>_<e>_<p> into 1 ohm"
                                                                                : "inline numbers (inference only)";
  w.comment(fmt::format("theta: {}", storage));

  // Nodes and capacitors.
  const auto& cap = m.parameter("capacitance");
  w.blank_line();
  w.comment("nodes: capacitance to ground, initial voltage = input (nodes 1..inputs) or 0");
  for (std::size_t i = 0; i < N; ++i) {
    out.nodes.push_back(node_name(i + 1));
    out.capacitors.push_back(fmt::format("c{}", i + 1));
    const double farads = cap.values[i] * sc.farad;
    const double v0 = i < inputs && !options.inputs.empty() ? options.inputs[i] : 0.0;
    w.capacitor(out.capacitors.back(), out.nodes.back(), "0", farads, v0 * sc.volt);
    out.min_farads = i ? std::min(out.min_farads, farads) : farads;
    out.max_farads = i ? std::max(out.max_farads, farads) : farads;
  }
  out.mna_unknowns = N;

  // Gates.
  out.gate_sources.assign(slices, "");
  if (gated) {
    w.blank_line();
    w.comment(fmt::format("slice gates: 1 during the slice, 0 outside; linear ramps of {} s centred on each boundary",
                          spice_number(out.gate_width)));
    for (std::size_t a = 0; a < active.size(); ++a) {
      const auto k = active[a];
      const double s = start[k] * sc.second, e = (start[k] + duration[k]) * sc.second, h = out.gate_width / 2;
      std::vector<std::pair<double, double>> corners;
      if (a == 0)
        corners.push_back({0.0, 1.0});
      else
        corners.insert(corners.end(), {{0.0, 0.0}, {s - h, 0.0}, {s + h, 1.0}});
      if (a + 1 < active.size()) corners.insert(corners.end(), {{e - h, 1.0}, {e + h, 0.0}});
      out.gate_sources[k] = fmt::format("vg{}", k);
      w.pwl_voltage_source(out.gate_sources[k], fmt::format("g{}", k), "0", corners);
      out.mna_unknowns += 2;
    }
  }

  const auto theta_cell = netlist_template::load("kn_theta_resistor.cir.in");
  auto voltage = [&](std::size_t node) {
    if (node == 0) return std::string("0");
    return sc.volt == 1.0 ? fmt::format("v(n{})", node) : fmt::format("(v(n{})/{})", node, spice_number(sc.volt));
  };
  const std::string amps = sc.ampere == 1.0 ? "" : spice_number(sc.ampere) + "*";
  out.edge_sources.resize(slices);
  out.theta_sources.resize(slices);
  bool any_theta = false;
  for (std::size_t k = 0; k < slices; ++k) {
    const auto& edges = m.parameter(fmt::format("slice{}.edges", k));
    const auto& theta = m.parameter(fmt::format("slice{}.theta", k));
    w.blank_line();
    if (duration[k] == 0) {
      w.comment(options.only_slice >= 0 ? fmt::format("slice {}: not in this circuit (only slice {})", k, options.only_slice)
                                        : fmt::format("slice {}: duration 0, no effect on the state: omitted", k));
      continue;
    }
    w.comment(fmt::format("slice {}: t = {} .. {} s, {} edges", k, spice_number(start[k] * sc.second),
                          spice_number((start[k] + duration[k]) * sc.second), E));
    const std::string gate = gated ? fmt::format("v(g{})*", k) : "";
    for (std::size_t e = 0; e < E; ++e) {
      std::size_t ends[2];
      for (int j = 0; j < 2; ++j) {
        const double v = edges.values[2 * e + static_cast<std::size_t>(j)];
        if (!(v >= 0 && v <= static_cast<double>(N) && v == std::floor(v)))
          throw lowering_error(fmt::format("slice{}.edges: edge {} has {} node {}, not an integer in 0..{}", k, e,
                                           j ? "destination" : "source", spice_number(v), N));
        ends[j] = static_cast<std::size_t>(v);
      }
      if (ends[0] == ends[1])
        throw lowering_error(fmt::format("slice{}.edges: edge {} goes from node {} to itself", k, e, ends[0]));
      std::map<std::string, std::string> values;
      for (const auto& p : expression.placeholders()) {
        if (p == "vs")
          values[p] = voltage(ends[0]);
        else if (p == "vd")
          values[p] = voltage(ends[1]);
      }
      for (std::size_t p = 0; p < P; ++p) {
        const double t = theta.values[e * P + p];
        if (!std::isfinite(t))
          throw lowering_error(fmt::format("slice{}.theta: edge {} parameter {} is {}", k, e, p, t));
        out.min_theta = any_theta ? std::min(out.min_theta, t) : t;
        out.max_theta = any_theta ? std::max(out.max_theta, t) : t;
        any_theta = true;
        const std::string key = fmt::format("theta{}", p);
        const std::string th = fmt::format("th{}_{}_{}", k, e, p);
        if (options.theta == theta_storage::inline_values) {
          if (std::find(expression.placeholders().begin(), expression.placeholders().end(), key) !=
              expression.placeholders().end())
            values[key] = "(" + spice_number(t) + ")";
          continue;
        }
        if (std::find(expression.placeholders().begin(), expression.placeholders().end(), key) !=
            expression.placeholders().end())
          values[key] = fmt::format("v({})", th);
        if (options.theta == theta_storage::voltage_source) {
          out.theta_sources[k].push_back("v" + th);
          w.voltage_source(out.theta_sources[k].back(), th, "0", t);
          out.mna_unknowns += 2;
        } else {
          out.theta_sources[k].push_back("i" + th);
          w.instantiate(theta_cell, {{"th", th}, {"theta", spice_number(t)}});
          out.mna_unknowns += 1;
        }
      }
      out.theta_values += P;
      out.edge_sources[k].push_back(fmt::format("b{}_{}", k, e));
      w.behavioural_current_source(out.edge_sources[k].back(), node_name(ends[0]), node_name(ends[1]),
                                   gate + amps + "(" + expression.render(values) + ")");
      ++out.edges;
    }
  }

  // Outputs.
  const auto output_nodes = ir::kirchhoff_output_nodes(m);
  w.blank_line();
  w.comment("outputs: out<o> = v(output node), read at T");
  for (std::size_t o = 0; o < outputs; ++o) {
    const auto node = output_nodes[o];
    out.output_model_nodes.push_back(node);
    out.output_nodes.push_back(fmt::format("out{}", o));
    w.vcvs(fmt::format("eout{}", o), out.output_nodes.back(), "0", node_name(node), "0", 1.0);
    out.mna_unknowns += 2;
  }
  w.closing_cards(options.simulator_options, false);
  if (options.transient_cards) {
    const double tstep = out.stop_time / 200;
    const double tmax = options.max_step > 0 ? options.max_step * sc.second : tstep;
    w.blank_line();
    w.card(fmt::format(".tran {} {} 0 {} uic", spice_number(tstep), spice_number(out.stop_time), spice_number(tmax)));
    // ngspice's last time point can fall an ulp short of T, and `at=T` is then
    // "out of interval": read 1e-10·T earlier (a change of 1e-10·T·dv/dt).
    for (const auto& o : out.output_nodes)
      w.card(fmt::format(".meas tran {}_t find v({}) at={}", o, o, spice_number(out.stop_time * (1 - 1e-10))));
  }
  out.text = w.text();
  out.elements = w.element_count();
  return out;
}

kirchhoffnet_adjoint_deck compile_kirchhoffnet_adjoint(const ir::model& m, const std::vector<double>& forward_times,
                                                       const std::vector<std::vector<double>>& forward_volts,
                                                       const std::vector<double>& lambda_end,
                                                       const std::vector<std::pair<std::string, double>>& simulator_options) {
  ir::validate(m);
  const auto N = static_cast<std::size_t>(m.size("nodes"));
  const auto slices = static_cast<std::size_t>(m.size("slices"));
  const auto E = static_cast<std::size_t>(m.size("edges"));
  const auto P = static_cast<std::size_t>(m.size("theta"));
  const auto& fn = ir::find_edge_function(m.option("edge_function"));
  if (fn.spice_partials.size() != P + 2)
    throw lowering_error(fmt::format("edge function {} has no spice_partials: the circuit adjoint needs its partial "
                                     "derivatives as ngspice expressions (use the physics-aware gradient)",
                                     fn.name));
  if (forward_volts.size() != N || lambda_end.size() != N || forward_times.size() < 2)
    throw lowering_error(fmt::format("compile_kirchhoffnet_adjoint: {} trajectories and {} adjoint values for {} nodes, "
                                     "{} time points",
                                     forward_volts.size(), lambda_end.size(), N, forward_times.size()));
  const auto& sc = m.scale;
  std::vector<double> duration, start;
  double T = 0;
  for (std::size_t k = 0; k < slices; ++k) {
    start.push_back(T);
    duration.push_back(m.parameter(fmt::format("slice{}.duration", k)).values[0]);
    T += duration.back();
  }
  kirchhoffnet_adjoint_deck out;
  out.stop = T;
  netlist_writer w(fmt::format("spicenn kirchhoffnet circuit adjoint: {} nodes, {} slice(s) of {} edges, edge function {}",
                               N, slices, E, fn.name));
  w.comment("normalized units: 1 F, 1 s = one time unit, 1 V = one normalized volt; tau = T - t");
  // The forward trajectory, replayed backward in tau.
  const std::size_t points = forward_times.size();
  for (std::size_t i = 0; i < N; ++i) {
    std::vector<std::pair<double, double>> corners;
    double last = -1;
    for (std::size_t p = points; p-- > 0;) {
      const double tau = std::max(0.0, T - forward_times[p] / sc.second);
      if (tau <= last) continue;  // strictly increasing corners
      corners.push_back({tau, forward_volts[i][p] / sc.volt});
      last = tau;
    }
    w.pwl_voltage_source(fmt::format("vf{}", i + 1), fmt::format("f{}", i + 1), "0", corners);
  }
  // Adjoint nodes.
  const auto& cap = m.parameter("capacitance").values;
  for (std::size_t i = 0; i < N; ++i) {
    out.adjoint_nodes.push_back(fmt::format("a{}", i + 1));
    w.capacitor(fmt::format("c{}", i + 1), out.adjoint_nodes.back(), "0", cap[i], lambda_end[i] / cap[i]);
  }
  // Gates in tau: slice k runs over tau in [T - start_k - duration_k, T - start_k].
  std::vector<std::size_t> active;
  for (std::size_t k = 0; k < slices; ++k)
    if (duration[k] > 0) active.push_back(k);
  const bool gated = active.size() > 1;
  double shortest = T;
  for (auto k : active) shortest = std::min(shortest, duration[k]);
  const double h = 0.5e-6 * shortest;
  if (gated) {
    // In tau the slices come in reverse order.
    for (std::size_t a = 0; a < active.size(); ++a) {
      const auto k = active[a];
      const double lo = T - start[k] - duration[k], hi = T - start[k];
      std::vector<std::pair<double, double>> corners;
      const bool first_in_tau = a + 1 == active.size(), last_in_tau = a == 0;
      if (first_in_tau)
        corners.push_back({0.0, 1.0});
      else
        corners.insert(corners.end(), {{0.0, 0.0}, {lo - h, 0.0}, {lo + h, 1.0}});
      if (!last_in_tau) corners.insert(corners.end(), {{hi - h, 1.0}, {hi + h, 0.0}});
      w.pwl_voltage_source(fmt::format("vg{}", k), fmt::format("g{}", k), "0", corners);
    }
  }
  std::vector<netlist_template> partials;
  for (std::size_t j = 0; j < P + 2; ++j)
    partials.emplace_back(fn.spice_partials[j], fmt::format("edge function {} spice_partials[{}]", fn.name, j));
  auto f_node = [](std::size_t n) { return n == 0 ? std::string("0") : fmt::format("v(f{})", n); };
  auto a_node = [](std::size_t n) { return n == 0 ? std::string("0") : fmt::format("v(a{})", n); };
  out.theta_integrals.resize(slices);
  for (std::size_t k = 0; k < slices; ++k) {
    if (duration[k] == 0) continue;
    const auto& edges = m.parameter(fmt::format("slice{}.edges", k)).values;
    const auto& theta = m.parameter(fmt::format("slice{}.theta", k)).values;
    const std::string gate = gated ? fmt::format("v(g{})*", k) : "";
    w.blank_line();
    w.comment(fmt::format("slice {}", k));
    for (std::size_t e = 0; e < E; ++e) {
      const auto s = static_cast<std::size_t>(edges[2 * e]), d = static_cast<std::size_t>(edges[2 * e + 1]);
      std::map<std::string, std::string> values{{"vs", f_node(s)}, {"vd", f_node(d)}};
      for (std::size_t p = 0; p < P; ++p) values[fmt::format("theta{}", p)] = "(" + spice_number(theta[e * P + p]) + ")";
      const std::string w_expr = fmt::format("{}({}-{})", gate, a_node(d), a_node(s));
      auto render = [&](std::size_t j) {
        std::map<std::string, std::string> used;
        for (const auto& ph : partials[j].placeholders()) used[ph] = values.at(ph);
        return partials[j].render(used);
      };
      if (s != 0) w.behavioural_current_source(fmt::format("bs{}_{}", k, e), "0", fmt::format("a{}", s),
                                               w_expr + "*(" + render(0) + ")");
      if (d != 0) w.behavioural_current_source(fmt::format("bd{}_{}", k, e), "0", fmt::format("a{}", d),
                                               w_expr + "*(" + render(1) + ")");
      for (std::size_t p = 0; p < P; ++p) {
        const std::string g = fmt::format("g{}_{}_{}", k, e, p);
        out.theta_integrals[k].push_back(g);
        w.capacitor(fmt::format("c{}", g), g, "0", 1.0, 0.0);
        w.behavioural_current_source(fmt::format("b{}", g), "0", g, w_expr + "*(" + render(p + 2) + ")");
      }
    }
  }
  w.closing_cards(simulator_options, false);
  out.text = w.text();
  return out;
}

}  // namespace spicenn::compiler
