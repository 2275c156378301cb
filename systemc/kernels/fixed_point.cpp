// fixed_point.cpp -- see fixed_point.h for the rules F1-F9.
#include "kernels/fixed_point.h"

#include "kernels/approx_kernel.h"  // sort_keys

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace a3 {

FixedPoint::FixedPoint(const FixedFormat& fmt) : fmt_(fmt) {
  const uint32_t i = fmt.int_bits, f = fmt.frac_bits, b = fmt.exp_table_bits;
  if (f < 1 || i + f > 16 || b <= f || b > 16)
    throw std::invalid_argument("a3::FixedPoint: needs 1 <= f, i + f <= 16 and f < exp_table_bits <= 16");
  scale_f_ = std::ldexp(1.0, int(f));
  scale_2f_ = std::ldexp(1.0, int(2 * f));
  inv_scale_3f_ = std::ldexp(1.0, -int(3 * f));
  const uint64_t entries = uint64_t(1) << b;
  hi_.resize(entries);
  lo_.resize(entries);
  for (uint64_t k = 0; k < entries; ++k) {
    // Entries rounded half up (F4); the arguments are exact (powers of two times integers).
    hi_[k] = uint64_t(std::floor(std::exp(-double(k << b) / scale_2f_) * scale_2f_ + 0.5));
    lo_[k] = uint64_t(std::floor(std::exp(-double(k) / scale_2f_) * scale_2f_ + 0.5));
  }
}

float FixedPoint::quantise(float x) const {
  const double lim = std::ldexp(1.0, int(fmt_.int_bits + fmt_.frac_bits));
  double X = std::nearbyint(double(x) * scale_f_);  // ties to even (default rounding mode)
  if (X > lim - 1.0) X = lim - 1.0;
  if (X < -lim) X = -lim;
  return float(X / scale_f_);
}

void FixedPoint::quantise(const float* in, std::size_t count, float* out) const {
  for (std::size_t k = 0; k < count; ++k) out[k] = quantise(in[k]);
}

uint64_t FixedPoint::exp_neg(uint64_t X) const {
  const uint32_t b = fmt_.exp_table_bits, f2 = 2 * fmt_.frac_bits;
  if (X >> (2 * b)) return 0u;  // beyond the tables' input width
  const uint64_t p = hi_[X >> b] * lo_[X & ((uint64_t(1) << b) - 1)];
  return (p + (uint64_t(1) << (f2 - 1))) >> f2;
}

FixedResult FixedPoint::softmax_output(const double* score, const uint32_t* rows, uint32_t count, const float* Vq,
                                       uint32_t d, double T, uint32_t* sel, float* out) const {
  // Per-thread buffers: the compute core calls this from its worker threads.
  thread_local std::vector<uint64_t> e;
  thread_local std::vector<uint32_t> keep;
  thread_local std::vector<int64_t> acc;
  if (e.size() < count) {
    e.resize(count);
    keep.resize(count);
  }
  if (acc.size() < d) acc.resize(d);

  double s_max = score[0];
  for (uint32_t c = 1; c < count; ++c) s_max = std::max(s_max, score[c]);
  const uint64_t t_fx = uint64_t(std::floor(T * scale_2f_ + 0.5));  // F5
  uint32_t n_sel = 0;
  uint64_t E = 0;
  for (uint32_t c = 0; c < count; ++c) {
    const uint64_t X = uint64_t((s_max - score[c]) * scale_2f_);  // F3: exact
    const uint64_t ec = exp_neg(X);
    if (ec < t_fx) continue;
    e[n_sel] = ec;
    keep[n_sel] = rows[c];
    E += ec;  // F6
    ++n_sel;
  }
  for (uint32_t j = 0; j < d; ++j) acc[j] = 0;
  const uint64_t two_e = 2 * E;
  const uint32_t f = fmt_.frac_bits;
  for (uint32_t k = 0; k < n_sel; ++k) {
    const int64_t w = int64_t(((e[k] << (2 * f + 1)) + E) / two_e);  // F7: round half up
    const float* v = Vq + std::size_t(keep[k]) * d;
    for (uint32_t j = 0; j < d; ++j) acc[j] += w * int64_t(double(v[j]) * scale_f_);  // F8: exact
  }
  for (uint32_t j = 0; j < d; ++j) out[j] = float(double(acc[j]) * inv_scale_3f_);
  if (sel) std::copy(keep.begin(), keep.begin() + n_sel, sel);
  return FixedResult{n_sel, s_max, double(E) / scale_2f_};
}

void FixedOperands::load_kv(const FixedPoint& fx, const float* K, const float* V, uint32_t n, uint32_t d,
                            uint64_t generation) {
  const std::size_t size = std::size_t(n) * d;
  if (generation == generation_ && k_.size() == size) return;
  k_.resize(size);
  v_.resize(size);
  sv_.resize(size);
  sr_.resize(size);
  fx.quantise(K, size, k_.data());
  fx.quantise(V, size, v_.data());
  sort_keys(k_.data(), n, d, sv_.data(), sr_.data());
  generation_ = generation;
}

const float* FixedOperands::load_queries(const FixedPoint& fx, const float* Q, uint32_t m, uint32_t d) {
  q_.resize(std::size_t(m) * d);
  fx.quantise(Q, q_.size(), q_.data());
  return q_.data();
}

}  // namespace a3
