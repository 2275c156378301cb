// fixed_point.h -- the fixed-point datapath of docs/spec.md 2.1, bit-accurate, plain C++17.
//
// The rules (docs/fixed-point.md states them for users; a3sim.fixed_point is the numpy twin and
// gives the same bits):
//
//   F1 Inputs q, K, V: sign + i integer + f fraction bits, two's complement. x -> X = round(x * 2^f),
//      round to nearest, ties to even; saturate to [-2^(i+f), 2^(i+f) - 1]. The device keeps the
//      grid value X / 2^f as a float32 (exact: 1 + i + f <= 24 bits).
//   F2 Products 2i.2f and dot products (log2 d + 2i).2f are exact integers (no rounding, and the
//      widths cannot overflow). The functional model forms them in double from the grid values,
//      which is exact too (|sum| < 2^53), so candidate selection and the exact scores of
//      approx_kernel run unchanged on the quantised inputs.
//   F3 Max subtraction: D = s_max - s >= 0, one more integer bit, exact; X = D * 2^(2f) is an integer.
//   F4 Exponent, output 0.2f: exp(-X / 2^(2f)) as the product of two tables of 2^b entries
//      (b = exp_table_bits), indexed by the upper and lower b bits of X:
//        hi[h] = round(exp(-h * 2^b / 2^(2f)) * 2^(2f)), lo[l] = round(exp(-l / 2^(2f)) * 2^(2f))
//      (entries rounded half up, from the C library's exp in double);
//        e = (hi[X >> b] * lo[X & (2^b - 1)] + 2^(2f-1)) >> 2f   (rounded half up).
//      X >= 2^(2b) (beyond the tables' 2b input bits) gives e = 0. e(0) = 2^(2f), i.e. 1.0.
//   F5 Post-scoring keeps row i of C when e_i >= round(T * 2^(2f)) (rounded half up): T compared
//      in the exponent's own 0.2f format. The row at s_max (e = 1.0) is always kept.
//   F6 Exponent sum log2(n).2f: E = sum of e over SEL, exact.
//   F7 Weights 0.2f: w_i = round(e_i * 2^(2f) / E), rounded half up (integer division).
//   F8 Outputs (i + log2 n).3f: O_j = sum over SEL of w_i * V_ij (V in units of 2^-f), exact; out_j =
//      O_j / 2^(3f) rounded once to float32. No saturation is needed: |o_j| < 2^i (1 + n 2^-(2f+1)).
//   F9 For merging tiles the row stats carry s_max (double, exact) and sum_exp = E / 2^(2f).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace a3 {

struct FixedFormat {
  uint32_t int_bits = 4;        // i [paper: i = 4]
  uint32_t frac_bits = 4;       // f [paper: f = 4]
  uint32_t exp_table_bits = 8;  // b: two tables of 2^b entries, exponent input of 2b bits
};

// Outcome of one query's fixed-point post-scoring, softmax and output.
struct FixedResult {
  uint32_t n_sel;
  double s_max;
  double sum_exp;  // E / 2^(2f)
};

class FixedPoint {
 public:
  // Throws std::invalid_argument unless 1 <= f, i + f <= 16, f < b <= 16.
  explicit FixedPoint(const FixedFormat& fmt);

  const FixedFormat& format() const { return fmt_; }

  // F1: the grid value of x (float32, exact).
  float quantise(float x) const;
  void quantise(const float* in, std::size_t count, float* out) const;

  // F4: exp(-X / 2^(2f)) in units of 2^-2f, for X >= 0.
  uint64_t exp_neg(uint64_t X) const;

  // F3-F9 for one query: score[c] is the exact score of candidate rows[c] (double, from quantised
  // inputs), c < count, rows ascending; Vq the quantised V (row-major, d columns). Writes the
  // SEL rows (ascending) to sel if not null, and d outputs to out.
  FixedResult softmax_output(const double* score, const uint32_t* rows, uint32_t count, const float* Vq, uint32_t d,
                             double T, uint32_t* sel, float* out) const;

  // The tables, for tests and the docs.
  const std::vector<uint64_t>& table_hi() const { return hi_; }
  const std::vector<uint64_t>& table_lo() const { return lo_; }

 private:
  FixedFormat fmt_;
  double scale_f_, scale_2f_, inv_scale_3f_;
  std::vector<uint64_t> hi_, lo_;
};

// The operands of the fixed-point datapath: quantised copies of what the banks hold (F1), and the
// sorted-key table of the quantised K (quantising creates ties, which the table breaks by row as
// docs/spec.md 3.1 says, so it is rebuilt from the quantised keys rather than taken from the host).
class FixedOperands {
 public:
  // Quantises K and V (n x d) and sorts the quantised K; does nothing while generation is unchanged.
  void load_kv(const FixedPoint& fx, const float* K, const float* V, uint32_t n, uint32_t d, uint64_t generation);
  // Quantises m queries of d values; returns the quantised copy.
  const float* load_queries(const FixedPoint& fx, const float* Q, uint32_t m, uint32_t d);

  const float* K() const { return k_.data(); }
  const float* V() const { return v_.data(); }
  const float* sorted_value() const { return sv_.data(); }
  const uint32_t* sorted_row() const { return sr_.data(); }

 private:
  std::vector<float> k_, v_, q_, sv_;
  std::vector<uint32_t> sr_;
  uint64_t generation_ = ~uint64_t(0);
};

}  // namespace a3
