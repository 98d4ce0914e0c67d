// Small kernels of the MON software model (internal to spicenn::models).
//
//   nonzeros(x, k, val)          -> count: positions and values of x's nonzero entries
//   sum_columns(A, k, c, m, out)  out += Σ_p A.col(k[p]) · c[p]   (A column-major)
//   jacobi_column_step(...)       -> {done, max}: a float32 Jacobi iterate's residual test and its successor
//
// sum_columns is the product of a column-major matrix with a sparse vector:
// the sources S = H x of mostly-zero inputs (MNIST pixels) and G v over the
// free nodes of an equilibrium. It keeps a block of 32 output rows in
// registers while it walks the listed columns, so the output is read and
// written once per block instead of once per column.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace spicenn::models::kernels {

// Positions (into k) and values (into val, as V: double, or float for the
// float32 path, converted as they are gathered) of the nonzero entries of
// x[0..n); k and val need room for n + 16 entries. Returns their number.
template <typename V = double>
inline int nonzeros(const double* x, int n, int* k, V* val) {
  static_assert(std::is_same_v<V, double> || std::is_same_v<V, float>);
  int m = 0;
  int i = 0;
#if defined(__AVX512F__)
  const __m512i step = _mm512_set1_epi32(16);
  __m512i pos = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  auto store = [](V* out, __m512d packed) {
    if constexpr (std::is_same_v<V, double>)
      _mm512_storeu_pd(out, packed);
    else
      _mm256_storeu_ps(out, _mm512_cvtpd_ps(packed));
  };
  for (; i + 16 <= n; i += 16) {
    const __m512d a = _mm512_loadu_pd(x + i), b = _mm512_loadu_pd(x + i + 8);
    const __mmask8 ma = _mm512_cmp_pd_mask(a, _mm512_setzero_pd(), _CMP_NEQ_UQ);
    const __mmask8 mb = _mm512_cmp_pd_mask(b, _mm512_setzero_pd(), _CMP_NEQ_UQ);
    const __mmask16 mk = static_cast<__mmask16>(ma | (static_cast<unsigned>(mb) << 8));
    // Compress in registers and store whole vectors (compressing stores are
    // slow on some processors); the buffers have room for the overhang.
    _mm512_storeu_si512(k + m, _mm512_maskz_compress_epi32(mk, pos));
    store(val + m, _mm512_maskz_compress_pd(ma, a));
    const int ca = __builtin_popcount(ma);
    store(val + m + ca, _mm512_maskz_compress_pd(mb, b));
    m += ca + __builtin_popcount(mb);
    pos = _mm512_add_epi32(pos, step);
  }
#endif
  for (; i < n; ++i) {
    k[m] = i;
    val[m] = static_cast<V>(x[i]);
    m += x[i] != 0.0;
  }
  return m;
}

// The bookkeeping of one projected-Jacobi step of one column (float32
// inference, mon.hpp), in one pass over its n entries:
//   done: whether the current iterate v (>= 0, largest entry vmax) meets the
//         scaled KKT residual tol, given p = s + A v (G = D − A): with
//         w = D v − p and r = |G| |v| + |s| = D v + (p − s) + |s|,
//         max_i max(−w − tol·r, min(|w| − tol·r, v − tol·vmax)) <= 0
//         (the residual's definition without divisions);
//   next = max(0, p ⊘ d) (the next iterate) and its largest entry.
struct jacobi_step {
  bool done;
  float next_max;
};

inline jacobi_step jacobi_column_step(Eigen::Index n, const float* v, const float* p, const float* s, const float* d,
                                      const float* d_inv, float tol, float vmax, float* next) {
  float worst = -std::numeric_limits<float>::infinity(), nmax = 0.0f;
  Eigen::Index i = 0;
#if defined(__AVX512F__)
  const __m512 t = _mm512_set1_ps(tol), tv = _mm512_set1_ps(tol * vmax), zero = _mm512_setzero_ps();
  const __m512 sign = _mm512_set1_ps(-0.0f);
  __m512 wv = _mm512_set1_ps(worst), nm = zero;
  auto one = [&](__mmask16 k) {
    const __m512 vi = _mm512_maskz_loadu_ps(k, v + i), pi = _mm512_maskz_loadu_ps(k, p + i);
    const __m512 si = _mm512_maskz_loadu_ps(k, s + i), di = _mm512_maskz_loadu_ps(k, d + i);
    const __m512 dv = _mm512_mul_ps(vi, di);
    const __m512 w = _mm512_sub_ps(dv, pi);
    const __m512 r = _mm512_add_ps(_mm512_add_ps(dv, _mm512_sub_ps(pi, si)), _mm512_andnot_ps(sign, si));
    const __m512 tr = _mm512_mul_ps(t, r);
    const __m512 a = _mm512_sub_ps(_mm512_xor_ps(w, sign), tr);                   // −w − tol·r
    const __m512 b = _mm512_min_ps(_mm512_sub_ps(_mm512_andnot_ps(sign, w), tr),  // |w| − tol·r
                                   _mm512_sub_ps(vi, tv));                        // v − tol·vmax
    wv = _mm512_mask_max_ps(wv, k, wv, _mm512_max_ps(a, b));
    const __m512 nx = _mm512_max_ps(_mm512_mul_ps(pi, _mm512_maskz_loadu_ps(k, d_inv + i)), zero);
    _mm512_mask_storeu_ps(next + i, k, nx);
    nm = _mm512_max_ps(nm, nx);  // masked-off lanes are 0
  };
  for (; i + 16 <= n; i += 16) one(static_cast<__mmask16>(0xffff));
  if (i < n) one(static_cast<__mmask16>((1u << (n - i)) - 1u));
  worst = _mm512_reduce_max_ps(wv);
  nmax = _mm512_reduce_max_ps(nm);
  i = n;
#endif
  for (; i < n; ++i) {
    const float dv = v[i] * d[i], w = dv - p[i];
    const float r = dv + (p[i] - s[i]) + std::abs(s[i]), tr = tol * r;
    worst = std::max(worst, std::max(-w - tr, std::min(std::abs(w) - tr, v[i] - tol * vmax)));
    next[i] = std::max(p[i] * d_inv[i], 0.0f);
    nmax = std::max(nmax, next[i]);
  }
  return {worst <= 0.0f, nmax};
}

#if defined(__AVX512F__)
// The 512-bit vector of T and its operations (float: 16 lanes, double: 8).
template <typename T>
struct zmm;
template <>
struct zmm<float> {
  using type = __m512;
  static constexpr int lanes = 16;
  using mask = __mmask16;
  static type load(const float* p) { return _mm512_loadu_ps(p); }
  static type load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, type v) { _mm512_storeu_ps(p, v); }
  static void store(mask m, float* p, type v) { _mm512_mask_storeu_ps(p, m, v); }
  static type broadcast(float x) { return _mm512_set1_ps(x); }
  static type fmadd(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
};
template <>
struct zmm<double> {
  using type = __m512d;
  static constexpr int lanes = 8;
  using mask = __mmask8;
  static type load(const double* p) { return _mm512_loadu_pd(p); }
  static type load(mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, type v) { _mm512_storeu_pd(p, v); }
  static void store(mask m, double* p, type v) { _mm512_mask_storeu_pd(p, m, v); }
  static type broadcast(double x) { return _mm512_set1_pd(x); }
  static type fmadd(type a, type b, type c) { return _mm512_fmadd_pd(a, b, c); }
};

// rows <= lanes·NV: the whole output column in NV registers, one pass over
// the listed columns (the last register masked to the rows left).
template <typename T, int NV>
inline void sum_columns_in_registers(const T* A, Eigen::Index lda, Eigen::Index rows, const int* k, const T* c, int m,
                                     T* out) {
  using Z = zmm<T>;
  const int rest = static_cast<int>(rows) - Z::lanes * (NV - 1);  // 1..lanes
  const auto last = static_cast<typename Z::mask>(rest == Z::lanes ? (1u << Z::lanes) - 1u : (1u << rest) - 1u);
  typename Z::type acc[NV];  // kept in registers: the loops over v are unrolled
#pragma GCC unroll 16
  for (int v = 0; v < NV - 1; ++v) acc[v] = Z::load(out + Z::lanes * v);
  acc[NV - 1] = Z::load(last, out + Z::lanes * (NV - 1));
  for (int p = 0; p < m; ++p) {
    const T* col = A + static_cast<Eigen::Index>(k[p]) * lda;
    const auto cp = Z::broadcast(c[p]);
#pragma GCC unroll 16
    for (int v = 0; v < NV - 1; ++v) acc[v] = Z::fmadd(Z::load(col + Z::lanes * v), cp, acc[v]);
    acc[NV - 1] = Z::fmadd(Z::load(last, col + Z::lanes * (NV - 1)), cp, acc[NV - 1]);
  }
#pragma GCC unroll 16
  for (int v = 0; v < NV - 1; ++v) Z::store(out + Z::lanes * v, acc[v]);
  Z::store(last, out + Z::lanes * (NV - 1), acc[NV - 1]);
}

// Up to 128 rows (a MON's hidden nodes): the register version; false if more.
template <typename T, int NV = 1>
inline bool sum_columns_short(const T* A, Eigen::Index lda, Eigen::Index rows, const int* k, const T* c, int m, T* out) {
  constexpr int max_nv = 128 / zmm<T>::lanes;
  if constexpr (NV > max_nv) {
    return false;
  } else {
    if (rows <= NV * zmm<T>::lanes) {
      sum_columns_in_registers<T, NV>(A, lda, rows, k, c, m, out);
      return true;
    }
    return sum_columns_short<T, NV + 1>(A, lda, rows, k, c, m, out);
  }
}
#endif

// out[0..rows) += Σ_{p < m} A[k[p]·lda + (0..rows)] · c[p]  (T: double or float).
template <typename T>
inline void sum_columns(const T* A, Eigen::Index lda, Eigen::Index rows, const int* k, const T* c, int m, T* out) {
#if defined(__AVX512F__)
  if (rows > 0 && sum_columns_short(A, lda, rows, k, c, m, out)) return;
#endif
  using Block = Eigen::Matrix<T, 32, 1>;
  using Part = Eigen::Matrix<T, 8, 1>;
  Eigen::Index r0 = 0;
  for (; r0 + 32 <= rows; r0 += 32) {
    // Two accumulators: one chain of dependent multiply-adds per block would
    // wait on the FMA latency.
    Block acc = Eigen::Map<const Block>(out + r0), acc2 = Block::Zero();
    int p = 0;
    for (; p + 2 <= m; p += 2) {
      acc.noalias() += Eigen::Map<const Block>(A + k[p] * lda + r0) * c[p];
      acc2.noalias() += Eigen::Map<const Block>(A + k[p + 1] * lda + r0) * c[p + 1];
    }
    if (p < m) acc.noalias() += Eigen::Map<const Block>(A + k[p] * lda + r0) * c[p];
    Eigen::Map<Block>(out + r0) = acc + acc2;
  }
  for (; r0 + 8 <= rows; r0 += 8) {
    Part acc = Eigen::Map<const Part>(out + r0);
    for (int p = 0; p < m; ++p) acc.noalias() += Eigen::Map<const Part>(A + k[p] * lda + r0) * c[p];
    Eigen::Map<Part>(out + r0) = acc;
  }
  using Quad = Eigen::Matrix<T, 4, 1>;
  for (; r0 + 4 <= rows; r0 += 4) {
    Quad acc = Eigen::Map<const Quad>(out + r0);
    for (int p = 0; p < m; ++p) acc.noalias() += Eigen::Map<const Quad>(A + k[p] * lda + r0) * c[p];
    Eigen::Map<Quad>(out + r0) = acc;
  }
  for (; r0 < rows; ++r0) {
    T acc = out[r0];
    for (int p = 0; p < m; ++p) acc += A[k[p] * lda + r0] * c[p];
    out[r0] = acc;
  }
}

// In-place lower Cholesky factor of the n×n block at a (column-major, leading
// dimension lda; the strict upper triangle is not referenced), left-looking:
// column j is a(j.., j) − Σ_{k<j} a(j.., k)·a(j, k), one sum_columns call.
// Returns false if a pivot is not positive. `work` needs 2n entries.
inline bool cholesky_lower(double* a, Eigen::Index lda, int n, double* work) {
  int* cols = reinterpret_cast<int*>(work);  // n ints fit in n doubles
  double* coef = work + n;
  for (int j = 0; j < n; ++j) {
    double* col = a + j * lda + j;
    for (int k = 0; k < j; ++k) coef[k] = -a[k * lda + j];
    if (j > 0) {
      cols[j - 1] = j - 1;
      sum_columns(a + j, lda, n - j, cols, coef, j, col);
    }
    const double d = col[0];
    if (!(d > 0.0)) return false;
    const double r = std::sqrt(d);
    col[0] = r;
    const double ir = 1.0 / r;
    for (int i = 1; i < n - j; ++i) col[i] *= ir;
  }
  return true;
}

}  // namespace spicenn::models::kernels
