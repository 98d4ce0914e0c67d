#include "models/mon.hpp"
#include "models/tensor_eigen.hpp"
#include "models/mon_kernels.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "core/error.hpp"
#include "core/finite_scan.hpp"
#include "core/parallel.hpp"

namespace spicenn::models {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

// ------------------------------------------------------------ reading the IR

std::string tensor_path(const std::string& name) { return fmt::format("/model/parameters/tensor[@name='{}']", name); }

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw validation_error({}, path, what); }

std::int64_t need_size(const ir::model& m, const char* name, std::int64_t min) {
  const auto it = m.sizes.find(name);
  const std::string path = fmt::format("/model/sizes/size[@name='{}']", name);
  if (it == m.sizes.end()) fail(path, fmt::format("the MON model needs size '{}'", name));
  if (it->second < min) fail(path, fmt::format("size '{}' is {} but must be >= {}", name, it->second, min));
  return it->second;
}

enum class sign { any, nonnegative };

// Finds tensor `name`, checks its shape and values; returns its values.
const std::vector<double>& need_tensor(const ir::model& m, const std::string& name, std::vector<std::size_t> shape, sign sg) {
  const ir::tensor* t = nullptr;
  for (const auto& p : m.parameters)
    if (p.name == name) t = &p;
  const std::string path = tensor_path(name);
  if (!t) fail(path, "missing: the MON model needs this tensor");
  if (t->shape != shape)
    fail(path, fmt::format("shape [{}] but the MON model needs [{}]", fmt::join(t->shape, ", "), fmt::join(shape, ", ")));
  const std::size_t count = std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
  if (t->values.size() != count)
    fail(path, fmt::format("{} values for shape [{}] ({} expected)", t->values.size(), fmt::join(shape, ", "), count));
  // A vectorized test first (the network is rebuilt after every training
  // step); the loop only to name the bad value (or to accept a −0).
  if (sg == sign::any ? all_finite(t->values) : all_finite_nonnegative(t->values)) return t->values;
  for (std::size_t i = 0; i < count; ++i) {
    const double x = t->values[i];
    if (!std::isfinite(x)) fail(path, fmt::format("value #{} is {} (must be finite)", i, x));
    if (sg == sign::nonnegative && x < 0.0) fail(path, fmt::format("value #{} is {} but conductances must be >= 0", i, x));
  }
  return t->values;
}


// First node of a connected group (through g_between > 0) none of whose
// nodes has conductance to ground or to an input; −1 if there is none.
Index floating_node(const mon_stage& st) {
  const Index n = st.hidden;
  std::vector<Index> comp(static_cast<std::size_t>(n), -1);
  for (Index root = 0; root < n; ++root) {
    if (comp[root] >= 0) continue;
    std::vector<Index> stack{root};
    comp[root] = root;
    bool grounded = false;
    while (!stack.empty()) {
      const Index a = stack.back();
      stack.pop_back();
      if (st.g_ground[a] > 0.0 || st.h_row_sum[a] > 0.0) grounded = true;
      for (Index b = 0; b < n; ++b)
        if (st.g_between(a, b) > 0.0 && comp[b] < 0) {
          comp[b] = root;
          stack.push_back(b);
        }
    }
    if (!grounded) return root;
  }
  return -1;
}

}  // namespace

// ------------------------------------------------------------ stage

MatrixXd mon_conductance_matrix(const MatrixXd& g_between, const VectorXd& g_ground, const VectorXd& h_row_sum) {
  MatrixXd G = -g_between;
  // g_between's row sums as sums of its columns (contiguous in column-major
  // storage; a rowwise() reduction walks the rows with a stride).
  VectorXd diag = g_ground + h_row_sum;
  for (Index k = 0; k < g_between.cols(); ++k) diag += g_between.col(k);
  G.diagonal() = diag;
  return G;
}

void mon_stage::set_inputs(const Eigen::Ref<const row_major_matrix>& h_pos,
                           const Eigen::Ref<const row_major_matrix>& h_neg) {
  inputs = h_pos.cols();
  h_row_sum = h_pos.rowwise().sum() + h_neg.rowwise().sum();
  // H = h_pos − h_neg, column-major (the sources walk its columns), in bands
  // of 16 rows: each column's 16 entries are one contiguous run while the
  // band's rows of h_pos and h_neg stay in the cache.
  H.resize(h_pos.rows(), inputs);
  constexpr Index band = 16;
  for (Index r0 = 0; r0 < H.rows(); r0 += band) {
    const Index r1 = std::min(H.rows(), r0 + band);
    for (Index c = 0; c < inputs; ++c)
      for (Index r = r0; r < r1; ++r) H(r, c) = h_pos(r, c) - h_neg(r, c);
  }
}

void mon_stage::assemble(int index) {
  const Index n = hidden;
  G = mon_conductance_matrix(g_between, g_ground, h_row_sum);
  G_abs = G.cwiseAbs();
  Eigen::LLT<MatrixXd> llt(G);
  if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().minCoeff() > 0.0)) {
    const Index j = floating_node(*this);
    const std::string path = tensor_path(fmt::format("stage{}.g_ground", index));
    if (j >= 0)
      fail(path, fmt::format("stage {}: hidden node {} has no conductance path to ground or to an input, so its "
                             "voltage is undetermined (G is singular)",
                             index, j));
    fail(path, fmt::format("stage {}: the conductance matrix G is numerically singular", index));
  }
  G_inverse = llt.solve(MatrixXd::Identity(n, n));
  // λmin(G) >= 1/‖G⁻¹‖∞ and λmax(G) <= ‖G‖∞ (Gershgorin); their geometric
  // mean is a good Peaceman-Rachford step for a warm start.
  const double lo = 1.0 / G_inverse.cwiseAbs().rowwise().sum().maxCoeff();
  const double hi = G.cwiseAbs().rowwise().sum().maxCoeff();
  pr_alpha = 1.0 / std::sqrt(lo * hi);
  jacobi_contraction = ((G.cwiseAbs().rowwise().sum() - G.diagonal()).array() / G.diagonal().array()).maxCoeff();
}

namespace {

// Inputs with fewer nonzeros than this fraction (MNIST: ~19 %) are multiplied
// column by column over their nonzeros, which beats the dense product.
constexpr double sparse_input_fraction = 0.3;

bool mostly_zero(const Eigen::Ref<const MatrixXd>& x) {
  if (x.size() == 0) return false;
  return static_cast<double>((x.array() != 0.0).count()) < sparse_input_fraction * static_cast<double>(x.size());
}

}  // namespace

MatrixXd mon_stage::sources(const Eigen::Ref<const MatrixXd>& x) const {
  MatrixXd s(hidden, x.cols());
  const Index in = x.rows(), B = x.cols();
  if (B == 0) return s;
  // Mostly-zero columns (MNIST pixels) are multiplied over their nonzeros,
  // the others by one dense product; a first column decides.
  std::vector<int> k(static_cast<std::size_t>(in + 16));
  std::vector<double> val(static_cast<std::size_t>(in + 16));
  const bool contiguous = x.innerStride() == 1;
  auto sparse_column = [&](Index b) {
    const double* xb = contiguous ? x.col(b).data() : nullptr;
    VectorXd copy;
    if (!xb) {
      copy = x.col(b);
      xb = copy.data();
    }
    const int m = kernels::nonzeros(xb, static_cast<int>(in), k.data(), val.data());
    return m;
  };
  if (sparse_column(0) >= sparse_input_fraction * static_cast<double>(in) || H.outerStride() != hidden) {
    s.noalias() = H * x;
    s.colwise() += bias;
    return s;
  }
  for (Index b = 0; b < B; ++b) {
    const int m = sparse_column(b);
    double* out = s.col(b).data();
    if (m >= sparse_input_fraction * static_cast<double>(in)) {
      s.col(b).noalias() = H * x.col(b);
      s.col(b) += bias;
      continue;
    }
    s.col(b) = bias;
    kernels::sum_columns(H.data(), hidden, hidden, k.data(), val.data(), m, out);
  }
  return s;
}

// ------------------------------------------------------------ network from the IR

std::vector<mon_stage> mon_stages_from_model(const ir::model& m) {
  if (m.kind != ir::family::mon)
    fail("/model", fmt::format("family is '{}' but a MON model is needed", m.kind == ir::family::kan ? "kan" : "kirchhoffnet"));
  const auto inputs = need_size(m, "inputs", 1);
  const auto hidden = need_size(m, "hidden", 1);
  const auto n_stages = need_size(m, "stages", 1);
  std::vector<mon_stage> stages;
  const auto n = static_cast<std::size_t>(hidden);
  for (std::int64_t s = 0; s < n_stages; ++s) {
    mon_stage st;
    st.inputs = s == 0 ? inputs : hidden;
    st.hidden = hidden;
    const auto in = static_cast<std::size_t>(st.inputs);
    const auto prefix = fmt::format("stage{}.", s);
    const auto& gb = need_tensor(m, prefix + "g_between", {n, n}, sign::nonnegative);
    st.g_between = row_major(gb, hidden, hidden);
    for (Index a = 0; a < hidden; ++a) {
      if (st.g_between(a, a) != 0.0)
        fail(tensor_path(prefix + "g_between"),
             fmt::format("diagonal entry ({0},{0}) is {1} but must be 0", a, st.g_between(a, a)));
      for (Index b = a + 1; b < hidden; ++b) {
        const double x = st.g_between(a, b), y = st.g_between(b, a);
        if (std::abs(x - y) > 1e-12 * std::max(std::abs(x), std::abs(y)))
          fail(tensor_path(prefix + "g_between"),
               fmt::format("not symmetric: ({},{}) is {} but ({},{}) is {}", a, b, x, b, a, y));
        st.g_between(a, b) = st.g_between(b, a) = 0.5 * (x + y);
      }
    }
    st.g_ground = vector_of(need_tensor(m, prefix + "g_ground", {n}, sign::nonnegative));
    const auto& h_pos = need_tensor(m, prefix + "h_pos", {n, in}, sign::nonnegative);
    const auto& h_neg = need_tensor(m, prefix + "h_neg", {n, in}, sign::nonnegative);
    st.set_inputs(Eigen::Map<const row_major_matrix>(h_pos.data(), hidden, st.inputs),
                  Eigen::Map<const row_major_matrix>(h_neg.data(), hidden, st.inputs));
    st.bias = vector_of(need_tensor(m, prefix + "bias", {n}, sign::any));
    st.assemble(static_cast<int>(s));
    stages.push_back(std::move(st));
  }
  return stages;
}

namespace {

const char* const diode_option_path = "/model/options/option[@name='diode']";
const char* const diode_device_path = "/model/devices/device[@role='diode']";

// The family and sizes, checked first so that their errors come before the
// option's and the tensors'.
void need_family_and_sizes(const ir::model& m) {
  if (m.kind != ir::family::mon)
    fail("/model", fmt::format("family is '{}' but a MON model is needed", m.kind == ir::family::kan ? "kan" : "kirchhoffnet"));
  for (const char* size : {"inputs", "hidden", "outputs", "stages"}) need_size(m, size, 1);
}

// Everything but the law: the stages and the readout.
mon_network network_with_law(const ir::model& m, mon_diode_kind kind, mon_diode_law law) {
  const auto hidden = m.size("hidden");
  const auto outputs = m.size("outputs");
  mon_network net;
  net.diode = kind;
  net.law = std::move(law);
  net.stages = mon_stages_from_model(m);
  const auto n = static_cast<std::size_t>(hidden);
  const auto out = static_cast<std::size_t>(outputs);
  net.readout_weight = row_major(need_tensor(m, "readout.weight", {out, n}, sign::any), outputs, hidden);
  net.readout_bias = vector_of(need_tensor(m, "readout.bias", {out}, sign::any));
  return net;
}

void need_scale(const ir::model& m) {
  if (!(m.scale.volt > 0.0) || !(m.scale.ampere > 0.0))
    fail("/model/scale", fmt::format("volt={} and ampere={} must be positive", m.scale.volt, m.scale.ampere));
}

mon_diode_law shockley_law(const ir::model& m, const devices::shockley_parameters& p) {
  if (!(p.is > 0.0) || !(p.n > 0.0) || !(p.vt > 0.0) || !std::isfinite(p.is) || !std::isfinite(p.n) || !std::isfinite(p.vt))
    fail(diode_device_path, fmt::format("Shockley parameters is={} n={} vt={} must be positive and finite", p.is, p.n, p.vt));
  need_scale(m);
  mon_diode_law law;
  law.is = p.is / m.scale.ampere;
  law.vt = p.n * p.vt / m.scale.volt;
  return law;
}

std::string diode_option(const ir::model& m) {
  const auto opt = m.options.find("diode");
  if (opt == m.options.end()) fail(diode_option_path, "the MON model needs option 'diode' (ideal, shockley or device)");
  if (opt->second != "ideal" && opt->second != "shockley" && opt->second != "device")
    fail(diode_option_path, fmt::format("diode is '{}' but must be 'ideal', 'shockley' or 'device'", opt->second));
  return opt->second;
}

}  // namespace

mon_network mon_network::from_model(const ir::model& m, const devices::shockley_parameters* diode) {
  need_family_and_sizes(m);
  const std::string opt = diode_option(m);
  if (opt == "ideal") return network_with_law(m, mon_diode_kind::ideal, {});
  if (opt == "device")
    fail(diode_option_path, "option diode=device takes the software law from the diode device itself; build the "
                            "network with the device (from_model(model, registry) or from_model(model, device))");
  if (!diode) fail(diode_device_path, "option diode=shockley needs a diode device with Shockley parameters");
  return network_with_law(m, mon_diode_kind::shockley, shockley_law(m, *diode));
}

mon_network mon_network::from_model(const ir::model& m, std::shared_ptr<const devices::device> diode) {
  need_family_and_sizes(m);
  const std::string opt = diode_option(m);
  if (opt != "device") {
    const auto p = diode ? diode->shockley() : std::nullopt;
    return from_model(m, p ? &*p : nullptr);
  }
  if (!diode) fail(diode_device_path, "option diode=device needs a diode device");
  // A falling branch (an NDR device) breaks the uniqueness of the equilibrium.
  const auto w = diode->window().value_or(devices::voltage_window{-1.0, 1.0});
  if (const auto bad = devices::first_negative_slope(*diode, w.lo, w.hi))
    fail(diode_device_path, fmt::format("device '{}' is not monotone: its slope dI/dV turns negative at {:.4g} V ({:.3g} S); "
                                        "a MON needs a monotone diode (a falling branch breaks the uniqueness of its "
                                        "equilibrium)",
                                        diode->name(), bad->volts, bad->siemens));
  // A Shockley device's curve is its closed form: the same law, exactly and faster.
  if (const auto p = diode->shockley()) return network_with_law(m, mon_diode_kind::device, shockley_law(m, *p));
  need_scale(m);
  return network_with_law(m, mon_diode_kind::device, mon_diode_law::of_device(std::move(diode), m.scale.volt, m.scale.ampere));
}

// ------------------------------------------------------------ forward

namespace {

// Scaled KKT residual of every column (see mon_equilibrium.hpp), from two
// matrix products over the chunk.
void ideal_residuals(const mon_stage& st, const MatrixXd& S, const Eigen::Ref<const MatrixXd>& V, std::vector<double>& out) {
  const Index n = st.hidden, B = S.cols();
  MatrixXd W = -S, R = S.cwiseAbs();
  W.noalias() += st.G * V;
  R.noalias() += st.G_abs * V.cwiseAbs();
  out.assign(static_cast<std::size_t>(B), 0.0);
  auto ratio = [](double x, double scale) {
    if (scale > 0.0) return x / scale;
    return x == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  };
  for (Index b = 0; b < B; ++b) {
    const double vmax = V.col(b).cwiseAbs().maxCoeff();
    double res = std::isfinite(V.col(b).sum()) ? 0.0 : std::numeric_limits<double>::infinity();
    for (Index j = 0; j < n; ++j) {
      const double v = V(j, b), w = W(j, b), r = R(j, b);
      res = std::max({res, ratio(std::max(-v, 0.0), vmax), ratio(std::max(-w, 0.0), r),
                      std::min(ratio(std::abs(w), r), ratio(std::abs(v), vmax))});
    }
    out[static_cast<std::size_t>(b)] = res;
  }
}

// Above this Jacobi contraction factor a float32 request is solved in
// float64 (0.7^60 ≈ 5e-10: the iteration limit still reaches the tolerance).
constexpr double float32_max_contraction = 0.7;

// A stage's matrices in float32 for mon_precision::float32 (built once per
// mon_forward call; ~0.1 µs per sample at batch 1000 for 784-100).
struct float32_stage {
  Eigen::MatrixXf H, G_inverse, off;  // off = D − G: the conductances between nodes, zero diagonal
  Eigen::ArrayXf bias, d, d_inv;

  explicit float32_stage(const mon_stage& st)
      : H(st.H.cast<float>()), G_inverse(st.G_inverse.cast<float>()), off((-st.G).cast<float>()),
        bias(st.bias.cast<float>().array()), d(st.G.diagonal().cast<float>().array()), d_inv(1.0f / d) {
    off.diagonal().setZero();
  }
};

bool use_float32(const mon_network& net, const mon_options& opt) {
  if (opt.precision != mon_precision::float32 || net.diode != mon_diode_kind::ideal) return false;
  for (const auto& st : net.stages)
    if (!(st.jacobi_contraction <= float32_max_contraction)) return false;
  return true;
}

// S = H x + bias in float32 (mostly-zero columns over their nonzeros).
Eigen::MatrixXf float32_sources(const float32_stage& f, const Eigen::Ref<const MatrixXd>& x) {
  const Index n = f.H.rows(), in = x.rows(), B = x.cols();
  Eigen::MatrixXf s(n, B);
  std::vector<int> k(static_cast<std::size_t>(in + 16));
  std::vector<float> val(static_cast<std::size_t>(in + 16));
  VectorXd copy(in);
  for (Index b = 0; b < B; ++b) {
    const double* xb = x.col(b).data();
    if (x.innerStride() != 1) {
      copy = x.col(b);
      xb = copy.data();
    }
    const int m = kernels::nonzeros(xb, static_cast<int>(in), k.data(), val.data());
    if (m >= sparse_input_fraction * static_cast<double>(in)) {
      s.col(b).noalias() = f.H * x.col(b).cast<float>();
      s.col(b).array() += f.bias;
      continue;
    }
    s.col(b) = f.bias.matrix();
    kernels::sum_columns(f.H.data(), n, n, k.data(), val.data(), m, s.col(b).data());
  }
  return s;
}

// mon_precision::float32 on a chunk: the projected Jacobi iteration (see
// mon.hpp), in blocks of columns small enough for the cache. A column that
// meets the tolerance leaves the block (the others move up), so the matrix
// products shrink as the samples converge. Returns, per column, whether it
// reached float32_tolerance; v holds its last iterate (whose residual is in
// the report).
std::vector<std::uint8_t> solve_stage_chunk_float32(const float32_stage& f, const mon_options& opt,
                                                    const Eigen::Ref<const MatrixXd>& x, Eigen::Ref<MatrixXd> v,
                                                    mon_solve_report* reports) {
  constexpr Index block = 128;  // S, V, P of 784-100: 3 × 51 kB
  const Index n = f.H.rows(), B = x.cols();
  const float tol = static_cast<float>(opt.float32_tolerance);
  constexpr float tiny = std::numeric_limits<float>::min();
  std::vector<std::uint8_t> ok(static_cast<std::size_t>(B));
  Eigen::MatrixXf S, V(n, block), next(n, block), P(n, block);
  std::vector<Index> column(static_cast<std::size_t>(block));  // block position -> column of x
  std::vector<float> vmax(static_cast<std::size_t>(block));     // block position -> largest entry of V's column
  for (Index b0 = 0; b0 < B; b0 += block) {
    Index active = std::min(block, B - b0);
    S = float32_sources(f, x.middleCols(b0, active));
    for (Index j = 0; j < active; ++j) column[static_cast<std::size_t>(j)] = b0 + j;
    V.leftCols(active).noalias() = f.G_inverse * S;
    V.leftCols(active) = V.leftCols(active).cwiseMax(0.0f);
    for (Index j = 0; j < active; ++j) vmax[static_cast<std::size_t>(j)] = V.col(j).maxCoeff();
    for (int it = 0; active > 0; ++it) {
      P.leftCols(active) = S.leftCols(active);
      P.leftCols(active).noalias() += f.off * V.leftCols(active);  // S + A V
      const bool last = it == opt.float32_max_iterations;
      Index kept = 0;
      for (Index j = 0; j < active; ++j) {
        // The residual test of V's column and, into position `kept`, its
        // successor max(0, D⁻¹ P) (overwritten if the column retires).
        const auto step = kernels::jacobi_column_step(n, V.col(j).data(), P.col(j).data(), S.col(j).data(), f.d.data(),
                                                      f.d_inv.data(), tol, vmax[static_cast<std::size_t>(j)],
                                                      next.col(kept).data());
        if (step.done || last) {  // retire the column with its residual
          const auto vj = V.col(j).array();
          const auto pj = P.col(j).array();
          const auto sj = S.col(j).array();
          const auto w = vj * f.d - pj;
          const auto r = (vj * f.d + (pj - sj) + sj.abs()).max(tiny);
          const float vm = std::max(vmax[static_cast<std::size_t>(j)], tiny);
          float res = ((-w).max(0.0f) / r).max((w.abs() / r).min(vj / vm)).maxCoeff();
          if (!std::isfinite(vj.sum() + pj.sum())) res = std::numeric_limits<float>::infinity();  // max() drops NaNs
          const Index b = column[static_cast<std::size_t>(j)];
          v.col(b) = V.col(j).cast<double>();
          auto& rep = reports[b];
          rep.iterations = it;
          rep.residual = res;
          rep.converged = res <= tol;
          rep.fallback = false;
          ok[static_cast<std::size_t>(b)] = rep.converged;
          continue;
        }
        if (kept != j) S.col(kept) = S.col(j);
        column[static_cast<std::size_t>(kept)] = column[static_cast<std::size_t>(j)];
        vmax[static_cast<std::size_t>(kept)] = step.next_max;
        ++kept;
      }
      active = kept;
      V.swap(next);  // buffers, not values
    }
  }
  return ok;
}

// Forward pass of one stage on a chunk of columns.
void solve_stage_chunk(const mon_network& net, const mon_stage& st, const mon_options& opt, const Eigen::Ref<const MatrixXd>& x,
                       Eigen::Ref<MatrixXd> v, mon_solve_report* reports, mon_linearization* lins,
                       const float32_stage* f32 = nullptr) {
  const Index n = st.hidden, B = x.cols();
  if (f32 && !lins) {
    const auto ok = solve_stage_chunk_float32(*f32, opt, x, v, reports);
    // Samples the iteration did not finish: the exact float64 solve.
    std::vector<Index> rest;
    for (Index b = 0; b < B; ++b)
      if (!ok[static_cast<std::size_t>(b)]) rest.push_back(b);
    if (rest.empty()) return;
    const MatrixXd xr = x(Eigen::all, rest);
    MatrixXd vr(n, static_cast<Index>(rest.size()));
    std::vector<mon_solve_report> rr(rest.size());
    solve_stage_chunk(net, st, opt, xr, vr, rr.data(), nullptr);
    for (std::size_t i = 0; i < rest.size(); ++i) {
      const Index b = rest[i];
      v.col(b) = vr.col(static_cast<Index>(i));
      rr[i].iterations += reports[b].iterations;
      reports[b] = rr[i];
    }
    return;
  }
  const MatrixXd S = st.sources(x);
  // The unconstrained solution U = G⁻¹S, then optionally a few batched
  // Peaceman-Rachford iterations from it to guess the free sets.
  MatrixXd U(n, B);
  U.noalias() = st.G_inverse * S;
  using start = mon_ideal_solver::start;
  start how = start::monotone;
  MatrixXd Z;
  if (opt.warm_start == mon_warm_start::peaceman_rachford && opt.warm_start_iterations > 0) {
    how = start::active_set;
    // z ← 2·R_A(2·ReLU(z) − z) − (2·ReLU(z) − z),  R_A(y) = (I + αG)⁻¹(y + αs)
    MatrixXd A = st.pr_alpha * st.G;
    A.diagonal().array() += 1.0;
    const MatrixXd resolvent = A.llt().solve(MatrixXd::Identity(n, n));
    MatrixXd aS(n, B);
    aS.noalias() = resolvent * (st.pr_alpha * S);
    Z = U;
    MatrixXd R(n, B), W(n, B);
    for (int k = 0; k < opt.warm_start_iterations; ++k) {
      R = 2.0 * Z.cwiseMax(0.0) - Z;
      W.noalias() = resolvent * R;
      Z = 2.0 * (W + aS) - R;
    }
  }
  const MatrixXd& guess_from = Z.size() ? Z : U;
  mon_solver_settings settings;
  settings.tolerance = opt.tolerance;
  settings.max_iterations = opt.max_iterations;
  mon_ideal_solver ideal(st.G, opt.inverse_side ? &st.G_inverse : nullptr, settings);
  std::optional<mon_law_solver> law_solver;
  if (net.diode != mon_diode_kind::ideal) law_solver.emplace(st.G, net.law, settings);
  std::vector<std::uint8_t> guess(static_cast<std::size_t>(n));
  for (Index b = 0; b < B; ++b) {
    for (Index j = 0; j < n; ++j) guess[j] = guess_from(j, b) > 0.0;
    auto vb = v.col(b);
    reports[b] = ideal.solve_sets(S.col(b), U.col(b), vb, guess, how);
    if (!law_solver && lins) lins[b] = ideal.linearization();
  }
  if (!law_solver) {
    // Free-side steps report their residual; the others are checked here.
    std::vector<double> res;
    bool unknown = false;
    for (Index b = 0; b < B; ++b) unknown = unknown || std::isnan(reports[b].residual);
    if (unknown) ideal_residuals(st, S, v, res);
    for (Index b = 0; b < B; ++b) {
      auto& rep = reports[b];
      if (std::isnan(rep.residual)) rep.residual = res[b];
      rep.converged = rep.converged && rep.residual <= opt.tolerance;
      if (rep.converged) continue;
      // A clamped-side solve that lost digits to the conditioning of G⁻¹:
      // redo it on the free side.
      auto vb = v.col(b);
      const auto p = ideal.polish(S.col(b), vb);
      rep.iterations += p.iterations;
      rep.residual = p.residual;
      rep.converged = p.converged;
      if (lins) lins[b] = ideal.linearization();
    }
    return;
  }
  for (Index b = 0; b < B; ++b) {
    auto vb = v.col(b);
    const auto ideal_rep = reports[b];
    law_solver->start_from_ideal(S.col(b), vb);
    auto rep = law_solver->solve(S.col(b), vb, lins != nullptr);
    rep.iterations += ideal_rep.iterations;
    rep.fallback = ideal_rep.fallback;
    reports[b] = rep;
    if (lins) lins[b] = law_solver->linearization();
  }
}

}  // namespace

mon_forward_result mon_forward(const mon_network& net, const MatrixXd& x, const mon_options& opt, bool keep_for_backward) {
  SPICENN_ASSERT(!net.stages.empty(), "network has no stages");
  if (x.rows() != net.inputs())
    throw error(fmt::format("mon_forward: input has {} rows but the model has {} inputs", x.rows(), net.inputs()));
  const Index B = x.cols();
  const auto n_st = net.stages.size();
  mon_forward_result res;
  res.stages.resize(n_st);
  for (std::size_t s = 0; s < n_st; ++s) {
    auto& sr = res.stages[s];
    sr.v.resize(net.stages[s].hidden, B);
    sr.reports.resize(static_cast<std::size_t>(B));
    if (keep_for_backward) sr.linearizations.resize(static_cast<std::size_t>(B));
  }
  if (keep_for_backward) res.stages[0].x = x;
  res.y.resize(net.outputs(), B);

  std::vector<float32_stage> f32;
  if (!keep_for_backward && use_float32(net, opt))
    for (const auto& st : net.stages) f32.emplace_back(st);
  const int chunks = chunk_count(B, resolve_threads(opt.threads));
  parallel_chunks(B, chunks, [&](int, long b0, long b1) {
    const Index c = b1 - b0;
    for (std::size_t s = 0; s < n_st; ++s) {
      auto& sr = res.stages[s];
      const MatrixXd& src = s == 0 ? x : res.stages[s - 1].v;
      const Eigen::Ref<const MatrixXd> in = src.middleCols(b0, c);
      solve_stage_chunk(net, net.stages[s], opt, in, sr.v.middleCols(b0, c), sr.reports.data() + b0,
                        keep_for_backward ? sr.linearizations.data() + b0 : nullptr, f32.empty() ? nullptr : &f32[s]);
    }
    auto y = res.y.middleCols(b0, c);
    y.noalias() = net.readout_weight * res.stages.back().v.middleCols(b0, c);
    y.colwise() += net.readout_bias;
  });
  if (keep_for_backward)
    for (std::size_t s = 1; s < n_st; ++s) res.stages[s].x = res.stages[s - 1].v;

  if (opt.require_convergence && !res.converged()) {
    for (std::size_t s = 0; s < n_st; ++s)
      for (Index b = 0; b < B; ++b) {
        const auto& r = res.stages[s].reports[b];
        if (!r.converged)
          throw error(
              fmt::format("MON equilibrium did not converge: stage {}, sample {}: scaled residual {:.3g} > "
                          "tolerance {:.3g} after {} iterations",
                          s, b, r.residual, opt.tolerance, r.iterations));
      }
  }
  return res;
}

int mon_forward_result::max_iterations() const {
  int m = 0;
  for (const auto& s : stages)
    for (const auto& r : s.reports) m = std::max(m, r.iterations);
  return m;
}

double mon_forward_result::mean_iterations() const {
  double sum = 0.0;
  std::size_t count = 0;
  for (const auto& s : stages)
    for (const auto& r : s.reports) {
      sum += r.iterations;
      ++count;
    }
  return count ? sum / static_cast<double>(count) : 0.0;
}

double mon_forward_result::max_residual() const {
  double m = 0.0;
  for (const auto& s : stages)
    for (const auto& r : s.reports) m = std::max(m, r.residual);
  return m;
}

bool mon_forward_result::converged() const {
  for (const auto& s : stages)
    for (const auto& r : s.reports)
      if (!r.converged) return false;
  return true;
}

int mon_forward_result::fallbacks() const {
  int f = 0;
  for (const auto& s : stages)
    for (const auto& r : s.reports) f += r.fallback ? 1 : 0;
  return f;
}

// ------------------------------------------------------------ gradients

namespace {

// Sufficient statistics of the element formulas, additive over samples.
struct stage_sums {
  MatrixXd lv;  // Σ λ vᵀ   (hidden × hidden)
  VectorXd d;   // Σ λ ∘ v
  MatrixXd lx;  // Σ λ xᵀ   (hidden × inputs)
  VectorXd l;   // Σ λ

  stage_sums(Index n, Index in)
      : lv(MatrixXd::Zero(n, n)), d(VectorXd::Zero(n)), lx(MatrixXd::Zero(n, in)), l(VectorXd::Zero(n)) {}

  void add(const Eigen::Ref<const MatrixXd>& x, const Eigen::Ref<const MatrixXd>& v, const Eigen::Ref<const MatrixXd>& lambda) {
    lv.noalias() += lambda * v.transpose();
    d += lambda.cwiseProduct(v).rowwise().sum();
    if (mostly_zero(x) && lambda.innerStride() == 1 && lambda.outerStride() == lambda.rows() && lx.rows() == lambda.rows()) {
      // Column k of Σ λ xᵀ sums λ_b x_kb over the samples b where input k
      // is nonzero: one register-blocked sum per input (row k of x).
      const Index B = x.cols(), n = lambda.rows();
      const MatrixXd xt = x.transpose();
      std::vector<int> idx(static_cast<std::size_t>(B + 16));
      std::vector<double> val(static_cast<std::size_t>(B + 16));
      for (Index k = 0; k < x.rows(); ++k) {
        const int m = kernels::nonzeros(xt.col(k).data(), static_cast<int>(B), idx.data(), val.data());
        if (m > 0) kernels::sum_columns(lambda.data(), n, n, idx.data(), val.data(), m, lx.col(k).data());
      }
    } else if (mostly_zero(x)) {
      for (Index b = 0; b < x.cols(); ++b)
        for (Index k = 0; k < x.rows(); ++k)
          if (const double xk = x(k, b); xk != 0.0) lx.col(k).noalias() += lambda.col(b) * xk;
    } else {
      lx.noalias() += lambda * x.transpose();
    }
    l += lambda.rowwise().sum();
  }
  void merge(const stage_sums& o) {
    lv += o.lv;
    d += o.d;
    lx += o.lx;
    l += o.l;
  }
  // The element formulas straight into row-major vectors named like the ir
  // tensors (what mon_store_gradient(finish()) gives, without temporaries).
  void store(int index, std::map<std::string, std::vector<double>>& out) const {
    const Index n = lv.rows(), in = lx.cols();
    const auto prefix = fmt::format("stage{}.", index);
    auto& gb = out[prefix + "g_between"];
    gb.resize(static_cast<std::size_t>(n * n));
    for (Index a = 0; a < n; ++a) {
      gb[a * n + a] = 0.0;
      for (Index b = a + 1; b < n; ++b) gb[a * n + b] = gb[b * n + a] = (lv(a, b) + lv(b, a)) - (d[a] + d[b]);
    }
    out[prefix + "g_ground"] = to_vector(-d);
    auto& hp = out[prefix + "h_pos"];
    auto& hn = out[prefix + "h_neg"];
    hp.resize(static_cast<std::size_t>(n * in));
    hn.resize(static_cast<std::size_t>(n * in));
    // Row-major out of column-major lx, in tiles of 16 inputs: the 16
    // columns' cache lines are read once instead of once per row.
    constexpr Index tile = 16;
    for (Index k0 = 0; k0 < in; k0 += tile) {
      const Index k1 = std::min(in, k0 + tile);
      for (Index j = 0; j < n; ++j)
        for (Index k = k0; k < k1; ++k) {
          hp[j * in + k] = lx(j, k) - d[j];
          hn[j * in + k] = -lx(j, k) - d[j];
        }
    }
    out[prefix + "bias"] = to_vector(l);
  }
  // The same numbers as Eigen matrices (mon_element_gradients).
  mon_stage_gradient finish() const {
    const Index n = lv.rows(), in = lx.cols();
    std::map<std::string, std::vector<double>> out;
    store(0, out);
    mon_stage_gradient g;
    g.g_between = row_major(out.at("stage0.g_between"), n, n);
    g.g_ground = vector_of(out.at("stage0.g_ground"));
    g.h_pos = row_major(out.at("stage0.h_pos"), n, in);
    g.h_neg = row_major(out.at("stage0.h_neg"), n, in);
    g.bias = vector_of(out.at("stage0.bias"));
    return g;
  }
};

}  // namespace

mon_stage_gradient mon_element_gradients(const MatrixXd& x, const MatrixXd& v, const MatrixXd& lambda) {
  SPICENN_ASSERT(v.rows() == lambda.rows() && v.cols() == lambda.cols() && x.cols() == v.cols(),
                 "x, v and lambda must have matching shapes");
  stage_sums sums(v.rows(), x.rows());
  sums.add(x, v, lambda);
  return sums.finish();
}

MatrixXd mon_input_gradient(const mon_stage& stage, const MatrixXd& lambda) {
  MatrixXd dx(stage.inputs, lambda.cols());
  dx.noalias() = stage.H.transpose() * lambda;
  return dx;
}

void mon_store_gradient(int index, const mon_stage_gradient& g, std::map<std::string, std::vector<double>>& out) {
  const auto prefix = fmt::format("stage{}.", index);
  out[prefix + "g_between"] = to_row_major(g.g_between);
  out[prefix + "g_ground"] = to_vector(g.g_ground);
  out[prefix + "h_pos"] = to_row_major(g.h_pos);
  out[prefix + "h_neg"] = to_row_major(g.h_neg);
  out[prefix + "bias"] = to_vector(g.bias);
}

void mon_store_readout_gradient(const MatrixXd& dL_dy, const MatrixXd& v_last, std::map<std::string, std::vector<double>>& out) {
  SPICENN_ASSERT(dL_dy.cols() == v_last.cols(), "dL/dy and v must have the same batch size");
  MatrixXd dC(dL_dy.rows(), v_last.rows());
  dC.noalias() = dL_dy * v_last.transpose();
  out["readout.weight"] = to_row_major(dC);
  out["readout.bias"] = to_vector(dL_dy.rowwise().sum());
}

mon_gradients mon_backward(const mon_network& net, const mon_forward_result& fwd, const MatrixXd& dL_dy, const mon_options& opt,
                           bool input_gradient) {
  const auto n_st = net.stages.size();
  SPICENN_ASSERT(fwd.stages.size() == n_st, "forward result does not match the network");
  const Index B = fwd.y.cols();
  if (dL_dy.rows() != net.outputs() || dL_dy.cols() != B)
    throw error(
        fmt::format("mon_backward: dL/dy is {}×{} but the outputs are {}×{}", dL_dy.rows(), dL_dy.cols(), net.outputs(), B));
  for (std::size_t s = 0; s < n_st; ++s)
    if (fwd.stages[s].linearizations.size() != static_cast<std::size_t>(B) || fwd.stages[s].x.cols() != B)
      throw error("mon_backward: the forward pass was run without keep_for_backward");

  mon_gradients grad;
  grad.lambda.resize(n_st);
  for (std::size_t s = 0; s < n_st; ++s) grad.lambda[s].resize(net.stages[s].hidden, B);
  if (input_gradient) grad.inputs.resize(net.inputs(), B);

  const int chunks = chunk_count(B, resolve_threads(opt.threads));
  std::vector<std::vector<stage_sums>> sums(static_cast<std::size_t>(chunks));
  parallel_chunks(B, chunks, [&](int chunk, long b0, long b1) {
    const Index c = b1 - b0;
    auto& my = sums[static_cast<std::size_t>(chunk)];
    for (const auto& st : net.stages) my.emplace_back(st.hidden, st.inputs);
    MatrixXd dv(net.stages.back().hidden, c);
    dv.noalias() = net.readout_weight.transpose() * dL_dy.middleCols(b0, c);
    for (std::size_t s = n_st; s-- > 0;) {
      const auto& fs = fwd.stages[s];
      auto lam = grad.lambda[s].middleCols(b0, c);
      for (Index b = 0; b < c; ++b)
        fs.linearizations[static_cast<std::size_t>(b0 + b)].solve(dv.col(b), lam.col(b), &net.stages[s].G_inverse);
      my[s].add(fs.x.middleCols(b0, c), fs.v.middleCols(b0, c), lam);
      if (s > 0) {
        dv.noalias() = net.stages[s].H.transpose() * lam;
      } else if (input_gradient) {
        grad.inputs.middleCols(b0, c).noalias() = net.stages[0].H.transpose() * lam;
      }
    }
  });
  for (std::size_t s = 0; s < n_st; ++s) {
    for (int k = 1; k < chunks; ++k) sums[0][s].merge(sums[static_cast<std::size_t>(k)][s]);
    sums[0][s].store(static_cast<int>(s), grad.parameters);
  }
  mon_store_readout_gradient(dL_dy, fwd.stages.back().v, grad.parameters);
  return grad;
}

}  // namespace spicenn::models
