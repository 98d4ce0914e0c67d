#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "ir/edge_functions.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

namespace {

struct init_args {
  std::uint64_t seed = 1;
  std::string output;
  bool json = false;
  // kan
  std::string layers, bases = "z15,zaz21";
  bool batch_norm = false;
  std::string input_volts = "0.4,1.0", hidden_volts = "0.3,1.0";
  // mon
  std::int64_t inputs = 0, hidden = 0, outputs = 0, stages = 1;
  std::string diode = "ideal";
  double input_scale = 1.0;
  // kirchhoffnet
  std::int64_t nodes = 0, slices = 1;
  std::string edge_function = "shift_tanh2";
  std::string image;  // WxH: the reference image topology
  std::int64_t neighbor = 4, hub = 50;
  std::string theta_init = "normal";
  double theta_std = 0.1, duration = 0.5;
};

void add_common(CLI::App* cmd, init_args& a) {
  cmd->add_option("--seed", a.seed, "Random seed (the same seed gives the same model on every platform)")->capture_default_str();
  cmd->add_option("-o,--output", a.output, "Model file to write (XML)")->required();
  cmd->add_flag("--json", a.json, "Also print on stdout, as JSON: output, family, trainable_values, seed");
}

void save(ir::model m, const init_args& a, const std::string& what) {
  m.origin.created_by = "spicenn 0.1.0 init " + what;
  ir::save_model(m, a.output);
  std::size_t values = 0;
  for (const auto& t : m.parameters) values += t.trainable ? t.values.size() : 0;
  fmt::print(stderr, "spicenn: wrote {} ({} model, {} trainable values, seed {})\n", a.output, what, values, a.seed);
  if (a.json) {
    const json j = {{"output", a.output}, {"family", std::string(ir::to_string(m.kind))}, {"trainable_values", values}, {"seed", a.seed}};
    fmt::print("{}\n", to_text(j));
  }
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
  mon->add_option("--input-scale", a.input_scale,
                  "Factor on the initial input conductances of stage 0 (h_pos, h_neg ~ factor * U(0,1)/sqrt(inputs)); "
                  "1 = the initialization the MNIST results were trained from; 3 trains the 2-D toy sets reliably "
                  "(docs/results.md)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_common(mon, a);
  mon->callback([] {
    auto m = ir::init_mon(a.inputs, a.hidden, a.outputs, a.stages, a.seed, a.diode, a.input_scale);
    if (a.input_scale != 1.0) m.origin.notes += fmt::format("init mon --input-scale {}", a.input_scale);
    save(std::move(m), a, "mon");
  });

  auto* kn = init->add_subcommand(
      "kirchhoffnet",
      "KirchhoffNet: nodes with capacitors to ground, one nonlinear edge per directed node pair (every pair, or the "
      "reference's image topology with --image)");
  kn->add_option("--inputs", a.inputs, "Input nodes 1..N (their initial voltages, normalized volts); with --image: the pixels")
      ->check(CLI::PositiveNumber);
  kn->add_option("--nodes", a.nodes, "Nodes besides ground; with --image: pixels + --hub")->check(CLI::PositiveNumber);
  kn->add_option("--outputs", a.outputs, "Output nodes: the last N nodes (their voltages at the end time)")
      ->required()
      ->check(CLI::PositiveNumber);
  kn->add_option("--image", a.image,
                 "WxH, e.g. 14x14: the reference's image topology instead of every node pair: an edge between every "
                 "ordered pixel pair of each --neighbor window, every pixel to and from ground, and --hub nodes "
                 "joined to ground and every pixel (docs/kirchhoffnet.md)");
  kn->add_option("--neighbor", a.neighbor, "With --image: window size")->capture_default_str();
  kn->add_option("--hub", a.hub, "With --image: fully connected nodes after the pixels")->capture_default_str();
  kn->add_option("--slices", a.slices, "Time slices (depth)")->capture_default_str()->check(CLI::PositiveNumber);
  kn->add_option("--duration", a.duration, "Length of every slice in normalized time units")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  kn->add_option("--edge-function", a.edge_function, "Edge current function (docs/kirchhoffnet.md)")
      ->capture_default_str()
      ->check(CLI::IsMember(ir::edge_function_names()));
  kn->add_option("--init", a.theta_init,
                 "theta initialization: normal (--theta-std * N(0,1)) or kaiming (N(0,1)*sqrt(2/edges), as the "
                 "reference)")
      ->capture_default_str()
      ->check(CLI::IsMember({"normal", "kaiming"}));
  kn->add_option("--theta-std", a.theta_std, "Standard deviation of theta for --init normal")->capture_default_str();
  add_common(kn, a);
  kn->callback([] {
    ir::kirchhoffnet_init_options o{.theta_std = a.theta_std, .kaiming = a.theta_init == "kaiming", .duration = a.duration};
    std::optional<std::vector<std::array<std::int64_t, 2>>> edges;
    std::int64_t inputs = a.inputs, nodes = a.nodes;
    if (!a.image.empty()) {
      std::int64_t w = 0, h = 0;
      char x = 0;
      std::istringstream in(a.image);
      if (!(in >> w >> x >> h) || x != 'x' || !in.eof() || w < 1 || h < 1)
        throw error(fmt::format("--image {}: expected WxH, e.g. 14x14", a.image));
      edges = ir::image_topology(w, h, a.neighbor, a.hub);
      if ((a.inputs && a.inputs != w * h) || (a.nodes && a.nodes != w * h + a.hub))
        throw error(fmt::format("--image {} with --hub {} has {} inputs and {} nodes; leave out --inputs and --nodes",
                                a.image, a.hub, w * h, w * h + a.hub));
      inputs = w * h;
      nodes = w * h + a.hub;
    } else if (!a.inputs || !a.nodes) {
      throw error("init kirchhoffnet: give --inputs and --nodes (every node pair), or --image WxH");
    }
    save(ir::init_kirchhoffnet(inputs, nodes, a.outputs, a.slices, a.edge_function, a.seed, edges, o), a,
         "kirchhoffnet");
  });
}

}  // namespace spicenn::cli
