// Software model of the device-basis Kolmogorov-Arnold network (KAN,
// docs/models.md §1): basis curves from the device library, batched forward
// and backward passes, batch normalization for training and its exact
// folding into the layer it follows.
//
// Layer l maps x (width_l) to y (width_{l+1}):
//   y_o = Σ_i Σ_d c[i,o,d]·m[i,o,d]·B_d(x_i) + β_o,   B_d(x) = I_d((a_d·x + b_d)·volt) / I_ref,d
// with m the optional fixed mismatch (1 where absent). After every layer but
// the last: optional batch normalization, then the clamp to hidden_clamp
// [lo, hi] before the next layer's bases.
//
//   auto net = spicenn::models::kan_network::from_model(model);   // devices: builtin or fitted .lib
//   auto fwd = spicenn::models::kan_forward(net, x, spicenn::models::kan_mode::train, {.keep_for_backward = true});
//   Eigen::MatrixXd dy;
//   double loss = spicenn::models::softmax_cross_entropy(fwd.outputs, labels, &dy);
//   auto grad = spicenn::models::kan_backward(net, fwd, dy);
//   grad.parameters.at("layer0.coef");           // ∂L/∂c, row-major like the ir tensor
//   auto folded = spicenn::models::kan_fold_batch_norm(model);   // no bn_* tensors, same eval outputs
//
// Layout: the basis values of a layer are a (bases·inputs) × batch matrix Φ
// whose row d·inputs + i holds B_d(x_i), so a layer is one matrix product
// y = W Φ + β with W(o, d·inputs + i) = c[i,o,d]·m[i,o,d]. Columns (samples)
// are spread over `threads` std::threads; results do not depend on the
// thread count beyond rounding of the batch-norm sums.
#pragma once

#include <Eigen/Core>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "ir/model.hpp"

namespace spicenn::models {

// One basis device with its normalisation. I_ref is the largest |I| over the
// device's voltage window (dense sampling, then golden-section refinement of
// the best sample), so that B = I / I_ref lies in [-1, 1]; outside the window
// the device holds its end values (ndr_device, fitted_device).
class kan_basis {
 public:
  explicit kan_basis(std::shared_ptr<const devices::device> device);

  const devices::device& device() const { return *device_; }
  devices::voltage_window window() const { return window_; }  // volts
  double reference_current() const { return i_ref_; }         // amperes, > 0

  // For every entry of volts: value = I(V) / I_ref and (if slope) slope =
  // dI/dV (V) / I_ref, per volt. The analytic bump curves (a21, z21, z15,
  // zaz21) take a vectorized path (one log and two exp per bump); other
  // devices call device().current()/conductance() per entry. Both agree with
  // the device to rounding.
  void evaluate(const Eigen::Ref<const Eigen::ArrayXXd>& volts, Eigen::Ref<Eigen::ArrayXXd> value, Eigen::ArrayXXd* slope) const;

 private:
  std::shared_ptr<const devices::device> device_;
  devices::voltage_window window_;
  double i_ref_ = 1.0;
  // The end values (value and one-sided slope at lo and hi, already / I_ref).
  double value_lo_ = 0, value_hi_ = 0, slope_lo_ = 0, slope_hi_ = 0;
  bool fast_ = false;  // bump-curve formula: vectorized path
  struct bump {
    double amplitude, log_centre, rise, fall;
  };
  std::vector<bump> bumps_;               // amplitudes / I_ref
  double excess_is_ = 0, excess_v0_ = 1;  // / I_ref
};

struct kan_batch_norm {
  Eigen::VectorXd weight, bias, mean, var;  // γ, β_bn, running mean and variance
};
inline constexpr double kan_bn_epsilon = 1e-5;  // as PyTorch's BatchNorm1d
inline constexpr double kan_bn_momentum = 0.1;

struct kan_layer {
  Eigen::Index inputs = 0, outputs = 0;
  Eigen::MatrixXd weight;        // outputs × (bases·inputs): c·m in Φ's row order
  Eigen::MatrixXd mismatch;      // same layout; empty when the model has none
  Eigen::VectorXd bias;          // β
  Eigen::VectorXd gain, offset;  // a_d, b_d (normalized volts per unit, normalized volts)
  bool clamp_input = false;      // hidden layer input: clamp to [clamp_lo, clamp_hi] first
  bool has_batch_norm = false;
  kan_batch_norm bn;  // after this layer (hidden layers only)
};

class kan_network {
 public:
  std::vector<kan_basis> bases;
  std::vector<kan_layer> layers;
  double clamp_lo = 0.0, clamp_hi = 1.4;  // normalized
  double volt = 1.0;                      // scale: volts per unit

  Eigen::Index inputs() const { return layers.front().inputs; }
  Eigen::Index outputs() const { return layers.back().outputs; }
  bool has_batch_norm() const;

  // Validates the model (ir::validate; every layer has all four bn_* tensors
  // or none, and none after the last layer) and loads the basis devices.
  // Throws spicenn::validation_error naming the tensor.
  static kan_network from_model(const ir::model& m);
};

// Batch normalization uses the batch statistics (train) or the running ones
// (eval). Without batch normalization the two are the same.
enum class kan_mode { train, eval };

struct kan_options {
  int threads = 0;                 // 0 = all cores
  bool keep_for_backward = false;  // keep Φ, slopes and normalization state
  bool input_gradient = true;      // backward also computes ∂L/∂x (needs layer 0's slopes)
};

struct kan_layer_state {
  Eigen::MatrixXd phi;    // (bases·inputs) × batch
  Eigen::MatrixXd slope;  // ∂Φ/∂x: a_d·volt·I_d'/I_ref, same shape (keep_for_backward; layer 0: and input_gradient)
  Eigen::MatrixXd y;      // W Φ + β (outputs × batch)
  // Hidden layers: the value before the clamp (after normalization).
  Eigen::MatrixXd pre_clamp;
  Eigen::MatrixXd normalized;     // (y − μ)/σ (batch norm, keep_for_backward)
  Eigen::VectorXd mean, inv_std;  // the statistics used (batch or running)
};

struct kan_forward_result {
  kan_mode mode = kan_mode::eval;
  Eigen::MatrixXd outputs;              // outputs × batch
  std::vector<Eigen::MatrixXd> hidden;  // per hidden layer: the clamped activations
  std::vector<kan_layer_state> layers;  // per layer
};

kan_forward_result kan_forward(const kan_network& net, const Eigen::MatrixXd& x, kan_mode mode, const kan_options& options = {});

struct kan_gradient {
  std::map<std::string, std::vector<double>> parameters;  // every trainable tensor
  Eigen::MatrixXd inputs;                                 // ∂L/∂x (empty without input_gradient)
};

// ∂L/∂θ for dL/dy = dy (outputs × batch) from a forward pass kept for
// backward. In train mode batch normalization back-propagates through the
// batch statistics; in eval mode it is the fixed affine map.
kan_gradient kan_backward(const kan_network& net, const kan_forward_result& fwd, const Eigen::MatrixXd& dy,
                          const kan_options& options = {});

// One layer's backward step through the crossbar, given its basis values,
// slopes (∂Φ/∂x) and ∂L/∂y: dW = dy Φᵀ, dβ = Σ dy, and (if dx) ∂L/∂x =
// Σ_d (Wᵀ dy)_d ⊙ slope_d. Used by the software and the SPICE engines alike.
void kan_layer_backward(const kan_layer& layer, const Eigen::MatrixXd& phi, const Eigen::MatrixXd& slope,
                        const Eigen::MatrixXd& dy, Eigen::MatrixXd& d_weight, Eigen::VectorXd& d_bias, Eigen::MatrixXd* dx,
                        int threads = 1);

// ∂L/∂W in Φ's layout → ∂L/∂c in the ir tensor's row-major [i o d] order
// (times the mismatch, since W = c·m).
std::vector<double> kan_coef_gradient(const kan_layer& layer, const Eigen::MatrixXd& d_weight);

// The running statistics after a train-mode forward pass (momentum 0.1,
// unbiased batch variance, as PyTorch): tensor name -> new values.
std::map<std::string, std::vector<double>> kan_updated_running_statistics(const kan_network& net, const kan_forward_result& fwd);

// The model with batch normalization folded into the layer it follows:
// c' = c·s_o, β' = (β − μ)·s_o + β_bn with s = γ/√(var + ε); the bn_* tensors
// are removed. Eval-mode outputs are unchanged (to rounding). Models without
// batch normalization are returned as they are.
ir::model kan_fold_batch_norm(const ir::model& m);

// Gradients of the folded model (c', β' per layer) → gradients of the
// unfolded model's tensors (c, β, γ, β_bn), with the running statistics
// held fixed (eval mode): the chain rule of kan_fold_batch_norm.
std::map<std::string, std::vector<double>> kan_unfold_gradient(const ir::model& unfolded,
                                                               const std::map<std::string, std::vector<double>>& folded);

}  // namespace spicenn::models
