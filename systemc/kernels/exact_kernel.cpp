#include "kernels/exact_kernel.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/blas.h"

namespace a3 {

namespace {
// exp(x) for x <= 0, in float32 within 2 ulp of the exact value (tests/cpp/test_exact_kernel.cpp
// sweeps [-87, 0]), written so that the simd loops below vectorise it: x = n ln2 + r with
// n = round(x / ln2) (the 1.5 * 2^23 shifter, round to nearest), r by Cody-Waite in two parts,
// exp(r) by its Taylor polynomial of degree 7 (|r| <= ln2 / 2: truncation below 2^-27 relative),
// times 2^n built in the exponent bits. Inputs below -87 give 0 (exp(-87) ~ 1.6e-38, the float32
// normal limit). It replaced libmvec's expf (4 ulp), which is slower here (bench_kernels).
inline float exp_nonpositive(float x) {
  const float xc = x < -87.0f ? -87.0f : x;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kShifter = 12582912.0f;              // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kLn2Hi = 0.693145751953125f;         // ln 2 to 16 bits: n * kLn2Hi is exact
  constexpr float kLn2Lo = 1.428606765330187045e-06f;  // ln 2 - kLn2Hi
  const float k = xc * kLog2e + kShifter;
  const float n = k - kShifter;
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t ki;
  std::memcpy(&ki, &k, sizeof ki);
  const int32_t bits = (ki - 0x4B400000) * (1 << 23) + (127 << 23);  // (n + 127) << 23; n >= -126
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.0f ? 0.0f : p * scale;
}
}  // namespace

float exp_shifted_sum(const double* s, float* p, uint32_t count, double shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (uint32_t i = 0; i < count; ++i) {
    float e = exp_nonpositive(static_cast<float>(s[i] - shift));
    p[i] = e;
    sum += e;
  }
  return sum;
}

float exp_shifted_sum(const float* s, float* p, uint32_t count, float shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (uint32_t i = 0; i < count; ++i) {
    float e = exp_nonpositive(s[i] - shift);
    p[i] = e;
    sum += e;
  }
  return sum;
}

float max_of(const float* s, uint32_t count) {
  float mx = s[0];
#pragma omp simd reduction(max : mx)
  for (uint32_t i = 1; i < count; ++i) mx = s[i] > mx ? s[i] : mx;
  return mx;
}

double max_of(const double* s, uint32_t count) {
  double mx = s[0];
#pragma omp simd reduction(max : mx)
  for (uint32_t i = 1; i < count; ++i) mx = s[i] > mx ? s[i] : mx;
  return mx;
}

bool all_finite(const float* x, uint64_t count) {
  // A NaN or infinity has all exponent bits set.
  const uint32_t* b = reinterpret_cast<const uint32_t*>(x);
  uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
  for (uint64_t i = 0; i < count; ++i) bad |= ((b[i] & 0x7F800000u) == 0x7F800000u) ? 1u : 0u;
  return bad == 0;
}

namespace {
// Rows [0, m) of a block: Q, out and stats point at the block's first row; kd is K in double.
void exact_rows_f64(const float* Q, uint32_t m, const double* kd, const float* V, uint32_t n, uint32_t d, float* out,
                    RowStats* stats, ExactScratch::Rows& sc) {
  const size_t mn = static_cast<size_t>(m) * n;
  if (sc.qd.size() < static_cast<size_t>(m) * d) sc.qd.resize(static_cast<size_t>(m) * d);
  if (sc.s.size() < mn) sc.s.resize(mn);
  if (sc.p.size() < mn) sc.p.resize(mn);
  const size_t md = static_cast<size_t>(m) * d;
  for (size_t i = 0; i < md; ++i) sc.qd[i] = Q[i];
  // Scores in double precision (the numeric contract of approx_kernel.h): S = Q K^T (m x n).
  blas::dgemm(CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(d), 1.0,
              sc.qd.data(), static_cast<int>(d), kd, static_cast<int>(d), 0.0, sc.s.data(), static_cast<int>(n));
  for (uint32_t i = 0; i < m; ++i) {
    const double* srow = sc.s.data() + static_cast<size_t>(i) * n;
    float* prow = sc.p.data() + static_cast<size_t>(i) * n;
    const double mx = max_of(srow, n);
    const float sum = exp_shifted_sum(srow, prow, n, mx);
    stats[i] = RowStats{mx, static_cast<double>(sum), n, n};
  }
  // out = P V (m x d) in float32, then divide each row by its sum.
  blas::sgemm(CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(d), static_cast<int>(n), 1.0f,
              sc.p.data(), static_cast<int>(n), V, static_cast<int>(d), 0.0f, out, static_cast<int>(d));
  for (uint32_t i = 0; i < m; ++i) {
    const float inv = 1.0f / static_cast<float>(stats[i].sum_exp);
    float* o = out + static_cast<size_t>(i) * d;
    for (uint32_t j = 0; j < d; ++j) o[j] *= inv;
  }
}

// Float32 scores (ExactPrecision::F32): S = Q K^T by sgemm, in place in p, then exp in place.
void exact_rows_f32(const float* Q, uint32_t m, const float* K, const float* V, uint32_t n, uint32_t d, float* out,
                    RowStats* stats, ExactScratch::Rows& sc) {
  const size_t mn = static_cast<size_t>(m) * n;
  if (sc.p.size() < mn) sc.p.resize(mn);
  float* p = sc.p.data();
  blas::sgemm(CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(d), 1.0f, Q,
              static_cast<int>(d), K, static_cast<int>(d), 0.0f, p, static_cast<int>(n));
  for (uint32_t i = 0; i < m; ++i) {
    float* row = p + static_cast<size_t>(i) * n;
    const float mx = max_of(row, n);
    const float sum = exp_shifted_sum(row, row, n, mx);
    stats[i] = RowStats{static_cast<double>(mx), static_cast<double>(sum), n, n};
  }
  blas::sgemm(CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(d), static_cast<int>(n), 1.0f, p,
              static_cast<int>(n), V, static_cast<int>(d), 0.0f, out, static_cast<int>(d));
  for (uint32_t i = 0; i < m; ++i) {
    const float inv = 1.0f / static_cast<float>(stats[i].sum_exp);
    float* o = out + static_cast<size_t>(i) * d;
    for (uint32_t j = 0; j < d; ++j) o[j] *= inv;
  }
}

void keys_to_double(const float* K, uint32_t n, uint32_t d, ExactScratch& sc) {
  const size_t nd = static_cast<size_t>(n) * d;
  if (sc.kd.size() < nd) sc.kd.resize(nd);
  for (size_t i = 0; i < nd; ++i) sc.kd[i] = K[i];
}
}  // namespace

void exact_attention(const float* Q, uint32_t m, const float* K, const float* V, uint32_t n, uint32_t d, float* out,
                     RowStats* stats, ExactScratch& sc, ExactPrecision prec) {
  if (sc.rows.empty()) sc.rows.resize(1);
  if (prec == ExactPrecision::F32) {
    exact_rows_f32(Q, m, K, V, n, d, out, stats, sc.rows[0]);
    return;
  }
  keys_to_double(K, n, d, sc);
  exact_rows_f64(Q, m, sc.kd.data(), V, n, d, out, stats, sc.rows[0]);
}

void exact_attention(const float* Q, uint32_t m, const float* K, const float* V, uint32_t n, uint32_t d, float* out,
                     RowStats* stats, ExactScratch& sc, WorkerPool& pool, ExactPrecision prec) {
  const bool parallel = static_cast<uint64_t>(m) * n * d >= kExactParallelMin;
  // On a shared BLAS (numpy's, blas.h) a large job is one GEMM per step on the caller, and the BLAS
  // spreads it over its own threads; the pool stays idle, so no second set of threads competes with
  // that BLAS's for the cores. A small job runs on the caller with the linked BLAS (one thread):
  // waking the shared pool for it costs more than it saves.
  if (blas::shared() && parallel) {
    exact_attention(Q, m, K, V, n, d, out, stats, sc, prec);
    return;
  }
  const blas::LinkedScope linked;
  if (sc.rows.size() < pool.threads()) sc.rows.resize(pool.threads());
  // The pool runs a call of one chunk (or a pool of one thread) inline as a single range: cut it
  // into the same blocks here, so that the blocks never depend on the pool.
  auto blocks = [&](const WorkerPool::Fn& fn) {
    const WorkerPool::Fn cut = [&](uint32_t i0, uint32_t i1, unsigned worker) {
      for (uint32_t b = i0; b < i1; b += kExactBlock) fn(b, b + kExactBlock < i1 ? b + kExactBlock : i1, worker);
    };
    if (parallel)
      pool.run(m, cut, kExactBlock);
    else
      cut(0, m, 0);
  };
  if (prec == ExactPrecision::F32) {
    blocks([&](uint32_t i0, uint32_t i1, unsigned worker) {
      exact_rows_f32(Q + static_cast<size_t>(i0) * d, i1 - i0, K, V, n, d, out + static_cast<size_t>(i0) * d,
                     stats + i0, sc.rows[worker]);
    });
    return;
  }
  keys_to_double(K, n, d, sc);
  // 64 rows keep each GEMM efficient; a job of q_rows = 256 queries gives 4 blocks, so a worker
  // slowed by other load takes fewer of them.
  const double* kd = sc.kd.data();
  blocks([&](uint32_t i0, uint32_t i1, unsigned worker) {
    exact_rows_f64(Q + static_cast<size_t>(i0) * d, i1 - i0, kd, V, n, d, out + static_cast<size_t>(i0) * d, stats + i0,
                   sc.rows[worker]);
  });
}

}  // namespace a3
