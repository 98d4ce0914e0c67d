#include "models/kan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <variant>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "devices/builtin.hpp"
#include "devices/fit.hpp"
#include "ir/schema.hpp"
#include "models/model_devices.hpp"
#include "models/tensor_eigen.hpp"

namespace spicenn::models {

using Eigen::ArrayXXd;
using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// ---------------------------------------------------------------- kan_basis

namespace {

// Largest |I| over [lo, hi]: 4097 samples, then golden-section refinement of
// |I| between the neighbours of the best sample.
double largest_current(const devices::device& d, devices::voltage_window w) {
  constexpr int samples = 4096;
  double best_v = w.lo, best = std::abs(d.current(w.lo));
  for (int k = 1; k <= samples; ++k) {
    const double v = w.lo + (w.hi - w.lo) * k / samples;
    const double a = std::abs(d.current(v));
    if (a > best) best = a, best_v = v;
  }
  const double step = (w.hi - w.lo) / samples;
  double a = std::max(w.lo, best_v - step), b = std::min(w.hi, best_v + step);
  const double phi = (std::sqrt(5.0) - 1) / 2;
  for (int it = 0; it < 80; ++it) {
    const double c = b - phi * (b - a), e = a + phi * (b - a);
    if (std::abs(d.current(c)) > std::abs(d.current(e)))
      b = e;
    else
      a = c;
  }
  return std::max(best, std::abs(d.current((a + b) / 2)));
}

}  // namespace

kan_basis::kan_basis(std::shared_ptr<const devices::device> device) : device_(std::move(device)) {
  const auto w = device_->window();
  if (!w)
    throw error(
        fmt::format("device '{}' has no voltage window, so it cannot be a KAN basis (basis devices: NDR "
                    "curves and fitted devices)",
                    device_->name()));
  window_ = *w;
  i_ref_ = largest_current(*device_, window_);
  if (!(i_ref_ > 0) || !std::isfinite(i_ref_))
    throw error(
        fmt::format("basis device '{}' has no current on its window [{}, {}] V", device_->name(), window_.lo, window_.hi));
  value_lo_ = device_->current(window_.lo) / i_ref_;
  value_hi_ = device_->current(window_.hi) / i_ref_;
  slope_lo_ = device_->conductance(window_.lo) / i_ref_;
  slope_hi_ = device_->conductance(window_.hi) / i_ref_;
  if (const auto* ndr = dynamic_cast<const devices::ndr_device*>(device_.get())) {
    if (const auto* p = std::get_if<devices::bump_curve_parameters>(&ndr->formula())) {
      fast_ = window_.lo >= 0.0;  // the bump terms are defined for V >= 0
      for (const auto& b : p->bumps) bumps_.push_back({b.amplitude / i_ref_, std::log(b.centre), b.rise, b.fall});
      excess_is_ = p->is / i_ref_;
      excess_v0_ = p->v0;
    }
  }
}

void kan_basis::evaluate(const Eigen::Ref<const ArrayXXd>& volts, Eigen::Ref<ArrayXXd> value, ArrayXXd* slope) const {
  const double lo = window_.lo, hi = window_.hi;
  if (slope) slope->resize(volts.rows(), volts.cols());
  if (!fast_) {
    for (Index c = 0; c < volts.cols(); ++c)
      for (Index r = 0; r < volts.rows(); ++r) {
        const double v = volts(r, c);
        value(r, c) = device_->current(v) / i_ref_;
        if (slope) (*slope)(r, c) = device_->conductance(v) / i_ref_;
      }
    return;
  }
  // Inside (lo, hi) and > 0: the formula, with r^k = exp(k ln r). Elsewhere
  // the end values (V == lo or hi: the one-sided slope; outside: slope 0).
  const auto inside = (volts > lo) && (volts < hi) && (volts > 0.0);
  const ArrayXXd v = inside.select(volts, 0.5 * (lo + hi) + 0.25 * (hi - lo));
  const ArrayXXd log_v = v.log();
  ArrayXXd val, sl;
  if (excess_is_ != 0.0) {
    const ArrayXXd e = (v / excess_v0_).exp();
    val = excess_is_ * (e - 1.0);
    sl = (excess_is_ / excess_v0_) * e * v;  // × V here, ÷ V below
  } else {
    val = ArrayXXd::Zero(v.rows(), v.cols());
    sl = ArrayXXd::Zero(v.rows(), v.cols());
  }
  for (const auto& b : bumps_) {
    const ArrayXXd lr = log_v - b.log_centre;
    const ArrayXXd rf = (b.fall * lr).exp();
    const ArrayXXd t = b.amplitude * (b.rise * lr + (b.rise / b.fall) * (1.0 - rf)).exp();
    val += t;
    if (slope) sl += (b.rise * t) * (1.0 - rf);
  }
  const Index rows = volts.rows(), cols = volts.cols();
  value = inside.select(
      val, (volts <= lo).select(ArrayXXd::Constant(rows, cols, value_lo_), ArrayXXd::Constant(rows, cols, value_hi_)));
  if (slope) {
    sl /= v;
    *slope = inside.select(
        sl, (volts == lo)
                .select(ArrayXXd::Constant(rows, cols, slope_lo_),
                        (volts == hi).select(ArrayXXd::Constant(rows, cols, slope_hi_), ArrayXXd::Zero(rows, cols))));
  }
}

// ---------------------------------------------------------------- network

namespace {

// Bases by device (name, library file and its size and time): I_ref takes
// some 8,000 device evaluations, and training rebuilds the network after
// every optimizer step.
kan_basis cached_basis(const ir::model& m, const ir::device_ref& ref) {
  const std::string key = model_device_key(m, ref);
  static std::mutex mutex;
  static std::map<std::string, kan_basis> cache;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  kan_basis basis(load_model_device(m, ref));
  std::lock_guard lock(mutex);
  return cache.emplace(key, std::move(basis)).first->second;
}

}  // namespace

bool kan_network::has_batch_norm() const {
  return std::any_of(layers.begin(), layers.end(), [](const kan_layer& l) { return l.has_batch_norm; });
}

namespace {

const char* const bn_names[] = {"bn_weight", "bn_bias", "bn_mean", "bn_var"};

std::string layer_tensor(std::size_t l, std::string_view what) { return fmt::format("layer{}.{}", l, what); }

// c (row-major [i o d]) -> W(o, d·inputs + i), times m when given.
MatrixXd weight_matrix(const std::vector<double>& c, const std::vector<double>* m, Index in, Index out, Index D) {
  MatrixXd w(out, D * in);
  for (Index i = 0; i < in; ++i)
    for (Index o = 0; o < out; ++o)
      for (Index d = 0; d < D; ++d) {
        const auto k = static_cast<std::size_t>((i * out + o) * D + d);
        w(o, d * in + i) = m ? c[k] * (*m)[k] : c[k];
      }
  return w;
}

}  // namespace

kan_network kan_network::from_model(const ir::model& m) {
  if (m.kind != ir::family::kan) throw error(fmt::format("kan model: the model is of family '{}'", ir::to_string(m.kind)));
  ir::validate(m);
  kan_network net;
  for (std::int64_t d = 0; d < m.size("bases"); ++d) net.bases.push_back(cached_basis(m, m.device(fmt::format("basis{}", d))));
  const auto L = static_cast<std::size_t>(m.size("layers"));
  const Index D = m.size("bases");
  const auto& clamp = m.parameter("hidden_clamp").values;
  net.clamp_lo = clamp[0];
  net.clamp_hi = clamp[1];
  net.volt = m.scale.volt;
  for (std::size_t l = 0; l < L; ++l) {
    kan_layer layer;
    layer.inputs = m.size(fmt::format("width{}", l));
    layer.outputs = m.size(fmt::format("width{}", l + 1));
    const auto* mismatch = m.find_parameter(layer_tensor(l, "coef_mismatch"));
    const auto& c = m.parameter(layer_tensor(l, "coef")).values;
    layer.weight = weight_matrix(c, mismatch ? &mismatch->values : nullptr, layer.inputs, layer.outputs, D);
    if (mismatch) {
      const std::vector<double> ones(c.size(), 1.0);
      layer.mismatch = weight_matrix(ones, &mismatch->values, layer.inputs, layer.outputs, D);
    }
    layer.bias = vector_of(m.parameter(layer_tensor(l, "bias")).values);
    layer.gain = vector_of(m.parameter(layer_tensor(l, "basis_gain")).values);
    layer.offset = vector_of(m.parameter(layer_tensor(l, "basis_offset")).values);
    layer.clamp_input = l > 0;
    int present = 0;
    for (const char* n : bn_names) present += m.find_parameter(layer_tensor(l, n)) != nullptr;
    if (present != 0 && present != 4)
      throw validation_error({}, ir::tensor_path(layer_tensor(l, "bn_weight")),
                             fmt::format("layer {} has {} of the 4 batch-normalization tensors bn_weight, bn_bias, "
                                         "bn_mean, bn_var: give all or none",
                                         l, present));
    if (present == 4) {
      layer.has_batch_norm = true;
      layer.bn.weight = vector_of(m.parameter(layer_tensor(l, "bn_weight")).values);
      layer.bn.bias = vector_of(m.parameter(layer_tensor(l, "bn_bias")).values);
      layer.bn.mean = vector_of(m.parameter(layer_tensor(l, "bn_mean")).values);
      layer.bn.var = vector_of(m.parameter(layer_tensor(l, "bn_var")).values);
    }
    net.layers.push_back(std::move(layer));
  }
  return net;
}

// ---------------------------------------------------------------- forward

namespace {

// Φ (and slopes) of one layer for columns [b0, b1) of x.
// The distinct values of a block of inputs, when there are few: image
// pixels take at most a few hundred values (k/255, or k/1020 pooled), so the
// device curves need evaluating only there. Open addressing on the bit
// pattern; gives up (returns false) past `limit` distinct values.
struct distinct_values {
  std::vector<double> values;
  std::vector<std::int32_t> index;  // per entry (column-major), into values
  bool build(const Eigen::Ref<const MatrixXd>& x, std::size_t limit) {
    constexpr std::size_t slots = 4096;  // > 2·limit
    std::array<std::int32_t, slots> table;
    table.fill(-1);
    values.clear();
    index.resize(static_cast<std::size_t>(x.size()));
    std::size_t k = 0;
    for (Index c = 0; c < x.cols(); ++c)
      for (Index r = 0; r < x.rows(); ++r, ++k) {
        const double v = x(r, c);
        std::uint64_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        std::size_t h = static_cast<std::size_t>((bits * 0x9e3779b97f4a7c15ULL) >> 52) & (slots - 1);
        while (table[h] >= 0 && values[static_cast<std::size_t>(table[h])] != v) h = (h + 1) & (slots - 1);
        if (table[h] < 0) {
          if (values.size() == limit) return false;
          table[h] = static_cast<std::int32_t>(values.size());
          values.push_back(v);
        }
        index[k] = table[h];
      }
    return true;
  }
};

// Φ (and slopes) of one layer for columns [b0, b1) of x.
void basis_values(const kan_network& net, const kan_layer& layer, const MatrixXd& x, Index b0, Index b1, MatrixXd& phi,
                  MatrixXd* slope) {
  const Index n = layer.inputs, cols = b1 - b0;
  const auto block = x.middleCols(b0, cols);
  // Few distinct inputs (at least 4 entries per value): evaluate the
  // devices on those only and scatter. The results are the same numbers.
  thread_local distinct_values distinct;
  const std::size_t entries = static_cast<std::size_t>(n * cols);
  if (entries >= 1024 && distinct.build(block, std::min<std::size_t>(1800, entries / 4))) {
    const Eigen::Map<const Eigen::ArrayXXd> u(distinct.values.data(), 1, static_cast<Index>(distinct.values.size()));
    ArrayXXd value(1, u.cols()), sl;
    for (std::size_t d = 0; d < net.bases.size(); ++d) {
      const auto di = static_cast<Index>(d);
      const double a = layer.gain[di] * net.volt, b = layer.offset[di] * net.volt;
      const ArrayXXd volts = a * u + b;
      net.bases[d].evaluate(volts, value, slope ? &sl : nullptr);
      std::size_t k = 0;
      for (Index c = 0; c < cols; ++c) {
        double* p = &phi(di * n, b0 + c);
        double* q = slope ? &(*slope)(di * n, b0 + c) : nullptr;
        for (Index r = 0; r < n; ++r, ++k) {
          const auto j = distinct.index[k];
          p[r] = value(0, j);
          if (q) q[r] = a * sl(0, j);
        }
      }
    }
    return;
  }
  ArrayXXd value(n, cols), sl;
  for (std::size_t d = 0; d < net.bases.size(); ++d) {
    const auto di = static_cast<Index>(d);
    const double a = layer.gain[di] * net.volt, b = layer.offset[di] * net.volt;
    const ArrayXXd volts = a * block.array() + b;
    net.bases[d].evaluate(volts, value, slope ? &sl : nullptr);
    phi.block(di * n, b0, n, cols) = value.matrix();
    if (slope) slope->block(di * n, b0, n, cols) = (a * sl).matrix();
  }
}

// Threads cost ~30 µs to start per parallel region: a training batch of 64
// runs faster on one (bench_kan_software), so split only from 96 columns.
int workers_for(Index cols, int threads) { return chunk_count(static_cast<long>(cols), resolve_threads(threads), 48); }

}  // namespace

kan_forward_result kan_forward(const kan_network& net, const MatrixXd& x, kan_mode mode, const kan_options& options) {
  if (x.rows() != net.inputs())
    throw error(fmt::format("kan forward: input has {} rows but the model has {} inputs", x.rows(), net.inputs()));
  const Index B = x.cols();
  const int workers = workers_for(B, options.threads);
  kan_forward_result out;
  out.mode = mode;
  MatrixXd a = x;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    const bool last = l + 1 == net.layers.size();
    kan_layer_state st;
    const Index rows = static_cast<Index>(net.bases.size()) * layer.inputs;
    st.phi.resize(rows, B);
    const bool slopes = options.keep_for_backward && (l > 0 || options.input_gradient);
    if (slopes) st.slope.resize(rows, B);
    st.y.resize(layer.outputs, B);
    parallel_chunks(B, workers, [&](int, long b0, long b1) {
      basis_values(net, layer, a, b0, b1, st.phi, slopes ? &st.slope : nullptr);
      st.y.middleCols(b0, b1 - b0).noalias() = layer.weight * st.phi.middleCols(b0, b1 - b0);
      st.y.middleCols(b0, b1 - b0).colwise() += layer.bias;
    });
    if (last) {
      out.outputs = st.y;
      out.layers.push_back(std::move(st));
      break;
    }
    MatrixXd z = st.y;
    if (layer.has_batch_norm) {
      const auto& bn = layer.bn;
      if (mode == kan_mode::train) {
        if (B < 2) throw error("kan forward: batch normalization in training needs batches of at least 2 samples");
        st.mean = st.y.rowwise().mean();
        const VectorXd var = (st.y.colwise() - st.mean).array().square().rowwise().mean();
        st.inv_std = (var.array() + kan_bn_epsilon).rsqrt();
      } else {
        st.mean = bn.mean;
        st.inv_std = (bn.var.array() + kan_bn_epsilon).rsqrt();
      }
      MatrixXd normalized = (st.y.colwise() - st.mean).array().colwise() * st.inv_std.array();
      z = (normalized.array().colwise() * bn.weight.array()).matrix();
      z.colwise() += bn.bias;
      if (options.keep_for_backward) st.normalized = std::move(normalized);
    }
    a = z.cwiseMax(net.clamp_lo).cwiseMin(net.clamp_hi);
    out.hidden.push_back(a);
    st.pre_clamp = std::move(z);
    out.layers.push_back(std::move(st));
  }
  return out;
}

// ---------------------------------------------------------------- backward

void kan_layer_backward(const kan_layer& layer, const MatrixXd& phi, const MatrixXd& slope, const MatrixXd& dy,
                        MatrixXd& d_weight, VectorXd& d_bias, MatrixXd* dx, int threads) {
  const Index B = dy.cols(), n = layer.inputs;
  const Index D = n ? phi.rows() / n : 0;
  const int workers = workers_for(B, threads);
  std::vector<MatrixXd> partial(static_cast<std::size_t>(workers));
  if (dx) dx->resize(n, B);
  parallel_chunks(B, workers, [&](int w, long b0, long b1) {
    const Index cols = b1 - b0;
    partial[static_cast<std::size_t>(w)].noalias() = dy.middleCols(b0, cols) * phi.middleCols(b0, cols).transpose();
    if (!dx) return;
    const MatrixXd dphi = layer.weight.transpose() * dy.middleCols(b0, cols);
    auto out = dx->middleCols(b0, cols);
    out.setZero();
    for (Index d = 0; d < D; ++d) out.array() += dphi.middleRows(d * n, n).array() * slope.block(d * n, b0, n, cols).array();
  });
  d_weight = std::move(partial[0]);
  for (std::size_t w = 1; w < partial.size(); ++w) d_weight += partial[w];
  d_bias = dy.rowwise().sum();
}

std::vector<double> kan_coef_gradient(const kan_layer& layer, const MatrixXd& d_weight) {
  const Index in = layer.inputs, out = layer.outputs;
  const Index D = in ? d_weight.cols() / in : 0;
  std::vector<double> g(static_cast<std::size_t>(in * out * D));
  for (Index i = 0; i < in; ++i)
    for (Index o = 0; o < out; ++o)
      for (Index d = 0; d < D; ++d) {
        const double m = layer.mismatch.size() ? layer.mismatch(o, d * in + i) : 1.0;
        g[static_cast<std::size_t>((i * out + o) * D + d)] = d_weight(o, d * in + i) * m;
      }
  return g;
}

kan_gradient kan_backward(const kan_network& net, const kan_forward_result& fwd, const MatrixXd& dy, const kan_options& options) {
  bool kept = fwd.layers.size() == net.layers.size();
  for (std::size_t l = 0; kept && l < fwd.layers.size(); ++l)
    kept = fwd.layers[l].phi.size() > 0 && ((l == 0 && !options.input_gradient) || fwd.layers[l].slope.size() > 0);
  if (!kept)
    throw error("kan backward: the forward pass was not kept for backward (kan_options::keep_for_backward, input_gradient)");
  kan_gradient g;
  MatrixXd delta = dy;  // ∂L/∂y of layer l
  for (std::size_t l = net.layers.size(); l-- > 0;) {
    const auto& layer = net.layers[l];
    const auto& st = fwd.layers[l];
    MatrixXd dW, dx;
    VectorXd db;
    const bool want_dx = l > 0 || options.input_gradient;
    kan_layer_backward(layer, st.phi, st.slope, delta, dW, db, want_dx ? &dx : nullptr, options.threads);
    g.parameters[layer_tensor(l, "coef")] = kan_coef_gradient(layer, dW);
    g.parameters[layer_tensor(l, "bias")] = to_vector(db);
    if (l == 0) {
      g.inputs = std::move(dx);
      break;
    }
    // Through the clamp of the previous layer's output (strictly inside passes).
    const auto& prev = net.layers[l - 1];
    const auto& ps = fwd.layers[l - 1];
    MatrixXd dz = ((ps.pre_clamp.array() > net.clamp_lo) && (ps.pre_clamp.array() < net.clamp_hi)).select(dx, 0.0);
    if (!prev.has_batch_norm) {
      delta = std::move(dz);
      continue;
    }
    const auto& bn = prev.bn;
    g.parameters[layer_tensor(l - 1, "bn_weight")] = to_vector((dz.cwiseProduct(ps.normalized)).rowwise().sum());
    g.parameters[layer_tensor(l - 1, "bn_bias")] = to_vector(dz.rowwise().sum());
    const MatrixXd dn = dz.array().colwise() * bn.weight.array();
    if (fwd.mode == kan_mode::train) {
      // y → (y − μ_B)/σ_B: dy = (dn − mean(dn) − n̂·mean(dn ⊙ n̂)) / σ_B
      const VectorXd mean_dn = dn.rowwise().mean();
      const VectorXd mean_dn_n = dn.cwiseProduct(ps.normalized).rowwise().mean();
      MatrixXd t = dn.colwise() - mean_dn;
      t -= (ps.normalized.array().colwise() * mean_dn_n.array()).matrix();
      delta = t.array().colwise() * ps.inv_std.array();
    } else {
      delta = dn.array().colwise() * ps.inv_std.array();
    }
  }
  return g;
}

std::map<std::string, std::vector<double>> kan_updated_running_statistics(const kan_network& net, const kan_forward_result& fwd) {
  std::map<std::string, std::vector<double>> out;
  if (fwd.mode != kan_mode::train) return out;
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    if (!layer.has_batch_norm) continue;
    const auto& st = fwd.layers[l];
    const Index B = st.y.cols();
    const VectorXd biased = (st.inv_std.array().square().inverse() - kan_bn_epsilon).matrix();
    const VectorXd unbiased = biased * (static_cast<double>(B) / static_cast<double>(std::max<Index>(B - 1, 1)));
    const double m = kan_bn_momentum;
    out[layer_tensor(l, "bn_mean")] = to_vector((1 - m) * layer.bn.mean + m * st.mean);
    out[layer_tensor(l, "bn_var")] = to_vector(((1 - m) * layer.bn.var + m * unbiased).cwiseMax(0.0));
  }
  return out;
}

// ---------------------------------------------------------------- folding

namespace {

// s_o = γ/√(var + ε) of layer l.
VectorXd bn_scale(const ir::model& m, std::size_t l) {
  const VectorXd gamma = vector_of(m.parameter(layer_tensor(l, "bn_weight")).values);
  const VectorXd var = vector_of(m.parameter(layer_tensor(l, "bn_var")).values);
  return gamma.array() * (var.array() + kan_bn_epsilon).rsqrt();
}

bool layer_has_bn(const ir::model& m, std::size_t l) { return m.find_parameter(layer_tensor(l, "bn_weight")) != nullptr; }

}  // namespace

ir::model kan_fold_batch_norm(const ir::model& m) {
  if (m.kind != ir::family::kan) throw error("kan_fold_batch_norm: not a KAN model");
  // Validates, including complete bn groups; a model without batch
  // normalization is its own fold (compile_kan and the spice evaluator fold
  // models that usually are folded already).
  if (!kan_network::from_model(m).has_batch_norm()) return m;
  ir::model out = m;
  const auto L = static_cast<std::size_t>(m.size("layers"));
  const auto D = static_cast<std::size_t>(m.size("bases"));
  for (std::size_t l = 0; l + 1 < L; ++l) {
    if (!layer_has_bn(m, l)) continue;
    const VectorXd s = bn_scale(m, l);
    const auto& mean = m.parameter(layer_tensor(l, "bn_mean")).values;
    const auto& shift = m.parameter(layer_tensor(l, "bn_bias")).values;
    auto& c = out.parameter(layer_tensor(l, "coef")).values;
    auto& beta = out.parameter(layer_tensor(l, "bias")).values;
    const auto outs = beta.size();
    for (std::size_t k = 0; k < c.size(); ++k) c[k] *= s[static_cast<Index>((k / D) % outs)];
    for (std::size_t o = 0; o < outs; ++o) beta[o] = (beta[o] - mean[o]) * s[static_cast<Index>(o)] + shift[o];
    std::erase_if(out.parameters, [&](const ir::tensor& t) {
      return std::any_of(std::begin(bn_names), std::end(bn_names), [&](const char* n) { return t.name == layer_tensor(l, n); });
    });
  }
  ir::validate(out);
  return out;
}

std::map<std::string, std::vector<double>> kan_unfold_gradient(const ir::model& m,
                                                               const std::map<std::string, std::vector<double>>& folded) {
  std::map<std::string, std::vector<double>> out = folded;
  const auto L = static_cast<std::size_t>(m.size("layers"));
  const auto D = static_cast<std::size_t>(m.size("bases"));
  for (std::size_t l = 0; l + 1 < L; ++l) {
    if (!layer_has_bn(m, l)) continue;
    const VectorXd gamma = vector_of(m.parameter(layer_tensor(l, "bn_weight")).values);
    const VectorXd inv = (vector_of(m.parameter(layer_tensor(l, "bn_var")).values).array() + kan_bn_epsilon).rsqrt();
    const VectorXd s = gamma.cwiseProduct(inv);
    const auto& mean = m.parameter(layer_tensor(l, "bn_mean")).values;
    const auto& c = m.parameter(layer_tensor(l, "coef")).values;
    const auto& beta = m.parameter(layer_tensor(l, "bias")).values;
    const auto& gc = folded.at(layer_tensor(l, "coef"));
    const auto& gb = folded.at(layer_tensor(l, "bias"));
    const auto outs = beta.size();
    std::vector<double> dc(c.size()), db(outs), dgamma(outs, 0.0), dshift(gb);
    // c' = c·s_o, β' = (β − μ)·s_o + β_bn, s_o = γ_o·inv_o.
    for (std::size_t k = 0; k < c.size(); ++k) {
      const auto o = (k / D) % outs;
      dc[k] = gc[k] * s[static_cast<Index>(o)];
      dgamma[o] += gc[k] * c[k] * inv[static_cast<Index>(o)];
    }
    for (std::size_t o = 0; o < outs; ++o) {
      db[o] = gb[o] * s[static_cast<Index>(o)];
      dgamma[o] += gb[o] * (beta[o] - mean[o]) * inv[static_cast<Index>(o)];
    }
    out[layer_tensor(l, "coef")] = std::move(dc);
    out[layer_tensor(l, "bias")] = std::move(db);
    out[layer_tensor(l, "bn_weight")] = std::move(dgamma);
    out[layer_tensor(l, "bn_bias")] = std::move(dshift);
  }
  return out;
}

}  // namespace spicenn::models
