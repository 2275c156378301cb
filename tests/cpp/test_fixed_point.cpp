// test_fixed_point.cpp -- the fixed-point datapath (systemc/kernels/fixed_point) against the rules
// F1-F9 of fixed_point.h, restated here in plain integer arithmetic, and against exp itself.
#include "kernels/fixed_point.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

int g_failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    if (g_failures < 30) std::printf("FAIL: %s\n", what.c_str());
    ++g_failures;
  }
}

void quantisation() {
  const a3::FixedPoint fx(a3::FixedFormat{4, 4, 8});
  check(fx.quantise(0.03125f) == 0.0f, "1/32 rounds to 0 (tie to even)");
  check(fx.quantise(0.09375f) == 0.125f, "3/32 rounds to 2/16 (tie to even)");
  check(fx.quantise(-0.09375f) == -0.125f, "-3/32 rounds to -2/16");
  check(fx.quantise(0.1f) == 0.125f, "0.1 rounds to 2/16");
  check(fx.quantise(100.0f) == 15.9375f, "saturates at 2^i - 2^-f");
  check(fx.quantise(-100.0f) == -16.0f, "saturates at -2^i");
  check(fx.quantise(-16.0f) == -16.0f && fx.quantise(15.9375f) == 15.9375f, "range ends are kept");
}

void exponent() {
  for (uint32_t f : {1u, 3u, 4u, 6u}) {
    const a3::FixedFormat fmt{4, f, std::max(8u, f + 1)};
    const a3::FixedPoint fx(fmt);
    const double one = std::ldexp(1.0, int(2 * f));
    check(fx.exp_neg(0) == uint64_t(one), "e(0) = 1.0, f = " + std::to_string(f));
    const uint64_t span = uint64_t(1) << (2 * fmt.exp_table_bits);
    uint64_t prev = fx.exp_neg(0);
    for (uint64_t X = 1; X < span; ++X) {
      const uint64_t e = fx.exp_neg(X);
      // Non-increasing up to one unit (two rounded tables can step up where h moves).
      check(e <= prev + 1, "e is non-increasing at X = " + std::to_string(X));
      // Two rounded table entries and one rounded product: within 1.5 units of 2^-2f (+ one
      // unit of slack for the relative error of the upper table entry times the lower).
      check(std::fabs(double(e) - std::exp(-double(X) / one) * one) <= 2.5,
            "e close to exp at X = " + std::to_string(X) + ", f = " + std::to_string(f));
      prev = e;
    }
    check(fx.exp_neg(span) == 0 && fx.exp_neg(span * 5) == 0, "beyond the tables e = 0");
  }
}

// F3-F9 restated: integer weights and outputs, compared bit for bit.
void softmax_output(int count) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> gauss(0.0f, 2.0f);
  auto uni = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  for (int t = 0; t < count; ++t) {
    const a3::FixedFormat fmt{uint32_t(uni(0, 6)), uint32_t(uni(1, 6)), 0};
    const a3::FixedFormat f2{fmt.int_bits, fmt.frac_bits, uint32_t(uni(fmt.frac_bits + 1, 10))};
    const a3::FixedPoint fx(f2);
    const uint32_t n = uint32_t(uni(1, 40)), d = uint32_t(uni(1, 9));
    std::vector<float> q(d), K(n * d), V(n * d);
    for (auto& x : q) x = fx.quantise(gauss(rng));
    for (auto& x : K) x = fx.quantise(gauss(rng));
    for (auto& x : V) x = fx.quantise(gauss(rng));
    std::vector<uint32_t> rows;
    std::vector<double> score;
    for (uint32_t i = 0; i < n; ++i) {
      if (uni(0, 2) == 0 && !(i + 1 == n && rows.empty())) continue;
      double s = 0.0;
      for (uint32_t j = 0; j < d; ++j) s += double(K[i * d + j]) * double(q[j]);
      rows.push_back(i);
      score.push_back(s);
    }
    const double T = uni(0, 3) == 0 ? 0.0 : std::exp(-double(uni(0, 4000)) / 1000.0);
    std::vector<uint32_t> sel(n);
    std::vector<float> out(d);
    const a3::FixedResult r =
        fx.softmax_output(score.data(), rows.data(), uint32_t(rows.size()), V.data(), d, T, sel.data(), out.data());
    // The literal statement.
    const int64_t sf = int64_t(1) << f2.frac_bits, s2f = sf * sf;
    std::vector<int64_t> S;
    for (double s : score) S.push_back(int64_t(std::llround(s * double(s2f))));
    const int64_t smax = *std::max_element(S.begin(), S.end());
    const uint64_t tfx = uint64_t(std::floor(T * double(s2f) + 0.5));
    std::vector<uint32_t> want_sel;
    std::vector<uint64_t> e;
    uint64_t E = 0;
    for (std::size_t c = 0; c < rows.size(); ++c) {
      const uint64_t ec = fx.exp_neg(uint64_t(smax - S[c]));
      if (ec >= tfx) {
        want_sel.push_back(rows[c]);
        e.push_back(ec);
        E += ec;
      }
    }
    const std::string name = "softmax case " + std::to_string(t);
    check(r.n_sel == want_sel.size() && std::equal(want_sel.begin(), want_sel.end(), sel.begin()), name + ": SEL");
    check(r.sum_exp == double(E) / double(s2f) && r.s_max == double(smax) / double(s2f), name + ": stats");
    for (uint32_t j = 0; j < d; ++j) {
      int64_t o = 0;
      for (std::size_t k = 0; k < e.size(); ++k) {
        const int64_t w = int64_t((2 * e[k] * uint64_t(s2f) + E) / (2 * E));
        o += w * int64_t(std::llround(double(V[want_sel[k] * d + j]) * double(sf)));
      }
      const float want = float(double(o) / double(s2f * sf));
      check(out[j] == want, name + ": out[" + std::to_string(j) + "]");
    }
  }
}

}  // namespace

int main() {
  quantisation();
  exponent();
  softmax_output(3000);
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("test_fixed_point: all checks passed\n");
  return 0;
}
