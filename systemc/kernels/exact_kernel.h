// exact_kernel.h - the function of the base A3 pipeline (docs/spec.md section 2) for a whole job at
// once: scores with a BLAS GEMM, max-subtracted softmax, weighted sum with a second GEMM.
// Plain C++ (no SystemC), unit-testable alone. Timing lives in timing_model.h.
#pragma once

#include <cstdint>
#include <vector>

#include "a3/a3_protocol.h"
#include "kernels/worker_pool.h"

namespace a3 {

// Buffers reused across jobs (they grow to the largest job once): K in double, shared by the
// workers of a job, and one set of row buffers per worker.
struct ExactScratch {
  struct Rows {
    std::vector<double> qd, s;
    std::vector<float> p;
  };
  std::vector<double> kd;
  std::vector<Rows> rows;
};

// Precision of the scores S = Q K^T. F64: double from the float32 operands (dgemm). F32: float32
// (sgemm), as numpy does it; docs/numerics.md gives the error bound of each and the tests' tolerance.
enum class ExactPrecision { F64, F32 };
inline constexpr ExactPrecision kExactPrecision = ExactPrecision::F32;

// out[i] = sum_r softmax(Q[i] . K[r]) V[r] for i < m; row-major float32, K and V n x d.
// Scores in the given precision (F32 by default; F64: double from the float32 operands). Either way
// the summation order is BLAS's, not the left-to-right order of approx_kernel.h's contract, so
// exact and post_only with T = 0 differ in the last bits. The weights and the weighted sum are
// float32. stats[i] = {s_max, sum of exp(s - s_max), n, n} (float32 values held in double).
// The queries are split into blocks of kExactBlock rows that the pool's workers take in turn (each
// block its own two GEMMs on the worker's thread). The blocks are fixed by m alone, so results do
// not depend on the number of workers nor on which worker took a block.
void exact_attention(const float* Q, uint32_t m, const float* K, const float* V, uint32_t n, uint32_t d, float* out,
                     RowStats* stats, ExactScratch& scratch, WorkerPool& pool,
                     ExactPrecision precision = kExactPrecision);
inline constexpr uint32_t kExactBlock = 64;
// Jobs with m * n * d below this run their blocks on the calling thread alone: waking a worker
// (tens of us on a VM) costs more than it saves on ~100 us of GEMMs (a MiniLM head, 128 x 128 x 32,
// is 0.5 M; the benchmark's job, 256 x 320 x 64, 5.2 M). The blocks, and so the bits, are the same.
inline constexpr uint64_t kExactParallelMin = uint64_t(1) << 21;
// The same on the calling thread alone, as one block.
void exact_attention(const float* Q, uint32_t m, const float* K, const float* V, uint32_t n, uint32_t d, float* out,
                     RowStats* stats, ExactScratch& scratch, ExactPrecision precision = kExactPrecision);

// p[i] = exp(float(s[i] - shift)) for s[i] <= shift; returns the sum (float32).
float exp_shifted_sum(const double* s, float* p, uint32_t count, double shift);
float exp_shifted_sum(const float* s, float* p, uint32_t count, float shift);  // p may be s
// Largest of count >= 1 values.
double max_of(const double* s, uint32_t count);
float max_of(const float* s, uint32_t count);

// True when every value is finite.
bool all_finite(const float* x, uint64_t count);

}  // namespace a3
