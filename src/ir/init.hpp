// Random initial models for each family, valid against the family schema.
//
// Deterministic for a seed on every platform: the generator is
// std::mt19937_64 with spicenn's own distributions (uniform from the top 53
// bits; normal as the Irwin-Hall sum of 12 uniforms minus 6, which uses only
// exactly rounded arithmetic), never the std:: distributions, whose output
// differs between standard libraries.
//
//   auto mon = ir::init_mon(784, 100, 10, 1, /*seed=*/42);          // diode = ideal
//   auto kan = ir::init_kan({196, 64, 10}, {"z15", "zaz21"}, 42);
//   auto net = ir::init_kirchhoffnet(2, 4, 2, 3, "shift_tanh2", 42);
//   ir::save_model(mon, "mon.xml");
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::ir {

// The SPICE device realising a MON diode law by default: "ideal" ->
// pwl_diode (piecewise linear, 1e6 S forward: within a nanovolt of the ideal
// clamp and a few Newton iterations per operating point; ideal_diode, the
// N = 0.001 exponential, is the alternative), "shockley" -> shockley_diode.
std::string default_mon_diode_device(std::string_view diode);

// Resistor-diode MON. diode is "ideal" (device pwl_diode) or "shockley"
// (shockley_diode). Scale volt = 1, ampere = 1e-4 (G_unit = 100 uS).
// For each stage with fan-in n_in (inputs, then hidden):
//   h_pos, h_neg ~ U(0,1)/sqrt(n_in); g_between ~ U(0,1)/sqrt(hidden),
//   symmetric with zero diagonal; g_ground ~ U(0,1); bias ~ 0.1*sqrt(n_in)*U(0,1)
//   (small and positive, so that nodes start above the diode's knee);
//   readout.weight ~ N(0,1)/sqrt(hidden); readout.bias = 0.
// input_scale multiplies stage 0's h_pos and h_neg (the conductances from
// the data inputs; the same random draws, so 1 gives the model of before):
// on the 2-D toy sets, 2-16-2 networks with 3 reach 100 % validation
// accuracy on moons in 10 epochs for 12 of 12 seeds, against 5 of 12 with 1,
// which stalls near a linear boundary (~88 %; docs/results.md, "Toy sets").
model init_mon(std::int64_t inputs, std::int64_t hidden, std::int64_t outputs, std::int64_t stages,
               std::uint64_t seed, std::string_view diode = "ideal", double input_scale = 1.0);

struct kan_init_options {
  // Device voltages (in scale volts) that the input range [0, 1] of layer 0
  // and the hidden clamp range [0, 1.4] of later layers span: basis_gain
  // and basis_offset map the signal linearly onto them, for every basis.
  // The defaults put zero signal at a conducting bias point on the rising
  // flanks of z15 and zaz21 (chosen on a validation split, docs/results.md).
  std::array<double, 2> input_volts{0.4, 1.0};
  std::array<double, 2> hidden_volts{0.3, 1.0};
  // Batch normalization after every layer but the last (tensors
  // layer{l}.bn_weight = 0.35, bn_bias = 0.7: the clamp range [0, 1.4] is
  // ±2σ around its centre; bn_mean = 0, bn_var = 1), for training; folded
  // into coef and bias when a trained model is exported.
  bool batch_norm = false;
};

// Device-basis KAN with layer widths widths[0..L] and one builtin basis
// device per entry of bases (e.g. {"z15", "zaz21"}; an entry ending in
// .lib or holding a '/' is the library of a fitted device). coef ~
// N(0,1)/sqrt(fan_in*bases), bias = 0; basis_gain/basis_offset map [0, 1]
// (layer 0) and the clamp [0, 1.4] (later layers) onto options.input_volts
// and options.hidden_volts.
model init_kan(const std::vector<std::int64_t>& widths, const std::vector<std::string>& bases, std::uint64_t seed,
               const kan_init_options& options = {});

struct kirchhoffnet_init_options {
  // theta ~ theta_std*N(0,1); with kaiming, std = sqrt(2/edges) (what the
  // reference's kaiming_normal_ gives its theta × edges parameter).
  double theta_std = 0.1;
  bool kaiming = false;
  double duration = 0.5;  // per slice, normalized time units
};

// KirchhoffNet. edges (the same for every slice) defaults to every ordered
// pair of distinct nodes in 0..nodes (ground = 0); capacitance 1; outputs on
// the last `outputs` nodes (tensor output_nodes).
model init_kirchhoffnet(std::int64_t inputs, std::int64_t nodes, std::int64_t outputs, std::int64_t slices,
                        std::string_view edge_function, std::uint64_t seed,
                        const std::optional<std::vector<std::array<std::int64_t, 2>>>& edges = std::nullopt,
                        const kirchhoffnet_init_options& options = {});

// The reference KirchhoffNet image topology ("mix connect"): pixel nodes
// 1..width·height (row-major), for every neighbor×neighbor window (stride 1,
// no padding; windows in row-major order) an edge between every ordered pair
// of distinct pixels in it (window positions row-major); then every pixel to
// and from ground (p→0, 0→p); then `hub` nodes after the pixels, each
// joined to ground and every pixel in both directions (i→hub, hub→i for
// i = 0..pixels). 14×14, 4, 50: 246 nodes, 49,132 edges; 28×28: 834, 230,068.
std::vector<std::array<std::int64_t, 2>> image_topology(std::int64_t width, std::int64_t height, std::int64_t neighbor,
                                                       std::int64_t hub);

}  // namespace spicenn::ir
