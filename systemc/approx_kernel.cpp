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
    for (detail::SideState* side : {&max_, &min_}) {
        side->key.resize(2 * std::size_t(leaves_for(d_max_)));
        side->win.resize(2 * std::size_t(leaves_for(d_max_)));
        side->next.resize(d_max_);
        side->qs.resize(d_max_);
        side->vptr.resize(d_max_);
        side->rptr.resize(d_max_);
        side->step.resize(d_max_);
        side->left.resize(d_max_);
    }
}

namespace {

// ---------------------------------------------------------------------------
// Candidate selection (A3-SPEC 3.2), one side at a time.
//
// The min side is run as the max side of -q: its keys are -product and its
// additions are G -= key. Only positive keys can add to G, and the bit pattern
// of a positive double, read as an unsigned integer, orders like the double; so
// a key is stored as those bits and every key <= 0 (and a dead pointer) as 0.
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

// Fields shared by both trees: the pointer of each column.
struct Pointers {
    const double* qs;          // q[j] or -q[j]
    const float** vptr;        // current entry of column j in the sorted values
    const uint32_t** rptr;     // same entry in the sorted rows
    const std::ptrdiff_t* step;  // +1 or -1
    uint32_t* left;            // entries left under the pointer (0 = dead)
    uint64_t* next;            // key of the entry after the head (0 if none)
};

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

struct PackedTree {
    Pointers ptr;
    uint64_t* node;  // 2 * leaves; leaves at [leaves, 2 * leaves)
    uint32_t leaves;

    static uint64_t pack(double p, uint32_t c) {
        const uint64_t b = positive_bits(p);
        return b ? (b << 1) | (63u - c) : 0u;
    }
    uint64_t key_at(uint32_t c, const float* v) const { return pack(ptr.qs[c] * double(*v), c); }

    void start(uint32_t d) {
        for (uint32_t j = 0; j < d; ++j) {
            node[leaves + j] = ptr.left[j] ? key_at(j, ptr.vptr[j]) : 0u;
            ptr.next[j] = ptr.left[j] > 1 ? key_at(j, ptr.vptr[j] + ptr.step[j]) : 0u;
        }
        for (uint32_t j = d; j < leaves; ++j) node[leaves + j] = 0u;
        for (uint32_t i = leaves - 1; i >= 1; --i) node[i] = std::max(node[2 * i], node[2 * i + 1]);
    }

    bool active() const { return node[1] != 0u; }

    // Takes the root's entry: returns its row and the key as a double; moves
    // that column's pointer inward and replays its tree path.
    uint32_t pop(double& added) {
        const uint64_t root = node[1];
        const uint32_t c = 63u - uint32_t(root & 63u);
        added = bits_to_double((root >> 1) & ~uint64_t(31));
        const uint32_t r = *ptr.rptr[c];
        uint64_t k = ptr.next[c];
        const std::ptrdiff_t st = ptr.step[c];
        ptr.vptr[c] += st;
        ptr.rptr[c] += st;
        ptr.next[c] = --ptr.left[c] > 1 ? key_at(c, ptr.vptr[c] + st) : 0u;
        uint32_t i = leaves + c;
        node[i] = k;
        while (i > 1) {
            const uint64_t sk = node[i ^ 1u];
            k = sk > k ? sk : k;
            i >>= 1;
            node[i] = k;
        }
        return r;
    }
};

struct ColumnTree {
    Pointers ptr;
    uint64_t* node;  // 2 * leaves: winner key of each node
    uint32_t* win;   // 2 * leaves: winner column of each node
    uint32_t leaves;

    uint64_t key_at(uint32_t c, const float* v) const { return positive_bits(ptr.qs[c] * double(*v)); }

    void start(uint32_t d) {
        for (uint32_t j = 0; j < d; ++j) {
            node[leaves + j] = ptr.left[j] ? key_at(j, ptr.vptr[j]) : 0u;
            ptr.next[j] = ptr.left[j] > 1 ? key_at(j, ptr.vptr[j] + ptr.step[j]) : 0u;
        }
        for (uint32_t j = d; j < leaves; ++j) node[leaves + j] = 0u;
        for (uint32_t j = 0; j < leaves; ++j) win[leaves + j] = j;
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
        const uint32_t r = *ptr.rptr[c];
        uint64_t k = ptr.next[c];
        const std::ptrdiff_t st = ptr.step[c];
        ptr.vptr[c] += st;
        ptr.rptr[c] += st;
        ptr.next[c] = --ptr.left[c] > 1 ? key_at(c, ptr.vptr[c] + st) : 0u;
        uint32_t i = leaves + c, w = c;
        node[i] = k;
        while (i > 1) {
            const uint64_t sk = node[i ^ 1u];
            const uint32_t sw = win[i ^ 1u];
            // The sibling is the left (lower-column) subtree when i is odd: it
            // wins ties. Keys are < 2^63, so the + 1 cannot overflow. Masks,
            // not a branch: a branch here is mispredicted half the time.
            const uint64_t m = uint64_t(0) - uint64_t(sk + (i & 1u) > k);
            k = (sk & m) | (k & ~m);
            w = (sw & uint32_t(m)) | (w & ~uint32_t(m));
            i >>= 1;
            node[i] = k;
            win[i] = w;
        }
        return r;
    }
};

// M iterations: max side then min side in each (contract rule 3). A side whose
// best key is 0 adds nothing in any later iteration, so it is skipped; the loop
// ends when both are, which also caps the work at n*d entries per side.
template <class Tree>
void run_selection(Tree& max_side, Tree& min_side, uint32_t d, uint64_t M, double* g) {
    max_side.start(d);
    min_side.start(d);
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

}  // namespace

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
        const uint32_t leaves = leaves_for(d);
        Pointers ptr[2];
        detail::SideState* store[2] = {&s.max_, &s.min_};
        for (int k = 0; k < 2; ++k) {
            detail::SideState& st = *store[k];
            for (uint32_t j = 0; j < d; ++j) {
                const double qs = (k == 0) ? qd[j] : -qd[j];
                st.qs[j] = qs;
                // The side's pointer starts where its keys are largest: the top of the
                // sorted list when qs > 0, the bottom when qs < 0.
                const std::size_t first = std::size_t(j) * n + ((qs > 0.0) ? 0u : n - 1u);
                st.vptr[j] = sorted_value + first;
                st.rptr[j] = sorted_row + first;
                st.step[j] = (qs > 0.0) ? 1 : -1;
                st.left[j] = (qs != 0.0) ? n : 0u;  // q[j] == 0: the column takes no part
            }
            ptr[k] = Pointers{st.qs.data(), st.vptr.data(), st.rptr.data(), st.step.data(), st.left.data(),
                              st.next.data()};
        }
        if (d <= 64) {
            PackedTree max_side{ptr[0], s.max_.key.data(), leaves};
            PackedTree min_side{ptr[1], s.min_.key.data(), leaves};
            run_selection(max_side, min_side, d, M, g);
        } else {
            ColumnTree max_side{ptr[0], s.max_.key.data(), s.max_.win.data(), leaves};
            ColumnTree min_side{ptr[1], s.min_.key.data(), s.min_.win.data(), leaves};
            run_selection(max_side, min_side, d, M, g);
        }

        for (uint32_t i = 0; i < n; ++i) {
            cand[n_cand] = i;
            n_cand += (g[i] > 0.0) ? 1u : 0u;
        }
        if (n_cand == 0) {  // [project rule] C = {argmax G}, lowest index on ties
            uint32_t best = 0;
            for (uint32_t i = 1; i < n; ++i)
                if (g[i] > g[best]) best = i;
            cand[0] = best;
            n_cand = 1;
        }
    }

    // ---- 3.3 exact scores over C (contract rule 4) ----
    // Eight rows at a time: independent left-to-right sums, so the result is the
    // same as one row at a time, but the additions overlap in the pipeline.
    double* score = s.score_.data();
    uint32_t c = 0;
    for (; c + 8 <= n_cand; c += 8) {
        const float* r[8];
        for (int u = 0; u < 8; ++u) r[u] = K + std::size_t(cand[c + u]) * d;
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
        score[c] = a0; score[c + 1] = a1; score[c + 2] = a2; score[c + 3] = a3;
        score[c + 4] = a4; score[c + 5] = a5; score[c + 6] = a6; score[c + 7] = a7;
    }
    for (; c < n_cand; ++c) {
        const float* r = K + std::size_t(cand[c]) * d;
        double a = 0.0;
        for (uint32_t j = 0; j < d; ++j) a += double(r[j]) * qd[j];
        score[c] = a;
    }
    double s_max = score[0];
    for (c = 1; c < n_cand; ++c) s_max = std::max(s_max, score[c]);

    // ---- post-scoring selection, softmax and weighted sum over SEL ----
    const double log_T = (T == 0.0) ? -std::numeric_limits<double>::infinity() : std::log(T);
    double* acc = s.acc_.data();
    std::fill(acc, acc + d, 0.0);
    double sum_exp = 0.0;
    uint32_t n_sel = 0;
    for (c = 0; c < n_cand; ++c) {
        const double x = score[c] - s_max;
        if (!(x >= log_T)) continue;
        const double e = std::exp(x);
        sum_exp += e;
        const float* v = V + std::size_t(cand[c]) * d;
        for (uint32_t j = 0; j < d; ++j) acc[j] += e * double(v[j]);
        if (sel_out) sel_out[n_sel] = cand[c];
        ++n_sel;
    }
    const double inv = 1.0 / sum_exp;  // sum_exp >= 1: the s_max row is always kept
    for (uint32_t j = 0; j < d; ++j) out[j] = float(acc[j] * inv);

    if (cand_out) std::copy(cand, cand + n_cand, cand_out);
    return QueryResult{n_cand, n_sel, s_max, sum_exp};
}

}  // namespace a3
