// spicenn predict MODEL.xml (--data NAME [--split test|train] [--offset K] [--limit N] [--pool K | --resize N] | --grid XMIN,XMAX,YMIN,YMAX,N)
//     [--engine software|spice] [--threads T] [--batch B] -o OUT.csv [--json]
//
// Per-sample predictions as CSV: the inputs x0..x{n-1}, the true label (data
// sets only), the predicted class (argmax of the outputs, first on ties) and
// the outputs y0..y{m-1}, one row per sample in data-set order; for --grid
// the N×N points of a regular grid over a 2-input model's input plane, x0
// fastest (row r*N + c: x0 = XMIN + c·(XMAX−XMIN)/(N−1), x1 = YMIN +
// r·(YMAX−YMIN)/(N−1)).
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/numbers.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/progress.hpp"
#include "cosim/trainer.hpp"
#include "data/dataset.hpp"
#include "ir/model_file.hpp"
#include "models/loss.hpp"

namespace spicenn::cli {

namespace {

std::size_t model_inputs(const ir::model& m) { return static_cast<std::size_t>(m.size(ir::input_size_name(m))); }

struct grid_spec {
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  std::size_t n = 0;
};

grid_spec parse_grid(const std::string& text) {
  const auto v = parse_number_list(text, "--grid");
  if (v.size() != 5)
    throw error(fmt::format("--grid takes XMIN,XMAX,YMIN,YMAX,N (5 numbers), got {} in '{}'", v.size(), text));
  grid_spec g{v[0], v[1], v[2], v[3], 0};
  if (!(v[4] >= 2) || v[4] != static_cast<double>(static_cast<std::size_t>(v[4])) || v[4] > 10000)
    throw error(fmt::format("--grid: N must be a whole number from 2 to 10000, not {}", format_double(v[4])));
  g.n = static_cast<std::size_t>(v[4]);
  if (!(g.xmax > g.xmin) || !(g.ymax > g.ymin))
    throw error(fmt::format("--grid: need XMIN < XMAX and YMIN < YMAX, got {}", text));
  return g;
}

}  // namespace

void register_predict(CLI::App& app) {
  struct args {
    std::string model, data, grid, engine = "software", split = "test", out, progress = "auto";
    std::size_t offset = 0, limit = 0, batch = 500;
    int threads = 0;
    bool json = false;
  };
  static args a;
  static image_options image;
  auto* cmd = app.add_subcommand("predict",
                                 "Per-sample outputs and predicted class of a model as CSV, on a data set's samples or "
                                 "on a regular grid over a 2-input model's input plane, computed by an engine");
  cmd->add_option("model", a.model, "Model file (XML)")->required()->check(CLI::ExistingFile);
  auto* data = cmd->add_option("--data", a.data,
                               "Data set: moons, circles, spirals (2-D toy sets) or mnist, fashion-mnist (images in "
                               "[0,1]; 1 unit = the model's scale volt); the CSV then has a label column")
                   ->check(CLI::IsMember(data::dataset_names()));
  auto* grid = cmd->add_option("--grid", a.grid,
                               "XMIN,XMAX,YMIN,YMAX,N: the N x N points of a regular grid over inputs x0 (XMIN..XMAX) "
                               "and x1 (YMIN..YMAX), both ends included, x0 fastest; 2-input models only");
  data->excludes(grid);
  grid->excludes(data);
  auto* split = cmd->add_option("--split", a.split, "With --data: test, or train (the whole training split, validation "
                                                    "samples included)")
                    ->capture_default_str()
                    ->check(CLI::IsMember({"test", "train"}));
  auto* limit = cmd->add_option("--limit", a.limit, "With --data: the first N samples of the split only (0 = all)")
                    ->capture_default_str();
  auto [pool, resize] = add_image_options(cmd, image, "With --data: ");
  auto* offset = cmd->add_option("--offset", a.offset,
                                 "With --data: skip the first K samples of the split (with --limit: samples K..K+N-1, "
                                 "e.g. to run a long SPICE evaluation in resumable pieces)")
                     ->capture_default_str();
  for (auto* o : {split, offset, limit, pool, resize}) o->needs(data);
  cmd->add_option("--engine", a.engine, "software (the family's C++ model) or spice (ngspice operating points)")
      ->capture_default_str()
      ->check(CLI::IsMember({"software", "spice"}));
  cmd->add_option("--batch", a.batch, "Samples per forward call (a DC sweep chunk for the spice engine)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a.threads, "Worker threads (software) or ngspice instances (spice); 0 = all cores")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--progress", a.progress, "Progress on stderr: auto, tty, lines or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "tty", "lines", "off"}));
  static engine_settings ode;
  add_engine_options(cmd, ode);
  cmd->add_option("-o,--out", a.out, "Output CSV file")->required();
  cmd->add_flag("--json", a.json,
                "Also print on stdout, as JSON: model, output (the CSV), engine, data, split (null for --grid), "
                "samples");
  cmd->callback([] {
    if (a.data.empty() && a.grid.empty()) throw error("predict needs --data NAME or --grid XMIN,XMAX,YMIN,YMAX,N");
    const auto model = ir::load_model(a.model);
    const std::size_t n_in = model_inputs(model);

    // The inputs (n_in × samples) and, for a data set, the labels.
    Eigen::MatrixXd x;
    std::vector<int> labels;
    if (!a.data.empty()) {
      const data::load_options lo = image.load();
      auto set = data::load_dataset(a.data, a.split == "test" ? data::split::test : data::split::train, lo);
      if (a.offset >= set.size())
        throw error(fmt::format("--offset {}: the {} split of {} has {} samples", a.offset, a.split, a.data, set.size()));
      set = set.slice(a.offset, a.limit > 0 ? std::min(a.limit, set.size() - a.offset) : set.size() - a.offset);
      cosim::check_model_fits_data(model, set);
      x = set.features.cast<double>();
      labels.assign(set.labels.begin(), set.labels.end());
    } else {
      const auto g = parse_grid(a.grid);
      if (n_in != 2)
        throw error(fmt::format("--grid needs a model with 2 inputs; {} has {}", a.model, n_in));
      x.resize(2, static_cast<Eigen::Index>(g.n * g.n));
      const double dx = (g.xmax - g.xmin) / static_cast<double>(g.n - 1);
      const double dy = (g.ymax - g.ymin) / static_cast<double>(g.n - 1);
      for (std::size_t r = 0; r < g.n; ++r)
        for (std::size_t c = 0; c < g.n; ++c) {
          const auto col = static_cast<Eigen::Index>(r * g.n + c);
          // The last point is the given end exactly, not XMIN + (N-1)·dx.
          x(0, col) = c + 1 == g.n ? g.xmax : g.xmin + static_cast<double>(c) * dx;
          x(1, col) = r + 1 == g.n ? g.ymax : g.ymin + static_cast<double>(r) * dy;
        }
    }

    cosim::evaluator_options eo;
    eo.threads = a.threads;
    eo.input_gradient = false;
    apply(ode, eo);
    auto eval = cosim::make_evaluator(model, cosim::engine_kind_from_string(a.engine), eo);

    const auto samples = static_cast<std::size_t>(x.cols());
    std::string csv;
    for (std::size_t i = 0; i < n_in; ++i) csv += fmt::format("x{},", i);
    if (!labels.empty()) csv += "label,";
    csv += "predicted";
    std::size_t n_out = 0;
    cosim::progress_line progress(stderr, cosim::progress_mode_from_string(a.progress));
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t begin = 0; begin < samples; begin += a.batch) {
      const std::size_t count = std::min(a.batch, samples - begin);
      const Eigen::MatrixXd xb = x.middleCols(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(count));
      const auto result = eval->forward(xb);
      if (result.outputs.cols() != static_cast<Eigen::Index>(count))
        throw error(fmt::format("predict: the evaluator returned {} output columns for a batch of {}",
                                result.outputs.cols(), count));
      if (begin == 0) {
        n_out = static_cast<std::size_t>(result.outputs.rows());
        for (std::size_t o = 0; o < n_out; ++o) csv += fmt::format(",y{}", o);
        csv += '\n';
      }
      const std::vector<int> predicted = models::predict(result.outputs);
      for (std::size_t j = 0; j < count; ++j) {
        const auto col = static_cast<Eigen::Index>(begin + j);
        for (std::size_t i = 0; i < n_in; ++i) csv += format_double(x(static_cast<Eigen::Index>(i), col)) + ',';
        if (!labels.empty()) csv += fmt::format("{},", labels[begin + j]);
        csv += fmt::format("{}", predicted[j]);
        for (std::size_t o = 0; o < n_out; ++o)
          csv += ',' + format_double(result.outputs(static_cast<Eigen::Index>(o), static_cast<Eigen::Index>(j)));
        csv += '\n';
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const std::size_t done = begin + count;
      progress.update(fmt::format("predict {}/{}  {:.2f} s per sample  ETA {:.0f} s", done, samples,
                                  seconds / static_cast<double>(done),
                                  seconds / static_cast<double>(done) * static_cast<double>(samples - done)));
    }
    progress.clear();
    write_text_file(a.out, csv);
    fmt::print(stderr, "spicenn: {} predictions ({} engine) written to {}\n", samples, a.engine, a.out);
    if (a.json) {
      const json j = {{"model", a.model},
                      {"output", a.out},
                      {"engine", a.engine},
                      {"data", a.data.empty() ? json(nullptr) : json(a.data)},
                      {"split", a.data.empty() ? json(nullptr) : json(a.split)},
                      {"samples", samples}};
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
