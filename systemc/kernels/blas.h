// blas.h - the BLAS of the functional kernels: OpenBLAS from PyPI (scipy-openblas32), whose
// symbols carry the prefix scipy_ (so that it can live beside numpy's own OpenBLAS in one
// process). The model calls BLAS only through these names. Not a hardware box.
#pragma once

#include <cblas.h>

#include <string>

namespace a3::blas {

#ifdef A3SIM_SCIPY_OPENBLAS
#define A3_BLAS_NAME(name) scipy_##name
#else
#define A3_BLAS_NAME(name) name
#endif

inline void sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a, int lda,
                  const float* b, int ldb, float beta, float* c, int ldc) {
  A3_BLAS_NAME(cblas_sgemm)(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void dgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a, int lda,
                  const double* b, int ldb, double beta, double* c, int ldc) {
  A3_BLAS_NAME(cblas_dgemm)(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void set_threads(int threads) { A3_BLAS_NAME(openblas_set_num_threads)(threads); }
inline int threads() { return A3_BLAS_NAME(openblas_get_num_threads)(); }

// Build description, e.g. "OpenBLAS 0.3.31 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
// (the library's name and version come first).
inline std::string config() { return A3_BLAS_NAME(openblas_get_config)(); }
// The kernel (core) the library chose for this CPU at load time, e.g. "SkylakeX", "Zen", "Haswell";
// "Prescott" (or "generic") is the fallback for a CPU it does not know.
inline std::string corename() { return A3_BLAS_NAME(openblas_get_corename)(); }

#undef A3_BLAS_NAME

}  // namespace a3::blas
