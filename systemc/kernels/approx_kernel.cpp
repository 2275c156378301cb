// approx_kernel.cpp -- see approx_kernel.h for the API and the numeric contract.
#include "kernels/approx_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__)
#define A3_INLINE __attribute__((always_inline)) inline
#else
#define A3_INLINE inline
#endif

#if defined(__x86_64__) && defined(__GLIBC__)
// glibc's libmvec has SIMD variants of exp; declaring them lets simd loops call them.
extern "C" double exp(double) noexcept __attribute__((simd("notinbranch")));
#endif

namespace a3 {

namespace {

uint32_t leaves_for(uint32_t d) {
  uint32_t leaves = 1;
  while (leaves < d) leaves <<= 1;
  return leaves;
}

}  // namespace

// ---------------------------------------------------------------------------
// 3.1 Preprocessing
// ---------------------------------------------------------------------------

void sort_keys(const float* K, uint32_t n, uint32_t d, float* out_value, uint32_t* out_row) {
  std::vector<uint32_t> idx(n);
  for (uint32_t j = 0; j < d; ++j) {
    std::iota(idx.begin(), idx.end(), 0u);
    // Descending by value, lower row first on equal values: a strict total
    // order, so std::sort gives the one answer.
    std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
      const float va = K[std::size_t(a) * d + j], vb = K[std::size_t(b) * d + j];
      return va > vb || (va == vb && a < b);
    });
    for (uint32_t k = 0; k < n; ++k) {
      out_row[std::size_t(j) * n + k] = idx[k];
      out_value[std::size_t(j) * n + k] = K[std::size_t(idx[k]) * d + j];
    }
  }
}

void pad_sorted_table(const float* sorted_value, const uint32_t* sorted_row, uint32_t n, uint32_t d, double* value,
                      uint32_t* row) {
  const size_t stride = size_t(n) + kPadEntries;
  for (uint32_t j = 0; j < d; ++j) {
    double* v = value + j * stride;
    uint32_t* r = row + j * stride;
    v[0] = v[1] = v[n + 2] = v[n + 3] = 0.0;
    r[0] = r[1] = r[n + 2] = r[n + 3] = 0u;
    for (uint32_t k = 0; k < n; ++k) {
      v[k + 2] = double(sorted_value[size_t(j) * n + k]);
      r[k + 2] = sorted_row[size_t(j) * n + k];
    }
  }
}

void ApproxScratch::reserve(uint32_t n_max, uint32_t d_max) {
  n_max_ = std::max(n_max_, n_max);
  d_max_ = std::max(d_max_, d_max);
  g_.resize(n_max_);
  score_.resize(n_max_);
  cand_.resize(n_max_);
  acc_.resize(d_max_);
  qd_.resize(d_max_);
  qq_.resize(2 * std::size_t(d_max_));
  const std::size_t leaves = leaves_for(d_max_);
  slot_.resize(2 * leaves);
  key_.resize(4 * leaves);
  win_.resize(4 * leaves);
}

// ---------------------------------------------------------------------------
// 3.2 Candidate selection, one side at a time.
//
// The min side is run as the max side of -q: its keys are -product and its
// additions are G -= key. Only positive keys can add to G, and the bit pattern
// of a positive double, read as an unsigned integer, orders like the double; so
// a key is stored as those bits, and every key <= 0 (and a dead pointer) as 0.
// A winner tree over the column pointers ("slots") gives the largest key,
// lowest column on ties. Keys along a column's pointer path never increase, so
// once the root key is 0 the side can add nothing more: the loop stops there,
// which gives the same G as running all M iterations.
//
// Two trees, same results:
// - PackedSide (d <= 64): a product of two float32 values has at most 48
//   significant bits, so the low 5 bits of its double are 0; with the sign bit
//   (0 for a positive key) that leaves 6 bits below the value for the slot
//   number. Column j sits in slot 63 - j (of a 64-leaf tree; fewer leaves for
//   smaller d), so packed keys are unique, a plain integer max orders them by
//   (product desc, column asc), and the root names its own slot.
// - ColumnSide (any d): key and column kept apart; leaves in column order, a
//   left subtree wins ties.
// The pick order, and so the order of additions into G, is the spec's.
// ---------------------------------------------------------------------------

namespace {

inline uint64_t positive_bits(double p) {
  uint64_t b;
  std::memcpy(&b, &p, sizeof b);
  // p > 0 keeps its bits; +0.0 is already 0; negatives and -0.0 have the sign bit.
  return (b >> 63) ? 0u : b;
}

inline double bits_to_double(uint64_t b) {
  double p;
  std::memcpy(&p, &b, sizeof p);
  return p;
}

using detail::Slot;

// The selection buffers of a scratch and the sorted-key table.
struct SelectionBuffers {
  Slot* slot;
  uint64_t* key;
  uint32_t* win;
  const float* value;
  const uint32_t* row;
  const double* padded_value;  // pad_sorted_table(), or null
  const uint32_t* padded_row;
};

// Slot u of one side takes column j, whose query component (negated on the
// min side) is qs. The pointer starts where the keys are largest: the top of
// the sorted list when qs > 0, the bottom when qs < 0. A column with q[j] == 0
// takes no part, like the padding slots (dead from the start).
inline void init_slot(Slot& s, uint32_t j, double qs, uint32_t n) {
  s.at = j * n + ((qs > 0.0) ? 0u : n - 1u);
  s.step = (qs > 0.0) ? 1 : -1;
  s.left = (qs != 0.0) ? n : 0u;
  s.qs = qs;
}
inline void init_dead(Slot& s) { s = Slot{0u, 1, 0u, 0u, 0.0, 0u}; }

// The path of leaf x up to the root, whose new key is k: each node becomes
// the max of its children. Unrolled at compile time.
template <unsigned Levels>
inline uint64_t replay(uint64_t* node, uint32_t x, uint64_t k) {
  if constexpr (Levels == 0) {
    (void)node;
    (void)x;
    return k;
  } else {
    const uint64_t sibling = node[x ^ 1u];
    k = sibling > k ? sibling : k;
    node[x >> 1] = k;
    return replay<Levels - 1>(node, x >> 1, k);
  }
}

// One side over packed keys (d <= 64), Levels = log2(leaves). Padded: the pointers walk the
// table of pad_sorted_table() (doubles, zero entries around each column, so that no count of the
// entries left is kept: a pointer on a zero entry has key 0 and is never taken again); otherwise
// the sorted-key table itself. Same keys, same picks.
template <unsigned Levels, bool Padded>
struct PackedSide {
  static constexpr uint32_t kLeaves = 1u << Levels;
  Slot* slot;      // kLeaves
  uint64_t* node;  // 2 * kLeaves; leaves at [kLeaves, 2 * kLeaves)
  const float* value;
  const uint32_t* row;   // the padded rows when Padded
  const double* pvalue;  // the padded values when Padded
  uint64_t root;

  // Column j sits in slot u = kLeaves - 1 - j: a larger u (the low bits of
  // the key) is a lower column and wins ties in a plain max.
  static uint64_t key(double product, uint32_t u) {
    const uint64_t b = positive_bits(product);
    return b ? (b << 1) | u : 0u;
  }
  static double product_of(uint64_t k) { return bits_to_double((k >> 1) & ~uint64_t(31)); }

  void start(const double* qd, uint32_t d, uint32_t n, double sign) {
    for (uint32_t u = 0; u < kLeaves; ++u) {
      Slot& s = slot[u];
      if (u + d < kLeaves) {
        init_dead(s);
      } else {
        const uint32_t j = kLeaves - 1 - u;
        init_slot(s, j, sign * qd[j], n);
        if constexpr (Padded) s.at = j * (n + kPadEntries) + 2u + ((s.qs > 0.0) ? 0u : n - 1u);
      }
      if constexpr (Padded) {  // a dead slot (q[j] == 0 or padding) reads zero entries: key 0
        node[kLeaves + u] = key(s.qs * pvalue[s.at], u);
        s.next = key(s.qs * pvalue[s.at + s.step], u);
      } else {
        node[kLeaves + u] = s.left ? key(s.qs * double(value[s.at]), u) : 0u;
        s.next = s.left > 1 ? key(s.qs * double(value[s.at + s.step]), u) : 0u;
      }
    }
    for (uint32_t i = kLeaves - 1; i >= 1; --i) node[i] = std::max(node[2 * i], node[2 * i + 1]);
    root = node[1];
  }

  bool active() const { return root != 0u; }

  // Takes the root's entry: returns its row and its product as a double;
  // moves that pointer inward and replays its tree path. The root stays in a
  // register: the next pop depends on this one through it alone.
  A3_INLINE uint32_t pop(double& added) {
    const uint32_t u = uint32_t(root & 63u);
    added = product_of(root);
    Slot& s = slot[u];
    const int32_t st = s.step;
    const uint32_t i = s.at;
    uint64_t k = s.next;
    s.at = i + st;
    if constexpr (Padded)  // i + 2 st stays inside the column's two zero entries
      s.next = key(s.qs * pvalue[i + 2 * st], u);
    else
      s.next = --s.left > 1 ? key(s.qs * double(value[i + 2 * st]), u) : 0u;
    node[kLeaves + u] = k;
    root = replay<Levels>(node, kLeaves + u, k);
    return row[i];
  }
};

// One side over (key, column) pairs, any d: leaves in column order, a left
// subtree wins ties.
struct ColumnSide {
  Slot* slot;      // leaves
  uint64_t* node;  // 2 * leaves: winner key of each node
  uint32_t* win;   // 2 * leaves: winner column of each node
  uint32_t leaves;
  const float* value;
  const uint32_t* row;

  void start(const double* qd, uint32_t d, uint32_t n, double sign) {
    for (uint32_t j = 0; j < leaves; ++j) {
      Slot& s = slot[j];
      if (j < d)
        init_slot(s, j, sign * qd[j], n);
      else
        init_dead(s);
      node[leaves + j] = s.left ? positive_bits(s.qs * double(value[s.at])) : 0u;
      s.next = s.left > 1 ? positive_bits(s.qs * double(value[s.at + s.step])) : 0u;
      win[leaves + j] = j;
    }
    for (uint32_t i = leaves - 1; i >= 1; --i) {
      const bool right = node[2 * i + 1] > node[2 * i];
      node[i] = right ? node[2 * i + 1] : node[2 * i];
      win[i] = right ? win[2 * i + 1] : win[2 * i];
    }
  }

  bool active() const { return node[1] != 0u; }

  A3_INLINE uint32_t pop(double& added) {
    const uint32_t c = win[1];
    added = bits_to_double(node[1]);
    Slot& s = slot[c];
    const int32_t st = s.step;
    const uint32_t i = s.at;
    uint64_t k = s.next;
    s.at = i + st;
    s.next = --s.left > 1 ? positive_bits(s.qs * double(value[i + 2 * st])) : 0u;
    uint32_t x = leaves + c, w = c;
    node[x] = k;
    while (x > 1) {
      const uint64_t sk = node[x ^ 1u];
      const uint32_t sw = win[x ^ 1u];
      // The sibling is the left (lower-column) subtree when x is odd: it
      // wins ties. Keys are < 2^63, so the + 1 cannot overflow. Masks,
      // not a branch: a branch here is mispredicted half the time.
      const uint64_t m = uint64_t(0) - uint64_t(sk + (x & 1u) > k);
      k = (sk & m) | (k & ~m);
      w = (sw & uint32_t(m)) | (w & ~uint32_t(m));
      x >>= 1;
      node[x] = k;
      win[x] = w;
    }
    return row[i];
  }
};

// M iterations: max side then min side in each (contract rule 3). A side whose
// best key is 0 adds nothing in any later iteration, so it is skipped; the loop
// ends when both are, which also caps the work at n*d entries per side.
//
// The min-side skip (contract rule 3, docs/spec.md 3.2 rule 3): R sums every
// added product in the order G receives them; when min_skip is on and R < 0 at
// the start of an iteration, the min side does nothing. A blocked min side may
// be unblocked later by the max side; once the max side is spent, R no longer
// grows, so a blocked min side stays blocked and the loop ends.
//
// `skipped` receives the number of the M iterations whose min side the skip blocked (R < 0 at
// their start), also those after the loop ended early: R no longer changes then, so either all of
// them are blocked or none. The sorted-table reads follow from it (QueryResult::min_moves).
template <class Side>
void run_selection(Side max_side, Side min_side, const double* qd, uint32_t d, uint32_t n, uint64_t M, bool min_skip,
                   double* g, uint64_t& skipped) {
  max_side.start(qd, d, n, 1.0);
  min_side.start(qd, d, n, -1.0);
  bool max_on = max_side.active(), min_on = min_side.active();
  double R = 0.0;
  uint64_t t = 0, blocked_count = 0;
  for (; t < M; ++t) {
    const bool blocked = min_skip && R < 0.0;  // decided before this iteration's max side
    const bool min_go = min_on && !blocked;
    if (!max_on && !min_go) break;
    blocked_count += blocked ? 1u : 0u;
    double added;
    if (max_on) {
      const uint32_t r = max_side.pop(added);
      g[r] += added;
      R += added;
      max_on = max_side.active();
    }
    if (min_go) {
      const uint32_t r = min_side.pop(added);
      g[r] -= added;  // the min side's key is -product
      R -= added;
      min_on = min_side.active();
    }
  }
  if (t < M && min_skip && R < 0.0) blocked_count += M - t;
  skipped = blocked_count;
}

template <unsigned Levels>
void run_packed(SelectionBuffers v, const double* qd, uint32_t d, uint32_t n, uint64_t M, bool min_skip, double* g,
                uint64_t& skipped) {
  constexpr uint32_t L = 1u << Levels;
  if (v.padded_value != nullptr) {
    using Side = PackedSide<Levels, true>;
    run_selection(Side{v.slot, v.key, v.value, v.padded_row, v.padded_value, 0u},
                  Side{v.slot + L, v.key + 2 * L, v.value, v.padded_row, v.padded_value, 0u}, qd, d, n, M, min_skip, g,
                  skipped);
  } else {
    using Side = PackedSide<Levels, false>;
    run_selection(Side{v.slot, v.key, v.value, v.row, nullptr, 0u},
                  Side{v.slot + L, v.key + 2 * L, v.value, v.row, nullptr, 0u}, qd, d, n, M, min_skip, g, skipped);
  }
}

// Two queries at once: four independent dependency chains (each query's max and min side) in one
// loop, so the processor overlaps them. Each query's G and R still accumulate in its own iteration
// order (contract rule 3), so the result is bit for bit that of run_selection per query.
template <class Side>
void run_selection2(Side a_max, Side a_min, Side b_max, Side b_min, const double* qa, const double* qb, uint32_t d,
                    uint32_t n, uint64_t M, bool min_skip, double* ga, double* gb, uint64_t& skipped_a,
                    uint64_t& skipped_b) {
  a_max.start(qa, d, n, 1.0);
  a_min.start(qa, d, n, -1.0);
  b_max.start(qb, d, n, 1.0);
  b_min.start(qb, d, n, -1.0);
  bool a1 = a_max.active(), a2 = a_min.active(), b1 = b_max.active(), b2 = b_min.active();
  double ra = 0.0, rb = 0.0;
  uint64_t t = 0, ka = 0, kb = 0;  // iterations whose min side the skip blocked (see run_selection)
  for (; t < M; ++t) {
    const bool a_blocked = min_skip && ra < 0.0, b_blocked = min_skip && rb < 0.0;
    const bool a2go = a2 && !a_blocked, b2go = b2 && !b_blocked;
    if (!(a1 || a2go || b1 || b2go)) break;
    ka += a_blocked ? 1u : 0u;
    kb += b_blocked ? 1u : 0u;
    double x;
    if (a1) {
      const uint32_t r = a_max.pop(x);
      ga[r] += x;
      ra += x;
      a1 = a_max.active();
    }
    if (b1) {
      const uint32_t r = b_max.pop(x);
      gb[r] += x;
      rb += x;
      b1 = b_max.active();
    }
    if (a2go) {
      const uint32_t r = a_min.pop(x);
      ga[r] -= x;
      ra -= x;
      a2 = a_min.active();
    }
    if (b2go) {
      const uint32_t r = b_min.pop(x);
      gb[r] -= x;
      rb -= x;
      b2 = b_min.active();
    }
  }
  if (t < M && min_skip && ra < 0.0) ka += M - t;
  if (t < M && min_skip && rb < 0.0) kb += M - t;
  skipped_a = ka;
  skipped_b = kb;
}

template <unsigned Levels>
void run_packed2(SelectionBuffers va, SelectionBuffers vb, const double* qa, const double* qb, uint32_t d, uint32_t n,
                 uint64_t M, bool min_skip, double* ga, double* gb, uint64_t& skipped_a, uint64_t& skipped_b) {
  constexpr uint32_t L = 1u << Levels;
  if (va.padded_value != nullptr && vb.padded_value != nullptr) {
    using Side = PackedSide<Levels, true>;
    run_selection2(Side{va.slot, va.key, va.value, va.padded_row, va.padded_value, 0u},
                   Side{va.slot + L, va.key + 2 * L, va.value, va.padded_row, va.padded_value, 0u},
                   Side{vb.slot, vb.key, vb.value, vb.padded_row, vb.padded_value, 0u},
                   Side{vb.slot + L, vb.key + 2 * L, vb.value, vb.padded_row, vb.padded_value, 0u}, qa, qb, d, n, M,
                   min_skip, ga, gb, skipped_a, skipped_b);
  } else {
    using Side = PackedSide<Levels, false>;
    run_selection2(Side{va.slot, va.key, va.value, va.row, nullptr, 0u},
                   Side{va.slot + L, va.key + 2 * L, va.value, va.row, nullptr, 0u},
                   Side{vb.slot, vb.key, vb.value, vb.row, nullptr, 0u},
                   Side{vb.slot + L, vb.key + 2 * L, vb.value, vb.row, nullptr, 0u}, qa, qb, d, n, M, min_skip, ga, gb,
                   skipped_a, skipped_b);
  }
}

// Exact scores of the given rows (contract rule 4): for each row a double sum
// of the exact products, left to right over j. Eight rows at a time, as
// independent sums whose additions overlap in the pipeline; with SSE2, two rows
// share a vector (one per lane), which changes no bit of any sum. qq holds each
// q[j] twice, 16-byte aligned.
void exact_scores(const float* K, const double* qd, const double* qq, uint32_t d, const uint32_t* rows, uint32_t count,
                  double* score) {
  uint32_t c = 0;
  for (; c + 8 <= count; c += 8) {
    const float* r[8];
    for (int u = 0; u < 8; ++u) r[u] = K + std::size_t(rows[c + u]) * d;
    double a[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    uint32_t j = 0;
#if defined(__SSE2__)
    // Rows 2p and 2p+1 share acc_p; the four accumulators stay in registers.
    __m128d acc0 = _mm_setzero_pd(), acc1 = _mm_setzero_pd(), acc2 = _mm_setzero_pd(), acc3 = _mm_setzero_pd();
    for (; j + 4 <= d; j += 4) {
      const __m128d q0 = _mm_load_pd(qq + 2 * j), q1 = _mm_load_pd(qq + 2 * j + 2);
      const __m128d q2 = _mm_load_pd(qq + 2 * j + 4), q3 = _mm_load_pd(qq + 2 * j + 6);
      const auto step = [&](__m128d& acc, const float* x_row, const float* y_row) {
        const __m128 x = _mm_loadu_ps(x_row + j), y = _mm_loadu_ps(y_row + j);
        const __m128 lo = _mm_unpacklo_ps(x, y), hi = _mm_unpackhi_ps(x, y);  // x0 y0 x1 y1, x2 y2 x3 y3
        acc = _mm_add_pd(acc, _mm_mul_pd(_mm_cvtps_pd(lo), q0));
        acc = _mm_add_pd(acc, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(lo, lo)), q1));
        acc = _mm_add_pd(acc, _mm_mul_pd(_mm_cvtps_pd(hi), q2));
        acc = _mm_add_pd(acc, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(hi, hi)), q3));
      };
      step(acc0, r[0], r[1]);
      step(acc1, r[2], r[3]);
      step(acc2, r[4], r[5]);
      step(acc3, r[6], r[7]);
    }
    _mm_storeu_pd(a, acc0);
    _mm_storeu_pd(a + 2, acc1);
    _mm_storeu_pd(a + 4, acc2);
    _mm_storeu_pd(a + 6, acc3);
#else
    (void)qq;
#endif
    for (; j < d; ++j) {
      const double x = qd[j];
      for (int u = 0; u < 8; ++u) a[u] += double(r[u][j]) * x;
    }
    for (int u = 0; u < 8; ++u) score[c + u] = a[u];
  }
  for (; c < count; ++c) {
    const float* r = K + std::size_t(rows[c]) * d;
    double a = 0.0;
    for (uint32_t j = 0; j < d; ++j) a += double(r[j]) * qd[j];
    score[c] = a;
  }
}

// acc[j] = sum over k of w[k] * V[rows[k]][j], for j < d: eight columns at a
// time, the sums in registers, the rows in the given order.
void weighted_sum(const float* V, uint32_t d, const uint32_t* rows, const double* w, uint32_t count, double* acc) {
  uint32_t j0 = 0;
  for (; j0 + 8 <= d; j0 += 8) {
#if defined(__SSE2__)
    __m128d a0 = _mm_setzero_pd(), a1 = _mm_setzero_pd(), a2 = _mm_setzero_pd(), a3 = _mm_setzero_pd();
    for (uint32_t k = 0; k < count; ++k) {
      const float* v = V + std::size_t(rows[k]) * d + j0;
      const __m128d e = _mm_set1_pd(w[k]);
      const __m128 x = _mm_loadu_ps(v), y = _mm_loadu_ps(v + 4);
      a0 = _mm_add_pd(a0, _mm_mul_pd(_mm_cvtps_pd(x), e));
      a1 = _mm_add_pd(a1, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(x, x)), e));
      a2 = _mm_add_pd(a2, _mm_mul_pd(_mm_cvtps_pd(y), e));
      a3 = _mm_add_pd(a3, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(y, y)), e));
    }
    _mm_storeu_pd(acc + j0, a0);
    _mm_storeu_pd(acc + j0 + 2, a1);
    _mm_storeu_pd(acc + j0 + 4, a2);
    _mm_storeu_pd(acc + j0 + 6, a3);
#else
    double a[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (uint32_t k = 0; k < count; ++k) {
      const float* v = V + std::size_t(rows[k]) * d + j0;
      for (int u = 0; u < 8; ++u) a[u] += w[k] * double(v[u]);
    }
    for (int u = 0; u < 8; ++u) acc[j0 + u] = a[u];
#endif
  }
  for (; j0 < d; ++j0) {
    double a = 0.0;
    for (uint32_t k = 0; k < count; ++k) a += w[k] * double(V[std::size_t(rows[k]) * d + j0]);
    acc[j0] = a;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// One query
// ---------------------------------------------------------------------------

QueryResult approx_query(const KeyTable& kv, const ApproxParams& p, const QueryIO& io, ApproxScratch& s) {
  const uint32_t n = kv.n, d = kv.d;
  const float *q = io.q, *K = kv.K, *V = kv.V;
  const double T = p.T;
  const bool post_only = p.post_only;
  if (n == 0 || d == 0) throw std::invalid_argument("a3::approx_query: n and d must be >= 1");
  if (!(T >= 0.0 && T <= 1.0)) throw std::invalid_argument("a3::approx_query: T must be in [0, 1]");
  if (uint64_t(n) * d > 0xFFFFFFFFu) throw std::invalid_argument("a3::approx_query: n * d must be < 2^32");
  if (!post_only && (kv.sorted_value == nullptr || kv.sorted_row == nullptr))
    throw std::invalid_argument("a3::approx_query: approx mode needs the sorted-key table");
  if (n > s.n_max_ || d > s.d_max_) s.reserve(n, d);

  double* qd = s.qd_.data();
  double* qq = s.qq_.data();
  for (uint32_t j = 0; j < d; ++j) qd[j] = qq[2 * j] = qq[2 * j + 1] = double(q[j]);

  uint32_t* cand = s.cand_.data();
  uint32_t n_cand = 0;
  uint64_t max_moves = 0, min_moves = 0;

  if (post_only) {
    for (uint32_t i = 0; i < n; ++i) cand[i] = i;
    n_cand = n;
  } else {
    // ---- 3.2 candidate selection ----
    double* g = s.g_.data();
    const SelectionBuffers v{s.slot_.data(), s.key_.data(),   s.win_.data(), kv.sorted_value,
                             kv.sorted_row,  kv.padded_value, kv.padded_row};
    const uint64_t M = p.M;
    const bool skip = p.min_skip;
    if (!io.pre_selected) std::fill(g, g + n, 0.0);
    switch (io.pre_selected ? ~0u : d <= 64 ? leaves_for(d) : 0u) {
      case ~0u: break;  // select_two() left G in the scratch
      case 1: run_packed<0>(v, qd, d, n, M, skip, g, s.skipped_); break;
      case 2: run_packed<1>(v, qd, d, n, M, skip, g, s.skipped_); break;
      case 4: run_packed<2>(v, qd, d, n, M, skip, g, s.skipped_); break;
      case 8: run_packed<3>(v, qd, d, n, M, skip, g, s.skipped_); break;
      case 16: run_packed<4>(v, qd, d, n, M, skip, g, s.skipped_); break;
      case 32: run_packed<5>(v, qd, d, n, M, skip, g, s.skipped_); break;
      case 64: run_packed<6>(v, qd, d, n, M, skip, g, s.skipped_); break;
      default: {
        const uint32_t L = leaves_for(d);
        run_selection(ColumnSide{v.slot, v.key, v.win, L, v.value, v.row},
                      ColumnSide{v.slot + L, v.key + 2 * L, v.win + 2 * L, L, v.value, v.row}, qd, d, n, M, skip, g,
                      s.skipped_);
      }
    }
    // Pointer moves (docs/energy-model.md, sorted-key reads): each side moves one pointer per
    // iteration while entries under its live pointers remain (d' columns with q[j] != 0, n entries
    // each); the min side not in the iterations the skip blocked.
    uint64_t live = 0;
    for (uint32_t j = 0; j < d; ++j) live += (qd[j] != 0.0) ? 1u : 0u;
    live *= n;
    max_moves = std::min<uint64_t>(M, live);
    min_moves = std::min<uint64_t>(skip ? M - s.skipped_ : M, live);

    for (uint32_t i = 0; i < n; ++i) {
      cand[n_cand] = i;
      n_cand += (g[i] > 0.0) ? 1u : 0u;
    }
    if (n_cand == 0) {  // [project rule] C = {argmax G}, lowest index on ties
      uint32_t best = 0;
      double best_g = g[0];
      for (uint32_t i = 1; i < n; ++i) {
        if (g[i] > best_g) {
          best_g = g[i];
          best = i;
        }
      }
      cand[0] = best;
      n_cand = 1;
    }
  }

  // ---- 3.3 exact scores over C, post-scoring, softmax and weighted sum over SEL ----
  double* score = s.score_.data();
  if (io.scores != nullptr) {
    for (uint32_t c = 0; c < n_cand; ++c) score[c] = io.scores[cand[c]];
  } else {
    exact_scores(K, qd, qq, d, cand, n_cand, score);
  }
  double s_max = score[0];
  for (uint32_t c = 1; c < n_cand; ++c) s_max = std::max(s_max, score[c]);

  if (io.cand_out) std::copy(cand, cand + n_cand, io.cand_out);
  if (p.fixed != nullptr) {  // docs/spec.md 2.1: the fixed-point exponent, weights and outputs
    const FixedResult f = p.fixed->softmax_output(score, cand, n_cand, V, d, T, io.sel_out, io.out);
    return QueryResult{n_cand, f.n_sel, f.s_max, f.sum_exp, max_moves, min_moves};
  }

  // Post-scoring (contract rule 5), compacting SEL rows and their weights
  // exp(s_i - s_max) into the front of cand / score.
  const double log_T = (T == 0.0) ? -std::numeric_limits<double>::infinity() : std::log(T);
  uint32_t n_sel = 0;
  for (uint32_t c = 0; c < n_cand; ++c) {
    const double x = score[c] - s_max;
    if (!(x >= log_T)) continue;
    cand[n_sel] = cand[c];
    score[n_sel] = x;
    ++n_sel;
  }
  double sum_exp = 0.0;
#pragma omp simd reduction(+ : sum_exp)
  for (uint32_t c = 0; c < n_sel; ++c) {
    const double e = exp(score[c]);  // vectorised through libmvec where available
    score[c] = e;
    sum_exp += e;
  }
  if (io.sel_out) std::copy(cand, cand + n_sel, io.sel_out);

  double* acc = s.acc_.data();
  weighted_sum(V, d, cand, score, n_sel, acc);
  const double inv = 1.0 / sum_exp;  // sum_exp >= 1: the s_max row is always kept
  for (uint32_t j = 0; j < d; ++j) io.out[j] = float(acc[j] * inv);
  return QueryResult{n_cand, n_sel, s_max, sum_exp, max_moves, min_moves};
}

// ---------------------------------------------------------------------------
// Scores of every row for a batch of queries (contract rule 4)
// ---------------------------------------------------------------------------

void transpose_keys(const float* K, uint32_t n, uint32_t d, double* KT) {
  const uint32_t np = padded_rows(n);
  for (uint32_t j = 0; j < d; ++j) {
    double* kt = KT + size_t(j) * np;
    for (uint32_t i = 0; i < n; ++i) kt[i] = double(K[size_t(i) * d + j]);
    for (uint32_t i = n; i < np; ++i) kt[i] = 0.0;
  }
}

namespace {
// Queries [q0, q0 + qb) of all_scores, qb <= QB, in register blocks of QB queries x RB rows; qd0
// holds QB rows of d doubles (rows qb.. zero).
template <uint32_t QB>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((target("prefer-vector-width=512")))  // wider vectors pay off in this FMA loop
#endif
void score_block(const float* Q, uint32_t q0, uint32_t qb, const double* KT, uint32_t n, uint32_t d, double* qd0,
                 double* S) {
  constexpr uint32_t RB = 16;  // must divide padded_rows()
  const uint32_t np = padded_rows(n);
  for (uint32_t b = 0; b < QB; ++b)
    for (uint32_t j = 0; j < d; ++j) qd0[size_t(b) * d + j] = b < qb ? double(Q[size_t(q0 + b) * d + j]) : 0.0;
  for (uint32_t r0 = 0; r0 < np; r0 += RB) {
    double acc[QB][RB] = {};
    for (uint32_t j = 0; j < d; ++j) {
      const double* kt = KT + size_t(j) * np + r0;
      for (uint32_t b = 0; b < QB; ++b) {
        const double qv = qd0[size_t(b) * d + j];
#pragma omp simd
        for (uint32_t u = 0; u < RB; ++u) acc[b][u] += qv * kt[u];
      }
    }
    const uint32_t rn = std::min(RB, n - std::min(n, r0));
    for (uint32_t b = 0; b < qb; ++b)
      for (uint32_t u = 0; u < rn; ++u) S[size_t(q0 + b) * n + r0 + u] = acc[b][u];
  }
}
}  // namespace

void all_scores(const float* Q, uint32_t m, const double* KT, uint32_t n, uint32_t d, double* S) {
  // Each S[q][r] is 0.0 + p_0 + p_1 + ... + p_{d-1}, left to right, every p exact in double: the
  // same bits as exact_scores, whatever the blocking. Register blocks of kScoreQueries = 12
  // queries x 16 rows accumulate over all j; the last m % 12 queries go in blocks of 4 (a
  // zero-padded block of 12 for a tail of 4 cost as much as 12 queries: chunks of 16 queries
  // scored at 1.16 us per query against 0.80).
  // Queries as double, kept per thread (the caller may run on a small coroutine stack, so nothing
  // large lives on the stack).
  thread_local std::vector<double> qbuf;
  if (qbuf.size() < size_t(kScoreQueries) * d) qbuf.resize(size_t(kScoreQueries) * d);
  uint32_t q0 = 0;
  for (; q0 + kScoreQueries <= m; q0 += kScoreQueries)
    score_block<kScoreQueries>(Q, q0, kScoreQueries, KT, n, d, qbuf.data(), S);
  for (; q0 < m; q0 += 4) score_block<4>(Q, q0, std::min(4u, m - q0), KT, n, d, qbuf.data(), S);
}

void select_two(const float* qa, const float* qb, const KeyTable& kv, const ApproxParams& p, ApproxScratch& sa,
                ApproxScratch& sb) {
  const uint32_t n = kv.n, d = kv.d;
  const uint64_t M = p.M;
  const bool skip = p.min_skip;
  if (n == 0 || d == 0 || d > 64) throw std::invalid_argument("a3::select_two: needs 1 <= d <= 64, n >= 1");
  if (kv.sorted_value == nullptr || kv.sorted_row == nullptr)
    throw std::invalid_argument("a3::select_two: needs the sorted-key table");
  if (n > sa.n_max_ || d > sa.d_max_) sa.reserve(n, d);
  if (n > sb.n_max_ || d > sb.d_max_) sb.reserve(n, d);
  double* da = sa.qd_.data();
  double* db = sb.qd_.data();
  for (uint32_t j = 0; j < d; ++j) {
    da[j] = double(qa[j]);
    db[j] = double(qb[j]);
  }
  double* ga = sa.g_.data();
  double* gb = sb.g_.data();
  std::fill(ga, ga + n, 0.0);
  std::fill(gb, gb + n, 0.0);
  const SelectionBuffers va{sa.slot_.data(), sa.key_.data(),  sa.win_.data(), kv.sorted_value,
                            kv.sorted_row,   kv.padded_value, kv.padded_row};
  const SelectionBuffers vb{sb.slot_.data(), sb.key_.data(),  sb.win_.data(), kv.sorted_value,
                            kv.sorted_row,   kv.padded_value, kv.padded_row};
  switch (leaves_for(d)) {
    case 1: run_packed2<0>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
    case 2: run_packed2<1>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
    case 4: run_packed2<2>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
    case 8: run_packed2<3>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
    case 16: run_packed2<4>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
    case 32: run_packed2<5>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
    default: run_packed2<6>(va, vb, da, db, d, n, M, skip, ga, gb, sa.skipped_, sb.skipped_); break;
  }
}

}  // namespace a3
