// Cost of the KAN co-simulation on one model, measured in one run so that
// ratios are not moved by the machine's drift:
//   forward per image   the batched DC sweep of the spice evaluator (one engine)
//   gradient per image  the same sweep plus one ac solve per image (one engine)
//   software            the software model's forward and gradient per image
// in alternating rounds (medians), the Newton iterations per sweep point and
// per ac operating point (ngspice's `rusage totiter`), and the time of an
// `ac` of the whole circuit against one of the linearization deck.
//
//   SPICENN_BENCH_MODEL=build/results/kan-mnist/trained.xml build/bench/bench_kan_cosim [images] [rounds]
//
// Without SPICENN_BENCH_MODEL: a fresh [196, 64, 10] z15+zaz21 KAN. Inputs:
// the first test images of MNIST with 2x2 pooling when the model has 196
// inputs and the data are installed, else uniform [0, 1].
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "compiler/kan_compiler.hpp"
#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/kan_evaluators.hpp"
#include "data/dataset.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "models/kan.hpp"
#include "spice/batch.hpp"
#include "spice/engine.hpp"

using namespace spicenn;

namespace {

using bench::median;
using bench::seconds_of;

long total_iterations(spice::engine& eng) {
  eng.command("rusage totiter");
  std::smatch m;
  const std::string& out = eng.last_output();
  if (!std::regex_search(out, m, std::regex(R"(Total iterations = (\d+))"))) return -1;
  return std::stol(m[1]);
}

}  // namespace

int main(int argc, char** argv) {
  const Eigen::Index images = argc > 1 ? std::atol(argv[1]) : 200;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const char* path = std::getenv("SPICENN_BENCH_MODEL");
  const ir::model model = path ? ir::load_model(path) : ir::init_kan({196, 64, 10}, {"z15", "zaz21"}, 7, {.batch_norm = true});
  const Eigen::Index inputs = model.size("width0");
  Eigen::MatrixXd x(inputs, images);
  std::string source = "uniform [0, 1]";
  try {
    if (inputs == 196 || inputs == 784) {
      const auto test = data::load_dataset(model.origin.data.empty() ? "mnist" : model.origin.data, data::split::test,
                                           {.pool = inputs == 196 ? 2u : 1u});
      x = test.features.leftCols(images).cast<double>();
      source = fmt::format("first {} {} test images{}", images, model.origin.data.empty() ? "mnist" : model.origin.data,
                           inputs == 196 ? " (2x2 pooled)" : "");
    } else {
      throw std::runtime_error("no image data");
    }
  } catch (const std::exception&) {
    rng r(1);
    for (Eigen::Index b = 0; b < images; ++b)
      for (Eigen::Index k = 0; k < inputs; ++k) x(k, b) = r.uniform();
  }
  std::vector<int> labels(static_cast<std::size_t>(images));
  for (std::size_t k = 0; k < labels.size(); ++k)
    labels[k] = static_cast<int>(k % 10) % static_cast<int>(model.size(fmt::format("width{}", model.size("layers"))));

  auto spice = cosim::make_kan_spice_evaluator(model, {.threads = 1, .spice_chunk = static_cast<std::size_t>(images)});
  auto software = cosim::make_evaluator(model, cosim::engine_kind::software, {.threads = 1});
  const Eigen::Index grad_images = std::max<Eigen::Index>(1, images / 4);
  const Eigen::MatrixXd xg = x.leftCols(grad_images);
  const std::span<const int> lg(labels.data(), static_cast<std::size_t>(grad_images));
  std::vector<double> fwd, grad, sw_fwd, sw_grad;
  for (int r = 0; r < rounds; ++r) {
    fwd.push_back(seconds_of([&] { (void)spice->forward(x); }) / static_cast<double>(images));
    grad.push_back(seconds_of([&] { (void)spice->gradient(xg, lg); }) / static_cast<double>(grad_images));
    sw_fwd.push_back(seconds_of([&] { (void)software->forward(x); }) / static_cast<double>(images));
    sw_grad.push_back(seconds_of([&] { (void)software->gradient(xg, lg); }) / static_cast<double>(grad_images));
  }
  const auto& stats = spice->last_stats();

  // Newton iterations: the sweep deck in a fresh engine; then, for the
  // first image, an `ac` of the whole circuit (what the gradient avoids) and
  // the linearization deck's `ac` (what it does).
  const ir::model folded = models::kan_fold_batch_norm(model);
  const auto net = compiler::compile_kan(folded, {.operating_point_card = false});
  spice::engine eng;
  eng.load(cosim::kan_sweep_deck(model, x));
  const long before = total_iterations(eng);
  const double sweep_s = seconds_of([&] { eng.dc(spice::sample_index_source, 0, static_cast<double>(images - 1), 1); });
  const long after_sweep = total_iterations(eng);
  std::vector<std::size_t> basis_of_device;
  Eigen::MatrixXd volts(1, 0);
  std::vector<double> v;
  for (std::size_t l = 0; l < net.device_nodes.size(); ++l)
    for (std::size_t r = 0; r < net.device_nodes[l].size(); ++r) {
      basis_of_device.push_back(r / static_cast<std::size_t>(folded.size(fmt::format("width{}", l))));
      v.push_back(eng.real_vector(fmt::format("v({})", net.device_nodes[l][r])).front());
    }
  volts = Eigen::Map<const Eigen::MatrixXd>(v.data(), 1, static_cast<Eigen::Index>(v.size()));
  eng.alter(std::string(spice::sample_index_source), 0.0);
  const double circuit_ac_s = seconds_of([&] { eng.ac(spice::ac_sweep::lin, 1, 1.0, 1.0); });
  const long after_ac = total_iterations(eng);
  const auto lin = compiler::compile_kan_linearization(folded, basis_of_device, compiler::precise_simulator_options());
  spice::engine eng2;
  eng2.load(spice::sweep_netlist(lin.text, lin.drive_sources, volts));
  const long lin_before = total_iterations(eng2);
  eng2.alter(std::string(spice::sample_index_source), 0.0);
  const double lin_ac_s = seconds_of([&] { eng2.ac(spice::ac_sweep::lin, 1, 1.0, 1.0); });
  const long lin_after = total_iterations(eng2);

  std::size_t devices = 0, resistors = 0;
  for (const auto& t : model.parameters)
    if (t.name.ends_with(".coef"))
      for (double v : t.values) resistors += v != 0.0;
  for (std::int64_t l = 0; l < model.size("layers"); ++l)
    devices += static_cast<std::size_t>(model.size(fmt::format("width{}", l)) * model.size("bases"));
  fmt::print("model: {} ({} basis devices, {} crossbar resistors); inputs: {}\n", path ? path : "init_kan [196 64 10]", devices,
             resistors, source);
  fmt::print("spice forward   {:8.2f} ms per image  (batched sweep of {} images, 1 engine, median of {})\n", 1e3 * median(fwd),
             images, rounds);
  fmt::print("spice gradient  {:8.2f} ms per image  ({} images: sweep + {} ac solves)\n", 1e3 * median(grad), grad_images,
             stats.ac_runs);
  fmt::print("gradient / forward = {:.2f}\n", median(grad) / median(fwd));
  fmt::print("software forward {:8.2f} us per image, gradient {:8.2f} us per image (1 thread)\n", 1e6 * median(sw_fwd),
             1e6 * median(sw_grad));
  fmt::print("spice / software: forward {:.0f}x, gradient {:.0f}x\n", median(fwd) / median(sw_fwd),
             median(grad) / median(sw_grad));
  fmt::print("Newton iterations: {:.2f} per sweep point ({} for {} points, {:.2f} ms per point in a fresh engine)\n",
             static_cast<double>(after_sweep - before) / static_cast<double>(images), after_sweep - before, images,
             1e3 * sweep_s / static_cast<double>(images));
  fmt::print(
      "one image: ac of the linearization deck {:.2f} ms ({} iterations for its operating point); ac of the whole "
      "circuit {:.2f} ms ({} iterations), = {:.1f} sweep points\n",
      1e3 * lin_ac_s, lin_after - lin_before, 1e3 * circuit_ac_s, after_ac - after_sweep,
      circuit_ac_s / (sweep_s / static_cast<double>(images)));
  return 0;
}
