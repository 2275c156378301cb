// bench_kernels.cpp - per-component costs of the functional kernels (host time, one thread), the
// figures docs/performance.md quotes. Built by CMake (target bench_kernels); `make bench` runs it.
//   bench_kernels [M]      M: candidate-selection iterations of the approx rows (default 160 = n/2)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "a3/a3_protocol.h"
#include "kernels/approx_kernel.h"
#include "kernels/blas.h"
#include "kernels/exact_kernel.h"
#include "kernels/worker_pool.h"

namespace {
template <class F>
double per_call_us(F f, int reps) {
  f();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
}
}  // namespace

// sc_main, not main: libsystemc (linked through a3core) provides main and calls sc_main.
extern "C" int sc_main(int argc, char** argv) {
  a3::blas::set_threads(1);
  std::printf("BLAS: %s; kernel %s\n", a3::blas::config().c_str(), a3::blas::corename().c_str());
  const uint32_t n = 320, d = 64, m = 256;  // the paper's design point; one job of q_rows queries
  const uint64_t M = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 160;  // the paper's conservative M = n/2
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> K(n * d), V(n * d), Q(m * d), O(m * d), sv(n * d), out(d);
  std::vector<uint32_t> sr(n * d);
  for (auto& x : K) x = nd(rng);
  for (auto& x : V) x = nd(rng);
  // Peaked queries: a scaled key plus noise (planted keys).
  for (uint32_t i = 0; i < m; ++i)
    for (uint32_t j = 0; j < d; ++j) Q[i * d + j] = (K[(i % n) * d + j] + 0.3f * nd(rng)) * 0.125f;

  std::printf("functional kernels, n=%u d=%u, one job of m=%u queries, 1 thread\n", n, d, m);
  std::printf("%-66s %8s\n", "step", "us");
  // ---- exact ----
  std::vector<double> Qd(m * d), Kd(n * d), S(size_t(m) * n);
  std::vector<float> P(size_t(m) * n);
  for (size_t i = 0; i < Qd.size(); ++i) Qd[i] = Q[i];
  for (size_t i = 0; i < Kd.size(); ++i) Kd[i] = K[i];
  auto row = [](const char* name, double us) { std::printf("%-66s %8.1f\n", name, us); };
  row("exact: scores, dgemm (m x n x d, double)", per_call_us(
                                                      [&] {
                                                        a3::blas::dgemm(CblasNoTrans, CblasTrans, m, n, d, 1.0,
                                                                        Qd.data(), d, Kd.data(), d, 0.0, S.data(), n);
                                                      },
                                                      50));
  row("exact: exp (exp_shifted_sum), m x n values", per_call_us(
                                                        [&] {
                                                          for (uint32_t i = 0; i < m; ++i)
                                                            a3::exp_shifted_sum(&S[size_t(i) * n], &P[size_t(i) * n], n,
                                                                                40.0);
                                                        },
                                                        50));
  row("exact: P V, sgemm (m x n x d, float)", per_call_us(
                                                  [&] {
                                                    a3::blas::sgemm(CblasNoTrans, CblasNoTrans, m, d, n, 1.0f, P.data(),
                                                                    n, V.data(), d, 0.0f, O.data(), d);
                                                  },
                                                  50));
  std::vector<a3::RowStats> st(m);
  a3::ExactScratch ex;
  row("exact: scores, sgemm (m x n x d, float)", per_call_us(
                                                     [&] {
                                                       a3::blas::sgemm(CblasNoTrans, CblasTrans, m, n, d, 1.0f,
                                                                       Q.data(), d, K.data(), d, 0.0f, P.data(), n);
                                                     },
                                                     50));
  row("exact: whole job, float64 scores (exact_attention, F64)",
      per_call_us(
          [&] {
            a3::exact_attention(Q.data(), m, K.data(), V.data(), n, d, O.data(), st.data(), ex,
                                a3::ExactPrecision::F64);
          },
          50));
  row("exact: whole job, float32 scores (exact_attention, F32)",
      per_call_us(
          [&] {
            a3::exact_attention(Q.data(), m, K.data(), V.data(), n, d, O.data(), st.data(), ex,
                                a3::ExactPrecision::F32);
          },
          50));
  // What the compute core runs: blocks of kExactBlock = 64 rows through a WorkerPool.
  a3::WorkerPool one(1), two(2, false);
  row("exact: whole job, F32, blocks of 64 rows, pool of 1 thread",
      per_call_us([&] { a3::exact_attention(Q.data(), m, K.data(), V.data(), n, d, O.data(), st.data(), ex, one); },
                  50));
  row("exact: whole job, F32, blocks of 64 rows, pool of 2 threads",
      per_call_us([&] { a3::exact_attention(Q.data(), m, K.data(), V.data(), n, d, O.data(), st.data(), ex, two); },
                  50));
  // Block size of the exact kernel: 1024 queries cut into blocks of B rows, one thread.
  {
    const uint32_t mq = 1024;
    std::vector<float> Qm(size_t(mq) * d), Om(size_t(mq) * d);
    std::vector<a3::RowStats> sm(mq);
    for (size_t i = 0; i < Qm.size(); ++i) Qm[i] = Q[i % Q.size()];
    for (uint32_t bs : {32u, 64u, 128u, 256u}) {
      char name[96];
      std::snprintf(name, sizeof name, "exact: 1024 queries in blocks of %u rows (per 1024 queries)", bs);
      row(name, per_call_us(
                    [&] {
                      for (uint32_t b = 0; b < mq; b += bs)
                        a3::exact_attention(Qm.data() + size_t(b) * d, bs, K.data(), V.data(), n, d,
                                            Om.data() + size_t(b) * d, sm.data() + b, ex);
                    },
                    20));
    }
  }
  // ---- approx ----
  a3::sort_keys(K.data(), n, d, sv.data(), sr.data());
  std::vector<double> KT(size_t(a3::padded_rows(n)) * d), SA(size_t(m) * n);
  a3::transpose_keys(K.data(), n, d, KT.data());
  a3::ApproxScratch sa(n, d), sb(n, d);
  std::printf("approx rows: M=%llu, T=0.05, per query\n", static_cast<unsigned long long>(M));
  row("approx: scores of all rows (all_scores)",
      per_call_us([&] { a3::all_scores(Q.data(), m, KT.data(), n, d, SA.data()); }, 20) / m);
  // The pool's chunks: 16 queries (before issue 10's second pass) against 24 = 2 register blocks.
  for (uint32_t c : {16u, 24u}) {
    char name[96];
    std::snprintf(name, sizeof name, "approx: all_scores in chunks of %u queries", c);
    row(name, per_call_us(
                  [&] {
                    for (uint32_t i = 0; i < m; i += c)
                      a3::all_scores(Q.data() + size_t(i) * d, std::min(c, m - i), KT.data(), n, d,
                                     SA.data() + size_t(i) * n);
                  },
                  20) /
                  m);
  }
  const a3::KeyTable kv{K.data(), V.data(), n, d, sv.data(), sr.data()};
  const a3::ApproxParams ap{M, 0.05, false, true};
  row("approx: whole query, one at a time (approx_query, scores given)",
      per_call_us(
          [&] {
            for (uint32_t i = 0; i < m; ++i)
              a3::approx_query(kv, ap, a3::QueryIO{&Q[i * d], out.data(), nullptr, nullptr, &SA[size_t(i) * n]}, sa);
          },
          20) /
          m);
  row("approx: candidate selection, two queries interleaved", per_call_us(
                                                                  [&] {
                                                                    for (uint32_t i = 0; i + 1 < m; i += 2)
                                                                      a3::select_two(&Q[i * d], &Q[(i + 1) * d], kv, ap,
                                                                                     sa, sb);
                                                                  },
                                                                  20) /
                                                                  m);
  // The compute core's way: the sorted table laid out by pad_sorted_table() (once per job).
  std::vector<double> pv(a3::padded_table_entries(n, d));
  std::vector<uint32_t> pr(pv.size());
  row("approx: pad_sorted_table (per job)",
      per_call_us([&] { a3::pad_sorted_table(sv.data(), sr.data(), n, d, pv.data(), pr.data()); }, 50));
  a3::KeyTable kvp = kv;
  kvp.padded_value = pv.data();
  kvp.padded_row = pr.data();
  row("approx: candidate selection, two queries interleaved, padded table",
      per_call_us(
          [&] {
            for (uint32_t i = 0; i + 1 < m; i += 2) a3::select_two(&Q[i * d], &Q[(i + 1) * d], kvp, ap, sa, sb);
          },
          20) /
          m);
  const a3::ApproxParams plain{M, 0.05, false, false};
  row("approx: candidate selection, two queries interleaved, min_skip off",
      per_call_us(
          [&] {
            for (uint32_t i = 0; i + 1 < m; i += 2) a3::select_two(&Q[i * d], &Q[(i + 1) * d], kv, plain, sa, sb);
          },
          20) /
          m);
  row("approx: whole query, two at a time (select_two + approx_query)",
      per_call_us(
          [&] {
            for (uint32_t i = 0; i + 1 < m; i += 2) {
              a3::select_two(&Q[i * d], &Q[(i + 1) * d], kv, ap, sa, sb);
              a3::approx_query(kv, ap, a3::QueryIO{&Q[i * d], out.data(), nullptr, nullptr, &SA[size_t(i) * n], true},
                               sa);
              a3::approx_query(
                  kv, ap, a3::QueryIO{&Q[(i + 1) * d], out.data(), nullptr, nullptr, &SA[size_t(i + 1) * n], true}, sb);
            }
          },
          20) /
          m);
  return 0;
}
