// spicenn activation [MODEL.xml | --device NAME|FILE.lib] -o FIGURE.png|svg [--csv FILE] [--json]
#include <fmt/format.h>


#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "cosim/activation.hpp"
#include "devices/device.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "ir/schema.hpp"
#include "plot/plot.hpp"

namespace spicenn::cli {

namespace {

// A one-node MON (the init scale: 1 V, 100 uA) with `device` as its diode and
// the software law that models it: the ideal clamp for the ideal diodes,
// Shockley for shockley_diode, and a fitted library's own curve.
ir::model model_with_device(const std::string& device) {
  auto m = ir::init_mon(1, 1, 1, 1, 1, "ideal");
  // Only a fit-device library carries a law (a vendor's library: give a model naming it).
  if (const auto lib = library_device_argument(device)) {
    m.options["diode"] = "device";
    m.devices = {{"diode", lib->name, lib->file.string()}};
  } else {
    m.options["diode"] = device == "shockley_diode" ? "shockley" : device == "pwl_diode" || device == "ideal_diode" ? "ideal" : "device";
    m.devices = {{"diode", device, ""}};
  }
  ir::validate(m);  // the device must be a MON diode (monotone)
  return m;
}

}  // namespace

void register_activation(CLI::App& app) {
  struct args {
    std::string model, device, output, csv, range = "-1,1";
    double conductance = 1.0;
    int points = 201;
    bool json = false;
  };
  static args a;
  auto* cmd = app.add_subcommand(
      "activation",
      "The activation a MON diode induces (the \"diode ReLU\"): the voltage of one node with conductance g to ground "
      "and the diode from ground against the injected current, from the software law and from an ngspice DC sweep; "
      "writes a figure (PNG or SVG)");
  cmd->add_option("model", a.model, "MON model file (XML): its diode device, software law and scale")->check(CLI::ExistingFile);
  cmd->add_option("--device", a.device,
                  "Instead of a model: a builtin diode name or a library written by `spicenn fit-device` (.lib), at the "
                  "init scale (1 unit = 1 V, 100 uA)");
  cmd->add_option("--conductance", a.conductance, "The node's conductance to ground, in model units")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--range", a.range, "lo,hi of the injected current, in model units")->capture_default_str();
  cmd->add_option("--points", a.points, "Sweep points")->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_option("-o,--output", a.output, "Figure to write (.png or .svg)")->required();
  cmd->add_option("--csv", a.csv, "Also write the curves as CSV (current_A, ideal_V, software_V, spice_V)");
  cmd->add_flag("--json", a.json, "Print {device, law, conductance, deviation_volts, points} as JSON");
  cmd->callback([] {
    if (a.model.empty() == a.device.empty()) throw error("activation: give a MON model file or --device, not both or neither");
    const auto m = a.model.empty() ? model_with_device(a.device) : ir::load_model(a.model);
    if (m.kind != ir::family::mon)
      throw error(fmt::format("{}: activation applies to 'mon' models, not '{}'", a.model, ir::to_string(m.kind)));
    const auto r = parse_number_list(a.range, "--range");
    if (r.size() != 2 || !(r[0] < r[1])) throw error(fmt::format("--range needs two numbers lo,hi with lo < hi, not '{}'", a.range));
    cosim::mon_activation_options o;
    o.conductance = a.conductance;
    o.lo = r[0];
    o.hi = r[1];
    o.points = a.points;
    const auto act = cosim::mon_activation_curves(m, o);

    const double volt = m.scale.volt, micro = m.scale.ampere * 1e6;
    plot::figure f;
    f.title = fmt::format("activation of {} (software law: {}), node of {:.4g} S to ground", act.device, act.law,
                          a.conductance * m.scale.ampere / m.scale.volt);
    f.x_label = "injected current (uA)";
    f.y_label = "node voltage (V)";
    std::vector<double> x, ideal, soft, spice;
    for (std::size_t i = 0; i < act.current.size(); ++i) {
      x.push_back(act.current[i] * micro);
      ideal.push_back(act.ideal[i] * volt);
      soft.push_back(act.software[i] * volt);
      spice.push_back(act.spice[i] * volt);
    }
    f.curves.push_back({"ideal clamp: max(s/g, 0)", x, ideal, plot::style::dashed});
    f.curves.push_back({"ngspice DC sweep", x, spice, plot::style::points});
    f.curves.push_back({fmt::format("software law ({})", act.law == "device" ? "the device's I-V curve" : act.law), x, soft,
                        plot::style::lines});
    plot::write(f, a.output);
    if (!a.csv.empty()) {
      std::string text = "current_A,ideal_V,software_V,spice_V\n";
      for (std::size_t i = 0; i < x.size(); ++i)
        text += fmt::format("{:.10g},{:.10g},{:.10g},{:.10g}\n", x[i] * 1e-6, ideal[i], soft[i], spice[i]);
      write_file_atomically(a.csv, text, "activation CSV");
    }
    if (a.json) {
      json j = {{"device", act.device},
                {"law", act.law},
                {"conductance_siemens", a.conductance * m.scale.ampere / m.scale.volt},
                {"deviation_volts", act.deviation * volt},
                {"points", act.current.size()},
                {"figure", a.output}};
      fmt::print("{}\n", to_text(j));
    } else {
      fmt::print("activation of {} (software law {}): {} points, {:.4g} .. {:.4g} uA into {:.4g} S\n", act.device, act.law,
                 x.size(), x.front(), x.back(), a.conductance * m.scale.ampere / m.scale.volt);
      fmt::print("ngspice against the software law: largest |dv| = {:.3g} V\n", act.deviation * volt);
      fmt::print("wrote {}\n", a.output);
    }
  });
}

}  // namespace spicenn::cli
