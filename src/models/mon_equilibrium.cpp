#include "models/mon_equilibrium.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "models/mon_kernels.hpp"

namespace spicenn::models {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// In-place lower Cholesky of a square block with Eigen's own kernels (the
// ones Eigen::LLT runs; used directly so the factor can live in a strided
// buffer and grow). The unblocked kernel is ~30 % faster up to n ≈ 100.
template <typename Block>
bool cholesky_in_place(Block&& a) {
  if (a.rows() <= 128 && a.innerStride() == 1) {
    // The small blocks of the active-set steps: spicenn's left-looking kernel.
    thread_local std::vector<double> work;
    work.resize(2 * static_cast<std::size_t>(a.rows()));
    return kernels::cholesky_lower(a.data(), a.outerStride(), static_cast<int>(a.rows()), work.data());
  }
  if (a.rows() <= 128) return Eigen::internal::llt_inplace<double, Eigen::Lower>::unblocked(a) == -1;
  return Eigen::internal::llt_inplace<double, Eigen::Lower>::blocked(a) == -1;
}

// |x| / scale with 0/0 = 0 and x/0 = inf.
double ratio(double x, double scale) {
  if (scale > 0.0) return x / scale;
  return x == 0.0 ? 0.0 : inf;
}

// The ideal MON's scaled KKT residual terms at v, with w = Gv − s and
// per-node scales r: max over j of v_j < 0, w_j < 0 and min(|w_j|, |v_j|)
// (complementarity), each relative to its scale.
double kkt_terms(const Eigen::Ref<const VectorXd>& v, const Eigen::Ref<const VectorXd>& w,
                 const Eigen::Ref<const VectorXd>& r, double vmax) {
  double res = 0.0;
  for (Index j = 0; j < v.size(); ++j) {
    const double neg_v = ratio(std::max(-v[j], 0.0), vmax);
    const double neg_w = ratio(std::max(-w[j], 0.0), r[j]);
    const double comp = std::min(ratio(std::abs(w[j]), r[j]), ratio(std::abs(v[j]), vmax));
    res = std::max({res, neg_v, neg_w, comp});
  }
  return res;
}

// The same, vectorized where no scale is zero (the solvers' hot path).
double scaled_kkt_residual(const Eigen::Ref<const VectorXd>& v, const Eigen::Ref<const VectorXd>& w,
                           const Eigen::Ref<const VectorXd>& r, double vmax) {
  if (vmax > 0.0 && r.minCoeff() > 0.0) {
    const auto va = v.array();
    const auto wa = w.array();
    const auto ra = r.array();
    const double iv = 1.0 / vmax;
    const double neg_v = (-va).cwiseMax(0.0).maxCoeff() * iv;
    const double w_terms = ((-wa).cwiseMax(0.0).max(wa.abs().min(va.abs() * iv * ra)) / ra).maxCoeff();
    return std::max(neg_v, w_terms);
  }
  return kkt_terms(v, w, r, vmax);
}

}  // namespace

// ---------------------------------------------------------------- diode law

mon_diode_law mon_diode_law::of_device(std::shared_ptr<const devices::device> d, double volt, double ampere) {
  SPICENN_ASSERT(d != nullptr, "a device law needs a device");
  SPICENN_ASSERT(volt > 0.0 && ampere > 0.0, "a device law needs a positive scale");
  mon_diode_law law;
  law.breaks = d->breakpoints();
  law.breaks.push_back(0.0);
  const auto w = d->window();
  if (w) law.breaks.insert(law.breaks.end(), {w->lo, w->hi});
  std::sort(law.breaks.begin(), law.breaks.end());
  law.breaks.erase(std::unique(law.breaks.begin(), law.breaks.end()), law.breaks.end());
  law.piece = w && w->hi > w->lo ? (w->hi - w->lo) / 64.0 : 0.01;
  law.device = std::move(d);
  law.volt = volt;
  law.ampere = ampere;
  return law;
}

double mon_diode_law::current(double v) const {
  if (device) return device->current(-v * volt) / ampere;
  return is * std::expm1(-v / vt);
}

double mon_diode_law::conductance(double v) const {
  if (device) return device->conductance(-v * volt) * volt / ampere;
  return is / vt * std::exp(-v / vt);
}

namespace {

// ∫ I(V) dV over [lo, hi] (device volts, lo <= hi): 4-point Gauss-Legendre
// (exact for cubics) on pieces of at most `piece` volts between the
// breakpoints (sorted).
double device_integral(const devices::device& d, double lo, double hi, const std::vector<double>& breaks, double piece) {
  static constexpr double node[2] = {0.3399810435848563, 0.8611363115940526};
  static constexpr double weight[2] = {0.6521451548625461, 0.3478548451374538};
  double total = 0.0;
  double a = lo;
  auto segment = [&](double b) {
    const int pieces = std::max(1, static_cast<int>(std::ceil((b - a) / piece)));
    const double h = (b - a) / pieces;
    for (int k = 0; k < pieces; ++k) {
      const double mid = a + (k + 0.5) * h, half = 0.5 * h;
      double sum = 0.0;
      for (int q = 0; q < 2; ++q) sum += weight[q] * (d.current(mid - half * node[q]) + d.current(mid + half * node[q]));
      total += sum * half;
    }
    a = b;
  };
  for (auto it = std::upper_bound(breaks.begin(), breaks.end(), lo); it != breaks.end() && *it < hi; ++it) segment(*it);
  segment(hi);
  return total;
}

}  // namespace

double mon_diode_law::energy_change(double a, double b) const {
  if (!device) {
    auto phi = [&](double v) { return is * (v + vt * std::expm1(-v / vt)); };
    return phi(b) - phi(a);
  }
  // φ(b) − φ(a) = −∫_a^b i(u) du = (1 / (ampere·volt)) ∫_{−a·volt}^{−b·volt} I(V) dV.
  double lo = -a * volt, hi = -b * volt, sign = 1.0;
  if (lo == hi) return 0.0;
  if (lo > hi) std::swap(lo, hi), sign = -1.0;
  return sign * device_integral(*device, lo, hi, breaks, piece) / (ampere * volt);
}

double mon_diode_law::voltage_for_current(double i) const {
  if (!device) return -vt * std::log1p(i / is);
  // Bisection on the monotone I(V) = i·ampere for V >= 0 (forward bias).
  const double target = i * ampere;
  if (device->current(0.0) >= target) return 0.0;
  const auto w = device->window();
  const double limit = w && w->hi > 0.0 ? w->hi : 10.0;
  double lo = 0.0, hi = std::min(0.01, limit);
  while (device->current(hi) < target) {
    if (hi >= limit) return -limit / volt;  // saturates below i
    lo = hi;
    hi = std::min(2.0 * hi, limit);
  }
  for (int k = 0; k < 60 && hi - lo > 1e-15 * hi; ++k) {
    const double mid = 0.5 * (lo + hi);
    (device->current(mid) < target ? lo : hi) = mid;
  }
  return -0.5 * (lo + hi) / volt;
}

// ---------------------------------------------------------------- residuals

double mon_ideal_residual(const MatrixXd& G, const Eigen::Ref<const VectorXd>& s, const Eigen::Ref<const VectorXd>& v) {
  const VectorXd w = G * v - s;
  const VectorXd r = G.cwiseAbs() * v.cwiseAbs() + s.cwiseAbs();
  const double vmax = v.cwiseAbs().maxCoeff();
  double res = kkt_terms(v, w, r, vmax);
  if (!std::isfinite(v.sum())) res = inf;
  return res;
}

double mon_law_residual(const MatrixXd& G, const Eigen::Ref<const VectorXd>& s, const mon_diode_law& law,
                        const Eigen::Ref<const VectorXd>& v) {
  const VectorXd i = v.unaryExpr([&](double x) { return law.current(x); });
  const VectorXd f = G * v - s - i;
  const VectorXd r = G.cwiseAbs() * v.cwiseAbs() + s.cwiseAbs() + i.cwiseAbs();
  double res = 0.0;
  for (Index j = 0; j < v.size(); ++j) res = std::max(res, ratio(std::abs(f[j]), r[j]));
  if (!std::isfinite(f.sum())) res = inf;
  return res;
}

// ---------------------------------------------------------------- linearization

void mon_linearization::solve(const Eigen::Ref<const VectorXd>& rhs, Eigen::Ref<VectorXd> lambda,
                              const MatrixXd* G_inverse) const {
  const Index m = static_cast<Index>(nodes.size());
  SPICENN_ASSERT(factor.rows() == m && factor.cols() == m, "linearization factor does not match its node list");
  VectorXd b(m);
  if (kind == side::free) {
    for (Index p = 0; p < m; ++p) b[p] = rhs[nodes[p]];
    factor.triangularView<Eigen::Lower>().solveInPlace(b);
    factor.transpose().triangularView<Eigen::Upper>().solveInPlace(b);
    lambda.setZero();
    for (Index p = 0; p < m; ++p) lambda[nodes[p]] = b[p];
    return;
  }
  SPICENN_ASSERT(G_inverse != nullptr, "a clamped-side linearization needs G⁻¹");
  const MatrixXd& K = *G_inverse;
  VectorXd r = rhs;
  for (Index p = 0; p < m; ++p) r[nodes[p]] = 0.0;
  lambda.noalias() = K * r;
  for (Index p = 0; p < m; ++p) b[p] = -lambda[nodes[p]];
  factor.triangularView<Eigen::Lower>().solveInPlace(b);
  factor.transpose().triangularView<Eigen::Upper>().solveInPlace(b);
  for (Index p = 0; p < m; ++p) lambda.noalias() += K.col(nodes[p]) * b[p];
  for (Index p = 0; p < m; ++p) lambda[nodes[p]] = 0.0;
}

// ---------------------------------------------------------------- ideal diodes

mon_ideal_solver::mon_ideal_solver(const MatrixXd& G, const MatrixXd* G_inverse, mon_solver_settings settings)
    : G_(G),
      K_(G_inverse),
      G_abs_(G.cwiseAbs()),
      settings_(settings),
      n_(G.rows()),
      L_(G.rows(), G.rows()),
      idx_(static_cast<std::size_t>(G.rows())),
      free_(static_cast<std::size_t>(G.rows())),
      next_(static_cast<std::size_t>(G.rows())),
      rhs_(G.rows()),
      w_(G.rows()),
      u_(G.rows()),
      tmp_(G.rows()) {
  SPICENN_ASSERT(G.rows() == G.cols(), "G must be square");
  SPICENN_ASSERT(!G_inverse || (G_inverse->rows() == n_ && G_inverse->cols() == n_), "G_inverse size mismatch");
  m_matrix_ = true;
  for (Index c = 0; c < n_ && m_matrix_; ++c)
    for (Index r = 0; r < n_; ++r)
      if (r != c && G(r, c) > 0.0) {
        m_matrix_ = false;
        break;
      }
}

// With w_ = G v − s on every node (a free-side step): tmp_ := r = |G||v| + |s|
// (for an M-matrix and v >= 0 from the same product: |G|v = 2·diag(G)∘v − Gv),
// and the scaled residual of v.
double mon_ideal_solver::free_side_residual(const Eigen::Ref<const VectorXd>& s, const Eigen::Ref<const VectorXd>& v) {
  double vmax = 0.0, vmin = 0.0;
  bool finite = true;
  for (int p = 0; p < fm_; ++p) {
    const double x = v[idx_[p]];
    finite = finite && std::isfinite(x);
    vmax = std::max(vmax, std::abs(x));
    vmin = std::min(vmin, x);
  }
  if (!finite) return inf;
  if (m_matrix_ && vmin >= 0.0) {
    const double* d = G_.data();
    for (Index j = 0; j < n_; ++j) tmp_[j] = std::abs(s[j]) + 2.0 * d[j * (n_ + 1)] * v[j] - (w_[j] + s[j]);
  } else {
    tmp_ = s.cwiseAbs();
    for (int p = 0; p < fm_; ++p) tmp_.noalias() += G_abs_.col(idx_[p]) * std::abs(v[idx_[p]]);
  }
  return scaled_kkt_residual(v, w_, tmp_, vmax);
}

void mon_ideal_solver::set_free(const std::vector<std::uint8_t>& flags) {
  m_free_ = 0;
  for (Index j = 0; j < n_; ++j) {
    free_[j] = flags[j] ? 1 : 0;
    m_free_ += free_[j];
  }
  side_ = side::none;
}

bool mon_ideal_solver::factor_free() {
  fm_ = 0;
  for (Index j = 0; j < n_; ++j)
    if (free_[j]) idx_[fm_++] = static_cast<int>(j);
  for (int c = 0; c < fm_; ++c) {
    const double* gc = G_.col(idx_[c]).data();
    for (int r = c; r < fm_; ++r) L_(r, c) = gc[idx_[r]];
  }
  side_ = side::free;
  return fm_ == 0 || cholesky_in_place(L_.topLeftCorner(fm_, fm_));
}

bool mon_ideal_solver::factor_clamped() {
  fm_ = 0;
  for (Index j = 0; j < n_; ++j)
    if (!free_[j]) idx_[fm_++] = static_cast<int>(j);
  for (int c = 0; c < fm_; ++c) {
    const double* kc = K_->col(idx_[c]).data();
    for (int r = c; r < fm_; ++r) L_(r, c) = kc[idx_[r]];
  }
  side_ = side::clamped;
  return fm_ == 0 || cholesky_in_place(L_.topLeftCorner(fm_, fm_));
}

bool mon_ideal_solver::append_free(int first_new) {
  const int mm = first_new, k = fm_ - first_new;
  if (k == 0) return true;
  if (mm == 0) return factor_free();
  // T = L11⁻¹ G(F_old, F_new), kept in the unused upper block.
  auto T = L_.block(0, mm, mm, k);
  for (int c = 0; c < k; ++c) {
    const double* gc = G_.col(idx_[mm + c]).data();
    for (int r = 0; r < mm; ++r) T(r, c) = gc[idx_[r]];
  }
  L_.topLeftCorner(mm, mm).triangularView<Eigen::Lower>().solveInPlace(T);
  auto L21 = L_.block(mm, 0, k, mm);
  L21 = T.transpose();
  auto L22 = L_.block(mm, mm, k, k);
  for (int c = 0; c < k; ++c) {
    const double* gc = G_.col(idx_[mm + c]).data();
    for (int r = c; r < k; ++r) L22(r, c) = gc[idx_[mm + r]];
  }
  L22.selfadjointView<Eigen::Lower>().rankUpdate(L21, -1.0);
  return cholesky_in_place(L22);
}

void mon_ideal_solver::solve_factor(Eigen::Ref<VectorXd> b) const {
  if (fm_ == 0) return;
  auto L = L_.topLeftCorner(fm_, fm_);
  L.triangularView<Eigen::Lower>().solveInPlace(b);
  L.transpose().triangularView<Eigen::Upper>().solveInPlace(b);
}

// Active-set steps from the current free set. monotone: nodes are only ever
// nodes are only ever added (Chandrasekaran; at most n steps). Returns
// converged = true when the set settled, false when the step budget ran out.
mon_solve_report mon_ideal_solver::run(const Eigen::Ref<const VectorXd>& s, const Eigen::Ref<const VectorXd>& u,
                                       Eigen::Ref<VectorXd> v, bool monotone) {
  mon_solve_report rep;
  const double delta = 0.1 * settings_.tolerance;
  const int budget = monotone ? static_cast<int>(n_) + 1 : settings_.active_set_restart;
  int append_from = -1;  // >= 0: the free factor covers idx_[0..append_from), extend it
  for (;;) {
    ++rep.iterations;
    const bool clamped_side = K_ && !force_free_ && (n_ - m_free_) < m_free_;
    bool ok = true;
    have_residual_ = false;
    if (clamped_side) {
      // μ = −(G⁻¹)_CC⁻¹ u_C: the clamped diodes' currents; v = u + (G⁻¹)_{:,C} μ.
      ok = factor_clamped();
      SPICENN_ASSERT(ok, "(G⁻¹)_CC is not positive definite");
      auto mu = rhs_.head(fm_);
      for (int p = 0; p < fm_; ++p) mu[p] = -u[idx_[p]];
      solve_factor(mu);
      v = u;
      for (int p = 0; p < fm_; ++p) v.noalias() += K_->col(idx_[p]) * mu[p];
      for (int p = 0; p < fm_; ++p) {
        v[idx_[p]] = 0.0;
        w_[idx_[p]] = mu[p];
      }
    } else {
      ok = append_from >= 0 ? append_free(append_from) : factor_free();
      SPICENN_ASSERT(ok, "G_FF is not positive definite");
      auto vF = rhs_.head(fm_);
      for (int p = 0; p < fm_; ++p) vF[p] = s[idx_[p]];
      solve_factor(vF);
      v.setZero();
      for (int p = 0; p < fm_; ++p) v[idx_[p]] = vF[p];
      // w = G v − s on every node, from the free columns of G (v_C = 0);
      // then the scales r and the scaled residual from the same product.
      w_ = -s;
      kernels::sum_columns(G_.data(), n_, n_, idx_.data(), vF.data(), fm_, w_.data());
      residual_ = free_side_residual(s, v);
      have_residual_ = true;
    }
    append_from = -1;
    double vmax = 0.0;
    for (Index j = 0; j < n_; ++j)
      if (free_[j]) vmax = std::max(vmax, std::abs(v[j]));
    int drops = 0, adds = 0;
    for (Index j = 0; j < n_; ++j) {
      next_[j] = free_[j];
      if (free_[j]) {
        if (!monotone && v[j] < -delta * vmax) {
          next_[j] = 0;
          ++drops;
        }
      } else if (w_[j] < 0.0) {
        const double r = clamped_side ? std::abs(s[j]) + G_abs_.col(j).dot(v.cwiseAbs()) : tmp_[j];
        if (w_[j] < -delta * r) {
          next_[j] = 1;
          ++adds;
        }
      }
    }
    if (drops == 0 && adds == 0) {
      rep.converged = true;
      return rep;
    }
    if (rep.iterations >= budget) {
      rep.converged = false;
      return rep;
    }
    const int next_free = m_free_ - drops + adds;
    const bool next_clamped_side = K_ && !force_free_ && (n_ - next_free) < next_free;
    if (drops == 0 && side_ == side::free && !next_clamped_side) {
      // Only additions and the free side stays the smaller one: extend the factor.
      append_from = fm_;
      for (Index j = 0; j < n_; ++j)
        if (next_[j] && !free_[j]) {
          idx_[fm_++] = static_cast<int>(j);
          free_[j] = 1;
          ++m_free_;
        }
    } else {
      set_free(next_);
    }
  }
}

double mon_ideal_solver::residual(const Eigen::Ref<const VectorXd>& s, const Eigen::Ref<const VectorXd>& v) {
  // w = G v − s, r = |G||v| + |s| over the nonzero entries of v.
  w_ = -s;
  tmp_ = s.cwiseAbs();
  double vmax = 0.0;
  bool finite = true;
  for (Index k = 0; k < n_; ++k) {
    const double x = v[k];
    if (x == 0.0) continue;
    finite = finite && std::isfinite(x);
    w_.noalias() += G_.col(k) * x;
    tmp_.noalias() += G_abs_.col(k) * std::abs(x);
    vmax = std::max(vmax, std::abs(x));
  }
  if (!finite) return inf;
  return scaled_kkt_residual(v, w_, tmp_, vmax);
}

mon_solve_report mon_ideal_solver::solve_sets(const Eigen::Ref<const VectorXd>& s, const Eigen::Ref<const VectorXd>& u,
                                              Eigen::Ref<VectorXd> v, std::span<const std::uint8_t> guess, start how) {
  SPICENN_ASSERT(s.size() == n_ && v.size() == n_ && u.size() == n_, "size mismatch");
  SPICENN_ASSERT(guess.empty() || static_cast<Index>(guess.size()) == n_, "guess size mismatch");
  for (Index j = 0; j < n_; ++j) next_[j] = guess.empty() ? u[j] > 0.0 : guess[j] != 0;
  set_free(next_);
  mon_solve_report rep = run(s, u, v, how == start::monotone);
  if (!rep.converged) {
    // Guaranteed path: monotone from {u > 0}.
    for (Index j = 0; j < n_; ++j) next_[j] = u[j] > 0.0;
    set_free(next_);
    const int before = rep.iterations;
    rep = run(s, u, v, true);
    rep.iterations += before;
    rep.fallback = true;
  }
  rep.residual = have_residual_ ? residual_ : std::numeric_limits<double>::quiet_NaN();
  return rep;
}

mon_solve_report mon_ideal_solver::polish(const Eigen::Ref<const VectorXd>& s, Eigen::Ref<VectorXd> v) {
  for (Index j = 0; j < n_; ++j) next_[j] = v[j] > 0.0;
  set_free(next_);
  force_free_ = true;
  mon_solve_report rep = run(s, u_, v, false);  // u is not used on the free side
  force_free_ = false;
  rep.residual = have_residual_ ? residual_ : residual(s, v);
  rep.converged = rep.converged && rep.residual <= settings_.tolerance;
  return rep;
}

mon_solve_report mon_ideal_solver::solve(const Eigen::Ref<const VectorXd>& s, Eigen::Ref<VectorXd> v,
                                         std::span<const std::uint8_t> guess, start how, const VectorXd* u) {
  SPICENN_ASSERT(s.size() == n_ && v.size() == n_, "size mismatch");
  if (u) {
    u_ = *u;
  } else if (K_) {
    u_.noalias() = *K_ * s;
  } else {
    if (!have_full_) {
      full_.compute(G_);
      SPICENN_ASSERT(full_.info() == Eigen::Success, "conductance matrix is not positive definite");
      have_full_ = true;
    }
    u_ = full_.solve(s);
  }
  mon_solve_report rep = solve_sets(s, u_, v, guess, how);
  if (!have_residual_) rep.residual = residual(s, v);
  const bool settled = rep.converged;
  rep.converged = settled && rep.residual <= settings_.tolerance;
  if (!rep.converged && side_ == side::clamped) {
    const auto p = polish(s, v);
    rep.iterations += p.iterations;
    rep.residual = p.residual;
    rep.converged = p.converged;
  }
  return rep;
}

mon_linearization mon_ideal_solver::linearization() const {
  mon_linearization lin;
  lin.kind = side_ == side::clamped ? mon_linearization::side::clamped : mon_linearization::side::free;
  lin.nodes.assign(idx_.begin(), idx_.begin() + fm_);
  lin.factor = L_.topLeftCorner(fm_, fm_).triangularView<Eigen::Lower>();
  return lin;
}

void mon_ideal_solver::adjoint(const Eigen::Ref<const VectorXd>& rhs, Eigen::Ref<VectorXd> lambda) const {
  linearization().solve(rhs, lambda, K_);
}

// ---------------------------------------------------------------- diode laws

mon_law_solver::mon_law_solver(const MatrixXd& G, mon_diode_law law, mon_solver_settings settings)
    : G_(G),
      law_(law),
      settings_(settings),
      n_(G.rows()),
      G_abs_(G.cwiseAbs()),
      K_(G.rows(), G.rows()),
      grad_(G.rows()),
      step_(G.rows()),
      trial_(G.rows()),
      cur_(G.rows()),
      gd_(G.rows()),
      Gv_(G.rows()) {
  SPICENN_ASSERT(G.rows() == G.cols(), "G must be square");
  SPICENN_ASSERT(law.device || (law.is > 0.0 && law.vt > 0.0), "a Shockley law needs is > 0 and vt > 0");
}

void mon_law_solver::start_from_ideal(const Eigen::Ref<const VectorXd>& s, Eigen::Ref<VectorXd> v) const {
  // v holds the ideal solution; a clamped node carries w_j = (Gv − s)_j >= 0
  // through its diode, which needs v_j = voltage_for_current(w_j)
  // (Shockley: −vt·log(1 + w_j/is)).
  const VectorXd w = G_ * v - s;
  for (Index j = 0; j < n_; ++j)
    if (v[j] <= 0.0) v[j] = law_.voltage_for_current(std::max(w[j], 0.0));
}

mon_solve_report mon_law_solver::solve(const Eigen::Ref<const VectorXd>& s, Eigen::Ref<VectorXd> v, bool keep_factor) {
  SPICENN_ASSERT(s.size() == n_ && v.size() == n_, "size mismatch");
  mon_solve_report rep;
  VectorXd x = v;
  // The linearization at x: G + diag(g_d), which stays positive definite
  // unless a fitted curve rings strongly. A Newton step can fall back to
  // max(g_d, 0), still a descent direction of E; the kept factor cannot.
  auto factor_at_x = [&] {
    K_ = G_;
    K_.diagonal() += gd_;
    return cholesky_in_place(K_);
  };
  auto keep_factor_at_x = [&] {
    if (!factor_at_x())
      throw error("MON diode law: G + diag(g_d) is not positive definite at the equilibrium (the diode's slope is too "
                  "negative there for a unique equilibrium)");
  };
  for (;;) {
    // Gradient of E = KCL residual, and its scale.
    Gv_.noalias() = G_ * x;
    double res = 0.0;
    for (Index j = 0; j < n_; ++j) {
      cur_[j] = law_.current(x[j]);
      gd_[j] = law_.conductance(x[j]);
      grad_[j] = Gv_[j] - s[j] - cur_[j];
    }
    trial_.noalias() = G_abs_ * x.cwiseAbs();
    for (Index j = 0; j < n_; ++j) res = std::max(res, ratio(std::abs(grad_[j]), trial_[j] + std::abs(s[j]) + std::abs(cur_[j])));
    if (!std::isfinite(res)) res = inf;
    rep.residual = res;
    if (res <= settings_.tolerance || rep.iterations >= settings_.max_iterations) {
      rep.converged = res <= settings_.tolerance;
      if (keep_factor) keep_factor_at_x();
      v = x;
      return rep;
    }
    ++rep.iterations;
    if (!factor_at_x()) {
      K_ = G_;
      K_.diagonal() += gd_.cwiseMax(0.0);
      const bool ok = cholesky_in_place(K_);
      SPICENN_ASSERT(ok, "G + diag(max(g_d, 0)) is not positive definite");
    }
    step_ = -grad_;
    K_.triangularView<Eigen::Lower>().solveInPlace(step_);
    K_.transpose().triangularView<Eigen::Upper>().solveInPlace(step_);
    // Line search on E(x + t·d) = E(x) + t·(Gx − s)ᵀd + ½t²·dᵀGd + Σ φ(x + t·d) − Σ φ(x).
    const double slope = grad_.dot(step_);  // < 0 (Newton direction, K positive definite)
    trial_.noalias() = G_ * step_;
    const double lin = (Gv_ - s).dot(step_);
    const double quad = 0.5 * step_.dot(trial_);
    // E's magnitude, for its rounding noise (a device's |φ(x_j)| is at most
    // |x_j·i(x_j)| for a monotone curve through the origin).
    double mag = std::abs(0.5 * x.dot(Gv_)) + std::abs(s.dot(x));
    for (Index j = 0; j < n_; ++j)
      mag += law_.device ? std::abs(x[j] * cur_[j]) : std::abs(law_.energy_change(0.0, x[j]));
    // Armijo on E. When even the predicted decrease is below what E can
    // resolve (near the solution), a change within E's rounding noise is
    // accepted instead: Newton then converges quadratically on the residual.
    const double noise = 1e-14 * mag;
    const bool at_noise = -slope <= 100.0 * noise;
    double t = 1.0;
    for (;;) {
      trial_ = x + t * step_;
      double phi = 0.0;
      for (Index j = 0; j < n_; ++j) phi += law_.energy_change(x[j], trial_[j]);
      const double dE = t * lin + t * t * quad + phi;
      if (std::isfinite(dE) && (dE <= 1e-4 * t * slope || (at_noise && dE <= noise))) break;
      t *= 0.5;
      if (t < 1e-20) break;  // no decrease possible: stalls, reported by the residual
    }
    if (t < 1e-20) {
      rep.converged = false;
      if (keep_factor) keep_factor_at_x();
      v = x;
      return rep;
    }
    x = trial_;
  }
}

mon_linearization mon_law_solver::linearization() const {
  mon_linearization lin;
  lin.nodes.resize(static_cast<std::size_t>(n_));
  for (Index j = 0; j < n_; ++j) lin.nodes[j] = static_cast<int>(j);
  lin.factor = K_.triangularView<Eigen::Lower>();
  return lin;
}

void mon_law_solver::adjoint(const Eigen::Ref<const VectorXd>& rhs, Eigen::Ref<VectorXd> lambda) const {
  lambda = rhs;
  K_.triangularView<Eigen::Lower>().solveInPlace(lambda);
  K_.transpose().triangularView<Eigen::Upper>().solveInPlace(lambda);
}

}  // namespace spicenn::models
