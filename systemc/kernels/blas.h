// blas.h - the BLAS of the functional kernels. Not a hardware box.
// Linked: OpenBLAS from PyPI (scipy-openblas32), whose symbols carry the prefix scipy_ (so that it
// can live beside numpy's own OpenBLAS in one process). Shared (config host_blas = 1, bound by
// create()): the OpenBLAS numpy itself loaded into the process, found among the loaded objects and
// called through its own symbols. Then the model's GEMMs run on numpy's thread pool, the threads
// that numpy's calls leave spinning, instead of beside them: a process that alternates numpy work
// and simulated offloads keeps one pool of BLAS threads busy rather than two pools fighting for the
// cores (docs/performance.md section 5). The model calls BLAS only through these functions.
#pragma once

#include <cblas.h>

#include <cstdint>
#include <string>

#ifdef A3SIM_SCIPY_OPENBLAS
#define A3_BLAS_OWN(name) scipy_##name
#else
#define A3_BLAS_OWN(name) name
#endif

namespace a3::blas {

// A BLAS bound at run time (its CBLAS entry points and introspection).
struct Shared {
  std::string library;  // the loaded object's path
  bool ilp64 = false;   // 64-bit integer arguments (the build says USE64BITINT)
  void* sgemm = nullptr;
  void* dgemm = nullptr;
  int (*get_threads)() = nullptr;
  char* (*corename)() = nullptr;
  char* (*config)() = nullptr;
};
extern const Shared* g_shared;  // null: the linked BLAS
// Set on a thread by LinkedScope: its calls go to the linked BLAS even when one is shared.
extern thread_local bool t_linked;
inline const Shared* active() { return t_linked ? nullptr : g_shared; }

// Within its scope the calling thread's GEMMs run on the linked BLAS (one thread per call, as
// set by blas_threads): for GEMMs too small to be worth waking a shared pool.
class LinkedScope {
 public:
  LinkedScope() : before_(t_linked) { t_linked = true; }
  ~LinkedScope() { t_linked = before_; }
  LinkedScope(const LinkedScope&) = delete;
  LinkedScope& operator=(const LinkedScope&) = delete;

 private:
  bool before_;
};

// Binds the first OpenBLAS loaded in this process other than the model's own; "" on success, else
// why not (the linked BLAS stays in use). Unbinding goes back to the linked BLAS.
std::string bind_shared();
void unbind_shared();
inline bool shared() { return g_shared != nullptr; }

// A row-major GEMM through a bound CBLAS entry point of element type T and integer type I.
template <class T, class I>
void shared_gemm(void* fn, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, T alpha, const T* a, int lda,
                 const T* b, int ldb, T beta, T* c, int ldc) {
  using F = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, I, I, I, T, const T*, I, const T*, I, T, T*, I);
  reinterpret_cast<F>(fn)(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a, int lda,
                  const float* b, int ldb, float beta, float* c, int ldc) {
  if (const Shared* sh = active()) {
    (sh->ilp64 ? shared_gemm<float, int64_t> : shared_gemm<float, int>)(sh->sgemm, ta, tb, m, n, k, alpha, a, lda, b,
                                                                        ldb, beta, c, ldc);
    return;
  }
  A3_BLAS_OWN(cblas_sgemm)(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void dgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a, int lda,
                  const double* b, int ldb, double beta, double* c, int ldc) {
  if (const Shared* sh = active()) {
    (sh->ilp64 ? shared_gemm<double, int64_t> : shared_gemm<double, int>)(sh->dgemm, ta, tb, m, n, k, alpha, a, lda, b,
                                                                          ldb, beta, c, ldc);
    return;
  }
  A3_BLAS_OWN(cblas_dgemm)(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Threads of the linked BLAS (the shared one's belong to its owner, numpy: never changed here).
inline void set_threads(int threads) { A3_BLAS_OWN(openblas_set_num_threads)(threads); }
inline int threads() { return g_shared ? g_shared->get_threads() : A3_BLAS_OWN(openblas_get_num_threads)(); }

// Build description of the BLAS in use, e.g. "OpenBLAS 0.3.31 DYNAMIC_ARCH NO_AFFINITY Haswell
// MAX_THREADS=64" (the library's name and version come first).
inline std::string config() { return g_shared ? g_shared->config() : A3_BLAS_OWN(openblas_get_config)(); }
// The kernel (core) the library chose for this CPU at load time, e.g. "SkylakeX", "Zen", "Haswell";
// "Prescott" (or "generic") is the fallback for a CPU it does not know.
inline std::string corename() { return g_shared ? g_shared->corename() : A3_BLAS_OWN(openblas_get_corename)(); }
// The linked BLAS, whatever is in use.
inline std::string linked_config() { return A3_BLAS_OWN(openblas_get_config)(); }
inline std::string linked_corename() { return A3_BLAS_OWN(openblas_get_corename)(); }
inline int linked_threads() { return A3_BLAS_OWN(openblas_get_num_threads)(); }
// Where the BLAS in use comes from: "shared <path>" or "linked".
inline std::string origin() { return g_shared ? "shared " + g_shared->library : "linked"; }

}  // namespace a3::blas
