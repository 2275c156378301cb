// approx_kernel.cpp -- see approx_kernel.h for the API and the numeric contract.
#include "approx_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

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

void ApproxScratch::reserve(uint32_t n_max, uint32_t d_max) {
    n_max_ = std::max(n_max_, n_max);
    d_max_ = std::max(d_max_, d_max);
    g_.resize(n_max_);
    score_.resize(n_max_);
    cand_.resize(n_max_);
    acc_.resize(d_max_);
    qd_.resize(d_max_);
    const std::size_t leaves = std::max<uint32_t>(64u, leaves_for(d_max_));  // 64: see PackedSide
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
// A winner tree over the column heads gives the largest key, lowest column on
// ties. Keys along a column's pointer path never increase, so once the root
// key is 0 the side can add nothing more.
//
// Two trees, same results:
// - PackedTree (d <= 64): a product of two float32 values has at most 48
//   significant bits, so the low 5 bits of its double are 0; with the sign bit
//   (0 for a positive key) that leaves 6 bits to hold 63 - column below the
//   value. Packed keys are unique, a plain integer max orders them by (product
//   desc, column asc), and the root names its own column.
// - ColumnTree (any d): key and column kept apart; leaves are in column order
//   and a left subtree wins ties.
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
struct ApproxScratchView {
    Slot* slot;
    uint64_t* key;
    uint32_t* win;
    const float* value;
    const uint32_t* row;
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

// One side over packed keys (d <= 64): a 4-ary winner tree of 64 leaves
// (levels of 64, 16, 4 and 1 nodes). Column j sits in slot u = 63 - j, so that
// a larger u (the low bits of the key) is a lower column and wins ties in a
// plain max. After a pop, the best of the three siblings at each level does
// not depend on the new key, so the chain from the new key to the new root is
// three compares long.
struct PackedSide {
    Slot* slot;      // 64
    uint64_t* node;  // 64 + 16 + 4 + 1: level 0 (leaves) at [0, 64), level 1 at [64, 80), level 2 at [80, 84)
    const float* value;
    const uint32_t* row;
    uint64_t root;

    static uint64_t key(double product, uint32_t u) {
        const uint64_t b = positive_bits(product);
        return b ? (b << 1) | u : 0u;
    }
    static double product_of(uint64_t k) { return bits_to_double((k >> 1) & ~uint64_t(31)); }
    static uint64_t max3(uint64_t a, uint64_t b, uint64_t c) { return std::max(std::max(a, b), c); }

    void start(const double* qd, uint32_t d, uint32_t n, double sign) {
        for (uint32_t u = 0; u < 64; ++u) {
            Slot& s = slot[u];
            if (u + d < 64) {
                init_dead(s);
            } else {
                const uint32_t j = 63 - u;
                init_slot(s, j, sign * qd[j], n);
            }
            node[u] = s.left ? key(s.qs * double(value[s.at]), u) : 0u;
            s.next = s.left > 1 ? key(s.qs * double(value[s.at + s.step]), u) : 0u;
        }
        uint64_t* l1 = node + 64;
        uint64_t* l2 = node + 80;
        for (uint32_t g = 0; g < 16; ++g) l1[g] = std::max(max3(node[4 * g], node[4 * g + 1], node[4 * g + 2]), node[4 * g + 3]);
        for (uint32_t g = 0; g < 4; ++g) l2[g] = std::max(max3(l1[4 * g], l1[4 * g + 1], l1[4 * g + 2]), l1[4 * g + 3]);
        root = std::max(max3(l2[0], l2[1], l2[2]), l2[3]);
    }

    bool active() const { return root != 0u; }

    // Takes the root's entry: returns its row and its product as a double;
    // moves that pointer inward and replays its tree path. The root stays in a
    // register: the next pop depends on this one through it alone.
    uint32_t pop(double& added) {
        const uint32_t u = uint32_t(root & 63u);
        added = product_of(root);
        Slot& s = slot[u];
        const int32_t st = s.step;
        const uint32_t i = s.at;
        uint64_t k = s.next;
        s.at = i + st;
        s.next = --s.left > 1 ? key(s.qs * double(value[i + 2 * st]), u) : 0u;
        uint64_t* l1 = node + 64;
        uint64_t* l2 = node + 80;
        const uint32_t g1 = u >> 2, g2 = u >> 4;
        const uint64_t o0 = max3(node[u ^ 1u], node[u ^ 2u], node[u ^ 3u]);
        const uint64_t o1 = max3(l1[g1 ^ 1u], l1[g1 ^ 2u], l1[g1 ^ 3u]);
        const uint64_t o2 = max3(l2[g2 ^ 1u], l2[g2 ^ 2u], l2[g2 ^ 3u]);
        node[u] = k;
        k = std::max(k, o0);
        l1[g1] = k;
        k = std::max(k, o1);
        l2[g2] = k;
        root = std::max(k, o2);
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
            if (j < d) init_slot(s, j, sign * qd[j], n);
            else init_dead(s);
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

    uint32_t pop(double& added) {
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
template <class Side>
void run_selection(Side max_side, Side min_side, const double* qd, uint32_t d, uint32_t n, uint64_t M,
                   double* g) {
    max_side.start(qd, d, n, 1.0);
    min_side.start(qd, d, n, -1.0);
    bool max_on = max_side.active(), min_on = min_side.active();
    for (uint64_t t = 0; t < M && (max_on || min_on); ++t) {
        double added;
        if (max_on) {
            const uint32_t r = max_side.pop(added);
            g[r] += added;
            max_on = max_side.active();
        }
        if (min_on) {
            const uint32_t r = min_side.pop(added);
            g[r] -= added;  // the min side's key is -product
            min_on = min_side.active();
        }
    }
}

// Exact scores of the given rows (contract rule 4). Eight rows at a time:
// eight independent left-to-right sums give the same bits as one row at a time,
// but their additions overlap in the pipeline.
void exact_scores(const float* K, const double* qd, uint32_t d, const uint32_t* rows, uint32_t count,
                  double* score) {
    uint32_t c = 0;
    for (; c + 8 <= count; c += 8) {
        const float* r[8];
        for (int u = 0; u < 8; ++u) r[u] = K + std::size_t(rows[c + u]) * d;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, a4 = 0.0, a5 = 0.0, a6 = 0.0, a7 = 0.0;
        for (uint32_t j = 0; j < d; ++j) {
            const double x = qd[j];
            a0 += double(r[0][j]) * x;
            a1 += double(r[1][j]) * x;
            a2 += double(r[2][j]) * x;
            a3 += double(r[3][j]) * x;
            a4 += double(r[4][j]) * x;
            a5 += double(r[5][j]) * x;
            a6 += double(r[6][j]) * x;
            a7 += double(r[7][j]) * x;
        }
        score[c] = a0;
        score[c + 1] = a1;
        score[c + 2] = a2;
        score[c + 3] = a3;
        score[c + 4] = a4;
        score[c + 5] = a5;
        score[c + 6] = a6;
        score[c + 7] = a7;
    }
    for (; c < count; ++c) {
        const float* r = K + std::size_t(rows[c]) * d;
        double a = 0.0;
        for (uint32_t j = 0; j < d; ++j) a += double(r[j]) * qd[j];
        score[c] = a;
    }
}

// acc[j] = sum over k of w[k] * V[rows[k]][j], for j < d. Eight columns at a
// time, the sums in registers (they vectorise), the rows in the given order.
void weighted_sum(const float* V, uint32_t d, const uint32_t* rows, const double* w, uint32_t count,
                  double* acc) {
    uint32_t j0 = 0;
    for (; j0 + 8 <= d; j0 += 8) {
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, a4 = 0.0, a5 = 0.0, a6 = 0.0, a7 = 0.0;
        for (uint32_t k = 0; k < count; ++k) {
            const float* v = V + std::size_t(rows[k]) * d + j0;
            const double e = w[k];
            a0 += e * double(v[0]);
            a1 += e * double(v[1]);
            a2 += e * double(v[2]);
            a3 += e * double(v[3]);
            a4 += e * double(v[4]);
            a5 += e * double(v[5]);
            a6 += e * double(v[6]);
            a7 += e * double(v[7]);
        }
        acc[j0] = a0;
        acc[j0 + 1] = a1;
        acc[j0 + 2] = a2;
        acc[j0 + 3] = a3;
        acc[j0 + 4] = a4;
        acc[j0 + 5] = a5;
        acc[j0 + 6] = a6;
        acc[j0 + 7] = a7;
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

QueryResult approx_query(const float* q, const float* K, const float* V, uint32_t n, uint32_t d,
                         const float* sorted_value, const uint32_t* sorted_row, uint64_t M,
                         double T, bool post_only, ApproxScratch& s, float* out,
                         uint32_t* cand_out, uint32_t* sel_out) {
    if (n == 0 || d == 0) throw std::invalid_argument("a3::approx_query: n and d must be >= 1");
    if (!(T >= 0.0 && T <= 1.0)) throw std::invalid_argument("a3::approx_query: T must be in [0, 1]");
    if (n > s.n_max_ || d > s.d_max_) s.reserve(n, d);

    double* qd = s.qd_.data();
    for (uint32_t j = 0; j < d; ++j) qd[j] = double(q[j]);

    uint32_t* cand = s.cand_.data();
    uint32_t n_cand = 0;

    if (post_only) {
        for (uint32_t i = 0; i < n; ++i) cand[i] = i;
        n_cand = n;
    } else {
        // ---- 3.2 candidate selection ----
        double* g = s.g_.data();
        std::fill(g, g + n, 0.0);
        const ApproxScratchView v{s.slot_.data(), s.key_.data(), s.win_.data(), sorted_value, sorted_row};
        if (d <= 64) {
            run_selection(PackedSide{v.slot, v.key, v.value, v.row, 0u},
                          PackedSide{v.slot + 64, v.key + 128, v.value, v.row, 0u}, qd, d, n, M, g);
        } else {
            const uint32_t L = leaves_for(d);
            run_selection(ColumnSide{v.slot, v.key, v.win, L, v.value, v.row},
                          ColumnSide{v.slot + L, v.key + 2 * L, v.win + 2 * L, L, v.value, v.row}, qd, d, n, M, g);
        }

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
    exact_scores(K, qd, d, cand, n_cand, score);
    double s_max = score[0];
    for (uint32_t c = 1; c < n_cand; ++c) s_max = std::max(s_max, score[c]);

    if (cand_out) std::copy(cand, cand + n_cand, cand_out);

    // Post-scoring (contract rule 5), compacting SEL rows and their weights
    // exp(s_i - s_max) into the front of cand / score.
    const double log_T = (T == 0.0) ? -std::numeric_limits<double>::infinity() : std::log(T);
    double sum_exp = 0.0;
    uint32_t n_sel = 0;
    for (uint32_t c = 0; c < n_cand; ++c) {
        const double x = score[c] - s_max;
        if (!(x >= log_T)) continue;
        const double e = std::exp(x);
        sum_exp += e;
        cand[n_sel] = cand[c];
        score[n_sel] = e;
        ++n_sel;
    }
    if (sel_out) std::copy(cand, cand + n_sel, sel_out);

    double* acc = s.acc_.data();
    weighted_sum(V, d, cand, score, n_sel, acc);
    const double inv = 1.0 / sum_exp;  // sum_exp >= 1: the s_max row is always kept
    for (uint32_t j = 0; j < d; ++j) out[j] = float(acc[j] * inv);
    return QueryResult{n_cand, n_sel, s_max, sum_exp};
}

}  // namespace a3
