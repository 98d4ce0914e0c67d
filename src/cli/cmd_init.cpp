#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

namespace {

struct init_args {
  std::uint64_t seed = 1;
  std::string output;
  // kan
  std::string layers, bases = "z15,zaz21";
  bool batch_norm = false;
  std::string input_volts = "0.4,1.0", hidden_volts = "0.3,1.0";
  // mon
  std::int64_t inputs = 0, hidden = 0, outputs = 0, stages = 1;
  std::string diode = "ideal";
  // kirchhoffnet
  std::int64_t nodes = 0, slices = 1;
  std::string edge_function = "shift_tanh2";
};

void add_common(CLI::App* cmd, init_args& a) {
  cmd->add_option("--seed", a.seed, "Random seed (the same seed gives the same model on every platform)")->capture_default_str();
  cmd->add_option("-o,--output", a.output, "Model file to write (XML)")->required();
}

void save(ir::model m, const init_args& a, const std::string& what) {
  m.origin.created_by = "spicenn 0.1.0 init " + what;
  ir::save_model(m, a.output);
  std::size_t values = 0;
  for (const auto& t : m.parameters) values += t.trainable ? t.values.size() : 0;
  fmt::print(stderr, "spicenn: wrote {} ({} model, {} trainable values, seed {})\n", a.output, what, values, a.seed);
}

}  // namespace

void register_init(CLI::App& app) {
  static init_args a;
  auto* init = app.add_subcommand("init", "Create a model file with random initial parameters");
  init->require_subcommand(1);

  auto* kan = init->add_subcommand("kan", "Device-basis Kolmogorov-Arnold network (inputs in [0,1], hidden clamped to [0,1.4])");
  kan->add_option("--layers", a.layers, "Layer widths, comma-separated, e.g. 196,64,10")->required();
  kan->add_option("--bases", a.bases,
                  "Basis devices per edge, comma-separated: builtin names (see `spicenn devices`) or paths of "
                  "libraries written by `spicenn fit-device` (ending in .lib)")
      ->capture_default_str();
  kan->add_flag("--batch-norm", a.batch_norm,
                "Batch normalization after every hidden layer, for training; `spicenn train` folds it exactly into "
                "the layer's coefficients and bias when it writes the trained model, so the circuit needs none");
  kan->add_option("--input-volts", a.input_volts,
                  "lo,hi: the device voltages (in scale volts) that inputs 0 and 1 drive the layer-0 devices at")
      ->capture_default_str();
  kan->add_option("--hidden-volts", a.hidden_volts,
                  "lo,hi: the device voltages that the ends of the hidden clamp [0, 1.4] drive later layers' devices at")
      ->capture_default_str();
  add_common(kan, a);
  kan->callback([] {
    auto pair = [](const std::string& text, const char* option) {
      const auto v = parse_number_list(text, option);
      if (v.size() != 2 || !(v[0] < v[1])) throw error(fmt::format("{} needs two increasing numbers lo,hi", option));
      return std::array<double, 2>{v[0], v[1]};
    };
    ir::kan_init_options o;
    o.input_volts = pair(a.input_volts, "--input-volts");
    o.hidden_volts = pair(a.hidden_volts, "--hidden-volts");
    o.batch_norm = a.batch_norm;
    save(ir::init_kan(parse_size_list(a.layers, "--layers"), parse_name_list(a.bases), a.seed, o), a, "kan");
  });

  auto* mon = init->add_subcommand("mon",
                                   "Resistor-diode monotone operator network (scale: 1 unit = 1 V, 100 uA; conductances "
                                   "in units of 100 uS)");
  mon->add_option("--inputs", a.inputs, "Number of inputs (voltage sources)")->required()->check(CLI::PositiveNumber);
  mon->add_option("--hidden", a.hidden, "Hidden units (diode-clamped nodes) per stage")->required()->check(CLI::PositiveNumber);
  mon->add_option("--outputs", a.outputs, "Number of outputs (transimpedance stages)")->required()->check(CLI::PositiveNumber);
  mon->add_option("--stages", a.stages, "Cascaded stages (stage s drives stage s+1 through buffers)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  mon->add_option("--diode", a.diode, "ideal (ReLU; piecewise-linear diode pwl_diode in SPICE) or shockley (diode ReLU; shockley_diode)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ideal", "shockley"}));
  add_common(mon, a);
  mon->callback([] { save(ir::init_mon(a.inputs, a.hidden, a.outputs, a.stages, a.seed, a.diode), a, "mon"); });

  auto* kn = init->add_subcommand("kirchhoffnet", "KirchhoffNet: nodes with capacitors to ground, one nonlinear edge per node pair");
  kn->add_option("--inputs", a.inputs, "Input nodes (their initial voltages, normalized volts)")->required()->check(CLI::PositiveNumber);
  kn->add_option("--nodes", a.nodes, "Nodes besides ground")->required()->check(CLI::PositiveNumber);
  kn->add_option("--outputs", a.outputs, "Output nodes (voltages at the end time)")->required()->check(CLI::PositiveNumber);
  kn->add_option("--slices", a.slices, "Time slices (depth), each 0.5 normalized time units")->capture_default_str()->check(CLI::PositiveNumber);
  kn->add_option("--edge-function", a.edge_function, "Edge current function")
      ->capture_default_str()
      ->check(CLI::IsMember({"shift_tanh2", "shift_tanh1", "shift_relu1", "conductance"}));
  add_common(kn, a);
  kn->callback([] {
    save(ir::init_kirchhoffnet(a.inputs, a.nodes, a.outputs, a.slices, a.edge_function, a.seed), a, "kirchhoffnet");
  });
}

}  // namespace spicenn::cli
