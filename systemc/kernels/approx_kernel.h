// approx_kernel.h -- the untimed A3 approximation (docs/spec.md 3.1-3.3), plain C++17.
//
// No SystemC here: the device's compute core calls these functions for the values
// and a separate timing model turns the counts (n, M, |C|, |SEL|) into cycles.
// The Python reference a3sim.reference is the executable statement of the same
// spec; both follow this numeric contract, so C and SEL agree bit for bit:
//
//   1. q, K, V are float32.
//   2. A product p = q[j] * value is formed in double from the float32 operands.
//      It is exact (24x24-bit significands fit in 53 bits), so FMA contraction
//      by the compiler cannot change it nor any sum it feeds.
//   3. The greedy score G[i] (double, starting at +0.0) accumulates the added
//      products in iteration order: iteration 1 max side, iteration 1 min side,
//      iteration 2 max side, ... The running sum R (double, starting at +0.0)
//      accumulates the same added products in the same order. With min_skip
//      (docs/spec.md 3.2 rule 3, on by default), an iteration that starts with
//      R < 0 runs its max side only: the min side adds nothing and its pointer
//      stays.
//   4. The exact score s_i = sum_j K[i][j] * q[j] is a double sum of the exact
//      products, left to right over j = 0 .. d-1, starting at 0.0.
//   5. Post-scoring keeps row i of C when (s_i - s_max) >= std::log(T), in
//      double (T = 0 keeps every candidate; T is a double, not rounded to float).
//   6. Softmax and weighted sum of V rows are done in double; out is rounded to
//      float32 at the end (compared with the reference to a tolerance only).
//
// Project rules of the spec: sorted-table ties go to the lower row; column ties
// to the lower column; q[j] == 0 columns take no part; a pointer that ran off
// its list is dead; an empty C becomes {argmax G}, lowest index on ties.
// Inputs must be finite (NaN/inf are not checked and give unspecified results).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/fixed_point.h"

namespace a3 {

// docs/spec.md 3.1: sort every column of K (row-major, n x d) descending, ties lower
// row first (-0.0 == +0.0). The table is column-major: column j occupies entries
// [j*n, (j+1)*n) of out_value (the values) and out_row (their rows in K).
// Allocates a temporary index buffer (this runs once per K, not per query).
void sort_keys(const float* K, uint32_t n, uint32_t d, float* out_value, uint32_t* out_row);

namespace detail {
// The pointer of one column on one side of candidate selection: one per leaf
// ("slot") of a selection tree (see approx_kernel.cpp).
struct Slot {
  uint32_t at;    // index of the pointer's entry in the sorted-key table
  int32_t step;   // +1 or -1
  uint32_t left;  // entries left under the pointer (0 = dead)
  uint32_t pad;
  double qs;      // q[j] (max side) or -q[j] (min side)
  uint64_t next;  // key of the entry after the pointer's (0 if none)
};
}  // namespace detail

// Counts of one query. For post_only, n_cand == n.
struct QueryResult {
  uint32_t n_cand;  // |C|
  uint32_t n_sel;   // |SEL|
  double s_max;     // max exact score over C
  double sum_exp;   // sum over SEL of exp(s_i - s_max), for log-sum-exp merging of tiles
  // Candidate selection's pointer moves over the M iterations (0 in post_only): the max side moves
  // in every iteration while an entry under its live pointers remains, min(M, d' n) with d' the
  // columns where q[j] != 0; the min side likewise except in the iterations the skip blocked.
  // Each move reads one sorted-table entry (docs/energy-model.md).
  uint64_t max_moves = 0;
  uint64_t min_moves = 0;
};

// What the banks hold for a query: K and V (row-major n x d) and, for approx mode, the sorted-key
// table of sort_keys(K) (unused, may be null, in post_only). Optionally the same table laid out by
// pad_sorted_table(), which candidate selection (d <= 64) then walks instead (same picks, faster).
struct KeyTable {
  const float* K = nullptr;
  const float* V = nullptr;
  uint32_t n = 0, d = 0;
  const float* sorted_value = nullptr;
  const uint32_t* sorted_row = nullptr;
  const double* padded_value = nullptr;
  const uint32_t* padded_row = nullptr;
};

// Zero entries around each column of pad_sorted_table()'s layout: two before, two after.
inline constexpr uint32_t kPadEntries = 4;
// Entries of the padded table of an n x d key matrix.
inline size_t padded_table_entries(uint32_t n, uint32_t d) { return (size_t(n) + kPadEntries) * d; }
// The sorted-key table (sort_keys() layout) for candidate selection: values in double, column j at
// entries [j (n + 4) + 2, j (n + 4) + 2 + n), with two zero entries (row 0) before and after it. A
// pointer that steps onto a zero entry has key 0 and is never taken, so the selection keeps no
// count of the entries left. value and row hold padded_table_entries(n, d) each.
void pad_sorted_table(const float* sorted_value, const uint32_t* sorted_row, uint32_t n, uint32_t d, double* value,
                      uint32_t* row);

// The knobs of one query (docs/spec.md 3.2-3.4).
struct ApproxParams {
  uint64_t M = 0;          // candidate-selection iterations (any value, see approx_query)
  double T = 0.0;          // post-scoring threshold, 0 <= T <= 1
  bool post_only = false;  // C = all rows: post-scoring alone (exact attention = post_only, T = 0)
  bool min_skip = true;    // the min-side skip of 3.2 rule 3; false gives the plain algorithm
  // If not null, the fixed-point datapath of docs/spec.md 2.1 (fixed_point.h) does post-scoring,
  // softmax and output; q, K, V (and the sorted-key table) must then be quantised already.
  const FixedPoint* fixed = nullptr;
};

// One query's input and where its results go.
struct QueryIO {
  const float* q = nullptr;        // d values
  float* out = nullptr;            // d floats: softmax over SEL (renormalised) weighted sum of V rows
  uint32_t* cand_out = nullptr;    // if not null, n entries: C as ascending row indices
  uint32_t* sel_out = nullptr;     // if not null, n entries: SEL as ascending row indices
  const double* scores = nullptr;  // if not null, the n exact scores of q from all_scores()
  bool pre_selected = false;       // select_two() already left this query's G in the scratch
};

// Reusable per-query buffers. Size once with reserve(n_max, d_max); approx_query
// then never allocates. (approx_query grows the buffers itself if a query is
// larger than reserved -- that allocates once, so reserve up front.)
class ApproxScratch {
 public:
  ApproxScratch() = default;
  ApproxScratch(uint32_t n_max, uint32_t d_max) { reserve(n_max, d_max); }

  void reserve(uint32_t n_max, uint32_t d_max);
  uint32_t n_max() const { return n_max_; }
  uint32_t d_max() const { return d_max_; }

  // Greedy scores G (n values, bit-identical to the reference's) of the last
  // approx_query call in approx mode, for inspection and tests. Unspecified
  // after a post_only call.
  const double* greedy_scores() const { return g_.data(); }

 private:
  friend QueryResult approx_query(const KeyTable&, const ApproxParams&, const QueryIO&, ApproxScratch&);
  friend void select_two(const float*, const float*, const KeyTable&, const ApproxParams&, ApproxScratch&,
                         ApproxScratch&);

  uint32_t n_max_ = 0, d_max_ = 0;
  std::vector<double> g_;           // greedy scores, n
  std::vector<double> score_;       // exact scores aligned with cand_, then SEL weights
  std::vector<double> acc_;         // weighted sum of V rows, d
  std::vector<double> qd_;          // q as double, d
  std::vector<double> qq_;          // q as double, each twice, 2 * d
  std::vector<uint32_t> cand_;      // C ascending, then SEL ascending
  std::vector<detail::Slot> slot_;  // max side [0, leaves), min side [leaves, 2 * leaves)
  std::vector<uint64_t> key_;       // winner tree keys: max side [0, 2 * leaves), min side after
  std::vector<uint32_t> win_;       // winner tree columns, as key_ (used when d > 64)
  uint64_t skipped_ = 0;            // iterations of the last selection whose min side was blocked
};

// One query of A3 approximate attention (docs/spec.md 3.2 + 3.3), or post-scoring alone
// (p.post_only: C = all rows; the sorted-key table and M unused).
//
//   M may be any value: the result equals running all M iterations, though work stops once
//   neither side can add more (with min_skip, also when the max side is spent and R < 0: the min
//   side then stays blocked).
//   io.scores lets a caller score a whole batch at once (bit-identical to what approx_query
//   computes itself). io.pre_selected continues from the G that select_two() left in s (same q,
//   table, M and min_skip).
//
// Work per query: O(d + min(M, n*d) * log d) for candidate selection (the
// timing model, not this function, charges M cycles), O(|C| * d) for scores,
// O(|SEL| * d) for the output. No allocation once s is reserved.
//
// Throws std::invalid_argument if n == 0, d == 0, n * d >= 2^32, T is outside
// [0, 1], or approx mode is asked without the sorted-key table.
QueryResult approx_query(const KeyTable& kv, const ApproxParams& p, const QueryIO& io, ApproxScratch& s);

// Candidate selection (docs/spec.md 3.2) of two queries in one interleaved loop (four independent
// dependency chains instead of two), for 1 <= kv.d <= 64. Uses p.M and p.min_skip. Leaves each
// query's greedy scores in its scratch; approx_query with io.pre_selected = true, the same q,
// table and params then continues from them, with results bit-identical to a plain approx_query.
void select_two(const float* qa, const float* qb, const KeyTable& kv, const ApproxParams& p, ApproxScratch& sa,
                ApproxScratch& sb);

// Rows of K^T padded to a multiple of 16 (the row block of all_scores).
inline uint32_t padded_rows(uint32_t n) { return (n + 15u) & ~15u; }

// KT (d x padded_rows(n), double) = K^T with zero padding, the layout all_scores() reads.
void transpose_keys(const float* K, uint32_t n, uint32_t d, double* KT);

// Queries per register block of all_scores(): a caller that cuts a job into chunks scores them at
// full speed with chunks of a multiple of this (other sizes cost up to ~1.5x per query).
inline constexpr uint32_t kScoreQueries = 12;

// S (m x n) = exact scores of every row for m queries (row-major float32 Q, m x d), following
// contract rule 4 exactly: the same bits as the scores approx_query computes for its candidates.
void all_scores(const float* Q, uint32_t m, const double* KT, uint32_t n, uint32_t d, double* S);

}  // namespace a3
