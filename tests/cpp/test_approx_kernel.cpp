// test_approx_kernel.cpp -- standalone checks of systemc/kernels/approx_kernel against a
// slow, literal re-statement of docs/spec.md 3.1-3.3 written here.
//
// Build and run:
//   g++ -std=c++17 -O2 -Isystemc tests/cpp/test_approx_kernel.cpp systemc/kernels/approx_kernel.cpp -o /tmp/t && /tmp/t
// Exit status 0 when every check passes; otherwise the failures are printed.
#include "kernels/approx_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

int g_failures = 0;

void fail(const std::string& what) {
  if (g_failures < 30) std::printf("FAIL: %s\n", what.c_str());
  ++g_failures;
}

std::string fmt_set(const std::vector<uint32_t>& v) {
  std::string s = "{";
  for (std::size_t k = 0; k < v.size(); ++k) s += (k ? "," : "") + std::to_string(v[k]);
  return s + "}";
}

// ---------------------------------------------------------------------------
// The literal spec, as slow and plain as possible.
// ---------------------------------------------------------------------------
struct Ref {
  std::vector<double> G;  // empty in post_only
  std::vector<uint32_t> C, SEL;
  double s_max = 0.0, sum_exp = 0.0;
  std::vector<double> out;
};

// 3.1: per column, (value, row) sorted descending, ties lower row first
// (insertion sort that only moves an entry past strictly smaller values).
void ref_sort(const std::vector<float>& K, uint32_t n, uint32_t d, std::vector<float>& val,
              std::vector<uint32_t>& row) {
  val.assign(std::size_t(n) * d, 0.0f);
  row.assign(std::size_t(n) * d, 0u);
  for (uint32_t j = 0; j < d; ++j) {
    std::vector<std::pair<float, uint32_t>> col;
    for (uint32_t i = 0; i < n; ++i) {
      std::pair<float, uint32_t> e{K[std::size_t(i) * d + j], i};
      std::size_t at = col.size();
      while (at > 0 && col[at - 1].first < e.first) --at;
      col.insert(col.begin() + at, e);
    }
    for (uint32_t k = 0; k < n; ++k) {
      val[std::size_t(j) * n + k] = col[k].first;
      row[std::size_t(j) * n + k] = col[k].second;
    }
  }
}

Ref ref_query(const std::vector<float>& q, const std::vector<float>& K, const std::vector<float>& V, uint32_t n,
              uint32_t d, uint64_t M, double T, bool post_only, bool min_skip) {
  Ref r;
  if (post_only) {
    for (uint32_t i = 0; i < n; ++i) r.C.push_back(i);
  } else {
    std::vector<float> val;
    std::vector<uint32_t> row;
    ref_sort(K, n, d, val, row);
    // 3.2 pointers: -1 / n mark a pointer that has left its list.
    std::vector<long> maxp(d), minp(d), maxs(d, 0), mins(d, 0);
    for (uint32_t j = 0; j < d; ++j) {
      if (q[j] > 0) {
        maxp[j] = 0;
        maxs[j] = 1;
        minp[j] = long(n) - 1;
        mins[j] = -1;
      } else if (q[j] < 0) {
        maxp[j] = long(n) - 1;
        maxs[j] = -1;
        minp[j] = 0;
        mins[j] = 1;
      } else {
        maxp[j] = -1;
        minp[j] = -1;
      }  // q[j] == 0 takes no part
    }
    auto live = [&](long p) { return p >= 0 && p < long(n); };
    auto prod = [&](uint32_t j, long p) { return double(q[j]) * double(val[std::size_t(j) * n + p]); };
    r.G.assign(n, 0.0);
    double R = 0.0;  // sum of every value added to G (3.2 rule 3)
    for (uint64_t it = 0; it < M; ++it) {
      bool any = false;
      for (uint32_t j = 0; j < d; ++j) any = any || live(maxp[j]) || live(minp[j]);
      if (!any) break;                               // nothing can happen in this or any later iteration
      const bool min_blocked = min_skip && R < 0.0;  // decided at the start of the iteration
      bool max_live = false;
      for (uint32_t j = 0; j < d; ++j) max_live = max_live || live(maxp[j]);
      if (!max_live && min_blocked) break;  // R cannot change again: the min side stays blocked
      // max side
      long bj = -1;
      double bp = 0.0;
      for (uint32_t j = 0; j < d; ++j)
        if (live(maxp[j]) && (bj < 0 || prod(j, maxp[j]) > bp)) {
          bj = j;
          bp = prod(j, maxp[j]);
        }
      if (bj >= 0) {
        if (bp > 0) {
          r.G[row[std::size_t(bj) * n + maxp[bj]]] += bp;
          R += bp;
        }
        maxp[bj] += maxs[bj];
      }
      // min side (does nothing at all when blocked)
      if (min_blocked) continue;
      bj = -1;
      bp = 0.0;
      for (uint32_t j = 0; j < d; ++j)
        if (live(minp[j]) && (bj < 0 || prod(j, minp[j]) < bp)) {
          bj = j;
          bp = prod(j, minp[j]);
        }
      if (bj >= 0) {
        if (bp < 0) {
          r.G[row[std::size_t(bj) * n + minp[bj]]] += bp;
          R += bp;
        }
        minp[bj] += mins[bj];
      }
    }
    for (uint32_t i = 0; i < n; ++i)
      if (r.G[i] > 0) r.C.push_back(i);
    if (r.C.empty()) {
      uint32_t best = 0;
      for (uint32_t i = 0; i < n; ++i)
        if (r.G[i] > r.G[best]) best = i;
      r.C.push_back(best);
    }
  }
  // 3.3
  std::vector<double> s;
  for (uint32_t i : r.C) {
    double a = 0.0;
    for (uint32_t j = 0; j < d; ++j) a += double(K[std::size_t(i) * d + j]) * double(q[j]);
    s.push_back(a);
  }
  r.s_max = *std::max_element(s.begin(), s.end());
  const double logT = (T == 0.0) ? -std::numeric_limits<double>::infinity() : std::log(T);
  std::vector<double> w;
  for (std::size_t k = 0; k < r.C.size(); ++k)
    if (s[k] - r.s_max >= logT) {
      r.SEL.push_back(r.C[k]);
      w.push_back(std::exp(s[k] - r.s_max));
      r.sum_exp += w.back();
    }
  r.out.assign(d, 0.0);
  for (std::size_t k = 0; k < r.SEL.size(); ++k)
    for (uint32_t j = 0; j < d; ++j) r.out[j] += w[k] / r.sum_exp * double(V[std::size_t(r.SEL[k]) * d + j]);
  return r;
}

// ---------------------------------------------------------------------------
// Run the kernel and compare.
// ---------------------------------------------------------------------------
struct Case {
  uint32_t n, d;
  std::vector<float> q, K, V;
  uint64_t M;
  double T;
  bool post_only;
  bool null_outputs;
  bool min_skip;
};

void check_case(const Case& c, a3::ApproxScratch& scratch, const std::string& name) {
  std::vector<float> sv(std::size_t(c.n) * c.d), rv;
  std::vector<uint32_t> sr(std::size_t(c.n) * c.d), rr;
  a3::sort_keys(c.K.data(), c.n, c.d, sv.data(), sr.data());
  ref_sort(c.K, c.n, c.d, rv, rr);
  if (sr != rr) fail(name + ": sort_keys rows differ from the literal sort");
  for (std::size_t k = 0; k < sv.size(); ++k)
    if (!(sv[k] == rv[k])) {
      fail(name + ": sort_keys values differ");
      break;
    }

  std::vector<float> out(c.d, -12345.0f);
  std::vector<uint32_t> cand(c.n, 0xFFFFFFFFu), sel(c.n, 0xFFFFFFFFu);
  const a3::KeyTable kv{
      c.K.data(), c.V.data(), c.n, c.d, c.post_only ? nullptr : sv.data(), c.post_only ? nullptr : sr.data()};
  const a3::ApproxParams params{c.M, c.T, c.post_only, c.min_skip};
  const a3::QueryIO io{c.q.data(), out.data(), c.null_outputs ? nullptr : cand.data(),
                       c.null_outputs ? nullptr : sel.data()};
  const a3::QueryResult res = a3::approx_query(kv, params, io, scratch);
  const Ref ref = ref_query(c.q, c.K, c.V, c.n, c.d, c.M, c.T, c.post_only, c.min_skip);

  if (res.n_cand != ref.C.size() || res.n_sel != ref.SEL.size())
    fail(name + ": counts |C|=" + std::to_string(res.n_cand) + " |SEL|=" + std::to_string(res.n_sel) +
         ", literal spec " + std::to_string(ref.C.size()) + " " + std::to_string(ref.SEL.size()));
  if (!c.null_outputs) {
    std::vector<uint32_t> C(cand.begin(), cand.begin() + std::min<uint32_t>(res.n_cand, c.n));
    std::vector<uint32_t> S(sel.begin(), sel.begin() + std::min<uint32_t>(res.n_sel, c.n));
    if (C != ref.C) fail(name + ": C " + fmt_set(C) + " != literal " + fmt_set(ref.C));
    if (S != ref.SEL) fail(name + ": SEL " + fmt_set(S) + " != literal " + fmt_set(ref.SEL));
  }
  if (!c.post_only) {
    for (uint32_t i = 0; i < c.n; ++i)
      if (scratch.greedy_scores()[i] != ref.G[i]) {  // bit-identical by the contract
        fail(name + ": G[" + std::to_string(i) + "] differs from the literal spec");
        break;
      }
  }
  if (res.s_max != ref.s_max) fail(name + ": s_max differs from the literal spec");
  if (std::fabs(res.sum_exp - ref.sum_exp) > 1e-12 * ref.sum_exp) fail(name + ": sum_exp differs");
  for (uint32_t j = 0; j < c.d; ++j)
    if (std::fabs(double(out[j]) - ref.out[j]) > 1e-5 * std::max(1.0, std::fabs(ref.out[j]))) {
      fail(name + ": out[" + std::to_string(j) + "] = " + std::to_string(out[j]) + ", literal " +
           std::to_string(ref.out[j]));
      break;
    }
}

// ---------------------------------------------------------------------------
// docs/spec.md section 5.
// ---------------------------------------------------------------------------
struct Run {
  std::vector<double> G;
  std::vector<uint32_t> C, SEL;
  a3::QueryResult r;
};

Run run_query(const std::vector<float>& K, const std::vector<float>& q, uint32_t n, uint32_t d, uint64_t M, double T,
              bool min_skip) {
  std::vector<float> sv(n * d), out(d);
  std::vector<uint32_t> sr(n * d), cand(n), sel(n);
  a3::sort_keys(K.data(), n, d, sv.data(), sr.data());
  a3::ApproxScratch scratch(n, d);
  Run run;
  run.r = a3::approx_query(a3::KeyTable{K.data(), K.data(), n, d, sv.data(), sr.data()},
                           a3::ApproxParams{M, T, false, min_skip},
                           a3::QueryIO{q.data(), out.data(), cand.data(), sel.data()}, scratch);
  run.G.assign(scratch.greedy_scores(), scratch.greedy_scores() + n);
  run.C.assign(cand.begin(), cand.begin() + run.r.n_cand);
  run.SEL.assign(sel.begin(), sel.begin() + run.r.n_sel);
  // The interleaved two-query path must give the same G (it is what the device runs).
  a3::ApproxScratch sa(n, d), sb(n, d);
  if (d <= 64) {
    a3::select_two(q.data(), q.data(), a3::KeyTable{K.data(), K.data(), n, d, sv.data(), sr.data()},
                   a3::ApproxParams{M, T, false, min_skip}, sa, sb);
    for (uint32_t i = 0; i < n; ++i)
      if (sa.greedy_scores()[i] != run.G[i] || sb.greedy_scores()[i] != run.G[i])
        fail("worked example: select_two G differs from approx_query's");
  }
  return run;
}

void check_G(const std::string& name, const std::vector<double>& G, const std::vector<double>& want) {
  for (std::size_t i = 0; i < want.size(); ++i)
    if (std::fabs(G[i] - want[i]) > 1e-6)
      fail(name + ": G[" + std::to_string(i) + "] = " + std::to_string(G[i]) + ", spec " + std::to_string(want[i]));
}

void check_set(const std::string& name, const std::vector<uint32_t>& got, const std::vector<uint32_t>& want) {
  if (got != want) fail(name + " = " + fmt_set(got) + ", spec " + fmt_set(want));
}

void worked_example() {
  const uint32_t n = 6, d = 3;
  const std::vector<float> K = {0.5f, -0.2f, 0.9f, -0.7f, 0.4f, 0.1f, 0.3f, 0.8f,  -0.6f,
                                0.9f, -0.5f, 0.2f, -0.1f, 0.6f, 0.7f, 0.2f, -0.9f, -0.3f};
  const std::vector<float> q = {1.0f, -0.5f, 0.8f};
  std::vector<float> sv(n * d);
  std::vector<uint32_t> sr(n * d);
  a3::sort_keys(K.data(), n, d, sv.data(), sr.data());
  const std::vector<uint32_t> rows_expected = {3, 0, 2, 5, 4, 1, 2, 4, 1, 0, 3, 5, 0, 4, 3, 1, 5, 2};
  if (sr != rows_expected) fail("worked example: sorted-key table rows");

  // R stays >= 0 in every iteration, so the skip changes nothing: the same G, C, SEL either way.
  for (bool skip : {true, false}) {
    const std::string name = std::string("worked example 1 (min_skip ") + (skip ? "on" : "off") + ")";
    const Run run = run_query(K, q, n, d, 4, std::exp(-0.5), skip);
    check_G(name, run.G, {1.22, -0.70, -0.88, 0.90, 0.26, 0.00});
    check_set(name + ": C", run.C, {0, 3, 4});
    check_set(name + ": SEL", run.SEL, {0, 3});
    if (std::fabs(run.r.s_max - 1.32) > 1e-6) fail(name + ": s_max = " + std::to_string(run.r.s_max));
  }
  std::vector<float> out(d);
  std::vector<uint32_t> cand(n), sel(n);
  a3::ApproxScratch scratch(n, d);
  const a3::KeyTable kv{K.data(), K.data(), n, d, sv.data(), sr.data()};
  const a3::QueryIO io{q.data(), out.data(), cand.data(), sel.data()};
  a3::approx_query(kv, a3::ApproxParams{4, std::exp(-0.5)}, io, scratch);
  const double e = std::exp(1.31 - 1.32);  // V = K here: out = (K[0] + e K[3]) / (1 + e)
  for (uint32_t j = 0; j < d; ++j) {
    const double want = (K[j] + e * K[3 * d + j]) / (1.0 + e);
    if (std::fabs(out[j] - want) > 1e-5) fail("worked example: out[" + std::to_string(j) + "]");
  }
  // The same with T = 0 keeps all of C; M = 0 falls back to {argmax G} = {0}.
  const a3::QueryResult r0 = a3::approx_query(kv, a3::ApproxParams{4, 0.0}, io, scratch);
  if (r0.n_sel != 3) fail("worked example: T = 0 should keep all 3 candidates");
  const a3::QueryResult rm = a3::approx_query(kv, a3::ApproxParams{0, 0.0}, io, scratch);
  if (rm.n_cand != 1 || cand[0] != 0) fail("worked example: M = 0 should give C = {0}");
}

// Example 2, where the skip acts: R = -0.21 after iteration 1 blocks the min side in 2 and 3.
void worked_example_2() {
  const uint32_t n = 6, d = 3;
  const std::vector<float> K = {0.8f, -0.1f, 0.5f, 0.7f,  -0.9f, 0.7f,  0.5f, 0.4f, -0.9f,
                                0.9f, -0.8f, 0.4f, -0.6f, 0.1f,  -0.2f, 0.3f, 0.2f, -0.5f};
  const std::vector<float> q = {-0.7f, 0.3f, 0.2f};
  const Run on = run_query(K, q, n, d, 3, 0.05, true);
  check_G("worked example 2 (min_skip on)", on.G, {0.0, 0.14, 0.12, -0.63, 0.42, 0.0});
  check_set("worked example 2 (min_skip on): C", on.C, {1, 2, 4});
  check_set("worked example 2 (min_skip on), T = 0.05: SEL", on.SEL, {1, 2, 4});
  check_set("worked example 2 (min_skip on), T = 0.4: SEL", run_query(K, q, n, d, 3, 0.4, true).SEL, {2, 4});
  if (std::fabs(on.r.s_max - 0.41) > 1e-6) fail("worked example 2: s_max = " + std::to_string(on.r.s_max));
  // Without the skip the min side takes (0, 0, -0.56) and (0, 1, -0.49) in iterations 2 and 3.
  const Run off = run_query(K, q, n, d, 3, 0.05, false);
  check_G("worked example 2 (min_skip off)", off.G, {-0.56, 0.14 - 0.49, 0.12, -0.63, 0.42, 0.0});
  check_set("worked example 2 (min_skip off): C", off.C, {2, 4});
}

// ---------------------------------------------------------------------------
// Random cases.
// ---------------------------------------------------------------------------
void random_cases(int count) {
  std::mt19937_64 rng(20200222);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  auto uni = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  a3::ApproxScratch scratch;  // starts empty: approx_query must grow it, then reuse it
  scratch.reserve(4, 2);

  for (int t = 0; t < count; ++t) {
    Case c;
    // Mostly small; every 500th the design point n = 320, d = 64; every 40th a
    // d > 64 (the kernel's other selection tree) or exactly 64 / 33.
    const bool big = (t % 500 == 0), wide = (t % 40 == 7), edge = (t % 40 == 21);
    c.n = big ? 320 : uint32_t(uni(1, wide ? 12 : 40));
    c.d = big ? 64 : wide ? uint32_t(uni(65, 100)) : edge ? (t % 80 == 21 ? 64u : 33u) : uint32_t(uni(1, 20));
    const int kdist = int(uni(0, 4));
    c.K.resize(std::size_t(c.n) * c.d);
    const float constant = float(int(uni(0, 4)) - 2) * 0.5f;
    for (float& x : c.K) {
      switch (kdist) {
        case 0: x = gauss(rng); break;
        case 1: x = float(int(uni(0, 4)) - 2) * 0.5f; break;                   // many ties, zeros
        case 2: x = constant; break;                                           // constant K
        case 3: x = std::round(gauss(rng) * 4.0f) / 4.0f; break;               // some ties
        default: x = (uni(0, 9) == 0) ? -0.0f : float(int(uni(0, 2))); break;  // 0, -0, 1, 2
      }
    }
    c.V.resize(c.K.size());
    for (float& x : c.V) x = gauss(rng);
    c.q.resize(c.d);
    const int qdist = int(uni(0, 5));
    for (float& x : c.q) {
      if (qdist == 0)
        x = 0.0f;  // all-zero query
      else if (uni(0, 4) == 0)
        x = (uni(0, 1) ? 0.0f : -0.0f);  // zero components
      else if (qdist == 1)
        x = float(int(uni(0, 4)) - 2) * 0.5f;  // ties in products
      else
        x = gauss(rng);
    }
    const uint64_t nd = uint64_t(c.n) * c.d;
    switch (uni(0, 6)) {
      case 0: c.M = 0; break;
      case 1: c.M = 1; break;
      case 2: c.M = nd; break;
      case 3: c.M = 2 * nd + 5; break;
      case 4: c.M = std::numeric_limits<uint64_t>::max(); break;
      default: c.M = uni(0, 2 * nd); break;
    }
    switch (uni(0, 3)) {
      case 0: c.T = 0.0; break;
      case 1: c.T = 1.0; break;
      default: c.T = std::exp(-double(uni(0, 3000)) / 1000.0); break;
    }
    c.post_only = uni(0, 6) == 0;
    c.null_outputs = uni(0, 9) == 0;
    c.min_skip = uni(0, 1) == 0;
    check_case(c, scratch,
               "random case " + std::to_string(t) + " (n=" + std::to_string(c.n) + " d=" + std::to_string(c.d) +
                   " M=" + std::to_string(c.M) + " min_skip=" + std::to_string(c.min_skip) + ")");
  }
}

}  // namespace

int main() {
  worked_example();
  worked_example_2();
  random_cases(4000);
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("test_approx_kernel: all checks passed\n");
  return 0;
}
