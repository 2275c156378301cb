#include "exact_kernel.h"

#include <cblas.h>

#include <cmath>
#include <cstring>

namespace a3 {

namespace {
// exp(x) for x <= 0 by range reduction x = k ln2 + r, |r| <= ln2/2, and a degree-6 polynomial
// (the classic single-precision minimax coefficients); k is applied through the exponent bits.
// No branches or calls, so the loop below vectorises.
inline float exp_nonpositive(float x) {
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  float xc = x < -87.0f ? -87.0f : x;
  int k = static_cast<int>(xc * log2e - 0.5f);  // truncation toward zero of a negative value
  float kf = static_cast<float>(k);
  float r = xc - kf * ln2_hi - kf * ln2_lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = 1.0f + r + r * r * p;
  int32_t bits = (k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  float y = e * scale;
  return x < -87.0f ? 0.0f : y;
}
}  // namespace

float exp_shifted_sum(float* x, uint32_t count, float shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (uint32_t i = 0; i < count; ++i) {
    float e = exp_nonpositive(x[i] - shift);
    x[i] = e;
    sum += e;
  }
  return sum;
}

bool all_finite(const float* x, uint64_t count) {
  // A NaN or infinity has all exponent bits set.
  const uint32_t* b = reinterpret_cast<const uint32_t*>(x);
  uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
  for (uint64_t i = 0; i < count; ++i) bad |= ((b[i] & 0x7F800000u) == 0x7F800000u) ? 1u : 0u;
  return bad == 0;
}

void exact_attention(const float* Q, uint32_t m, const float* K, const float* V, uint32_t n, uint32_t d,
                     float* out, RowStats* stats, ExactScratch& sc) {
  const size_t mn = static_cast<size_t>(m) * n;
  sc.qd.resize(static_cast<size_t>(m) * d);
  sc.kd.resize(static_cast<size_t>(n) * d);
  sc.s.resize(mn);
  sc.p.resize(mn);
  for (size_t i = 0; i < sc.qd.size(); ++i) sc.qd[i] = Q[i];
  for (size_t i = 0; i < sc.kd.size(); ++i) sc.kd[i] = K[i];
  // Scores in double precision (the numeric contract of approx_kernel.h): S = Q K^T (m x n).
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(d), 1.0, sc.qd.data(), static_cast<int>(d), sc.kd.data(), static_cast<int>(d), 0.0,
              sc.s.data(), static_cast<int>(n));
  for (uint32_t i = 0; i < m; ++i) {
    const double* srow = sc.s.data() + static_cast<size_t>(i) * n;
    float* prow = sc.p.data() + static_cast<size_t>(i) * n;
    double mx = srow[0];
    for (uint32_t r = 1; r < n; ++r) mx = srow[r] > mx ? srow[r] : mx;
    for (uint32_t r = 0; r < n; ++r) prow[r] = static_cast<float>(srow[r] - mx);
    float sum = exp_shifted_sum(prow, n, 0.0f);
    stats[i] = RowStats{static_cast<float>(mx), sum, n, n};
  }
  // out = P V (m x d) in float32, then divide each row by its sum.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(d),
              static_cast<int>(n), 1.0f, sc.p.data(), static_cast<int>(n), V, static_cast<int>(d), 0.0f, out,
              static_cast<int>(d));
  for (uint32_t i = 0; i < m; ++i) {
    float inv = 1.0f / stats[i].sum_exp;
    float* o = out + static_cast<size_t>(i) * d;
    for (uint32_t j = 0; j < d; ++j) o[j] *= inv;
  }
}

}  // namespace a3
