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
    const std::size_t slots = leaves_for(d_max_);  // one per tree leaf
    for (detail::SideState* side : {&max_, &min_}) {
        side->at.resize(slots);
        side->step.resize(slots);
        side->left.resize(slots);
        side->qs.resize(slots);
        side->next.resize(slots);
        side->key.resize(2 * slots);
        side->win.resize(2 * slots);
    }
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

// The column pointers of one side, in slots (a tree's leaf order).
struct Pointers {
    uint32_t* at;
    int32_t* step;
    uint32_t* left;
    double* qs;
    uint64_t* next;
    const float* value;
    const uint32_t* row;

    Pointers(detail::SideState& st, const float* sorted_value, const uint32_t* sorted_row)
        : at(st.at.data()), step(st.step.data()), left(st.left.data()), qs(st.qs.data()),
          next(st.next.data()), value(sorted_value), row(sorted_row) {}

    // Slot u takes column j, whose query component (negated on the min side) is qs_j.
    // The pointer starts where the keys are largest: the top of the sorted list
    // when qs_j > 0, the bottom when qs_j < 0. q[j] == 0: the column takes no part.
    void init(uint32_t u, uint32_t j, double qs_j, uint32_t n) {
        at[u] = j * n + ((qs_j > 0.0) ? 0u : n - 1u);
        step[u] = (qs_j > 0.0) ? 1 : -1;
        left[u] = (qs_j != 0.0) ? n : 0u;
        qs[u] = qs_j;
    }
    void init_dead(uint32_t u) {
        at[u] = 0;
        step[u] = 1;
        left[u] = 0;
        qs[u] = 0.0;
    }
    double product(uint32_t u, uint32_t i) const { return qs[u] * double(value[i]); }
};

template <unsigned Levels>
struct PackedTree {
    static constexpr uint32_t kLeaves = 1u << Levels;
    Pointers p;
    uint64_t* node;  // 2 * kLeaves; leaves at [kLeaves, 2 * kLeaves)
    uint64_t root = 0;

    // Column j sits in slot u = kLeaves - 1 - j, so that a larger u (the low
    // bits of the key) is a lower column and wins ties in a plain max.
    static uint64_t key(double product, uint32_t u) {
        const uint64_t b = positive_bits(product);
        return b ? (b << 1) | u : 0u;
    }
    static double product_of(uint64_t k) { return bits_to_double((k >> 1) & ~uint64_t(31)); }

    void start(const double* qd, uint32_t d, uint32_t n, double sign) {
        for (uint32_t u = 0; u < kLeaves; ++u) {
            if (u + d < kLeaves) {
                p.init_dead(u);
            } else {
                const uint32_t j = kLeaves - 1 - u;
                p.init(u, j, sign * qd[j], n);
            }
            node[kLeaves + u] = p.left[u] ? key(p.product(u, p.at[u]), u) : 0u;
            p.next[u] = p.left[u] > 1 ? key(p.product(u, p.at[u] + p.step[u]), u) : 0u;
        }
        for (uint32_t i = kLeaves - 1; i >= 1; --i) node[i] = std::max(node[2 * i], node[2 * i + 1]);
        root = node[1];
    }

    bool active() const { return root != 0u; }

    // Takes the root's entry: returns its row and its product as a double;
    // moves that pointer inward and replays its tree path. The root stays in a
    // register: the next pop depends on this one through it alone.
    uint32_t pop(double& added) {
        const uint32_t u = uint32_t(root & 63u);
        added = product_of(root);
        const int32_t st = p.step[u];
        const uint32_t i = p.at[u];
        const uint32_t r = p.row[i];
        uint64_t k = p.next[u];
        p.at[u] = i + st;
        p.next[u] = --p.left[u] > 1 ? key(p.product(u, i + 2 * st), u) : 0u;
        uint32_t x = kLeaves + u;
        node[x] = k;
        for (unsigned l = 0; l < Levels; ++l) {
            const uint64_t sibling = node[x ^ 1u];
            k = sibling > k ? sibling : k;
            x >>= 1;
            node[x] = k;
        }
        root = k;
        return r;
    }
};

struct ColumnTree {
    Pointers p;
    uint64_t* node;  // 2 * leaves: winner key of each node
    uint32_t* win;   // 2 * leaves: winner slot (= column) of each node
    uint32_t leaves;

    void start(const double* qd, uint32_t d, uint32_t n, double sign) {
        for (uint32_t j = 0; j < leaves; ++j) {
            if (j < d) p.init(j, j, sign * qd[j], n);
            else p.init_dead(j);
            node[leaves + j] = p.left[j] ? positive_bits(p.product(j, p.at[j])) : 0u;
            p.next[j] = p.left[j] > 1 ? positive_bits(p.product(j, p.at[j] + p.step[j])) : 0u;
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
        const int32_t st = p.step[c];
        const uint32_t i = p.at[c];
        const uint32_t r = p.row[i];
        uint64_t k = p.next[c];
        p.at[c] = i + st;
        p.next[c] = --p.left[c] > 1 ? positive_bits(p.product(c, i + 2 * st)) : 0u;
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
        return r;
    }
};

// M iterations: max side then min side in each (contract rule 3). A side whose
// best key is 0 adds nothing in any later iteration, so it is skipped; the loop
// ends when both are, which also caps the work at n*d entries per side.
template <class Tree>
void run_selection(Tree max_side, Tree min_side, const double* qd, uint32_t d, uint32_t n, uint64_t M,
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

// acc[j] += e * v[j], written four at a time so that it vectorises at -O2.
void add_scaled(double* acc, const float* v, double e, uint32_t d) {
    uint32_t j = 0;
    for (; j + 4 <= d; j += 4) {
        acc[j] += e * double(v[j]);
        acc[j + 1] += e * double(v[j + 1]);
        acc[j + 2] += e * double(v[j + 2]);
        acc[j + 3] += e * double(v[j + 3]);
    }
    for (; j < d; ++j) acc[j] += e * double(v[j]);
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
        const Pointers pmax(s.max_, sorted_value, sorted_row), pmin(s.min_, sorted_value, sorted_row);
        uint64_t* kmax = s.max_.key.data();
        uint64_t* kmin = s.min_.key.data();
        switch (d <= 64 ? leaves_for(d) : 0u) {
            case 1: run_selection(PackedTree<0>{pmax, kmax}, PackedTree<0>{pmin, kmin}, qd, d, n, M, g); break;
            case 2: run_selection(PackedTree<1>{pmax, kmax}, PackedTree<1>{pmin, kmin}, qd, d, n, M, g); break;
            case 4: run_selection(PackedTree<2>{pmax, kmax}, PackedTree<2>{pmin, kmin}, qd, d, n, M, g); break;
            case 8: run_selection(PackedTree<3>{pmax, kmax}, PackedTree<3>{pmin, kmin}, qd, d, n, M, g); break;
            case 16: run_selection(PackedTree<4>{pmax, kmax}, PackedTree<4>{pmin, kmin}, qd, d, n, M, g); break;
            case 32: run_selection(PackedTree<5>{pmax, kmax}, PackedTree<5>{pmin, kmin}, qd, d, n, M, g); break;
            case 64: run_selection(PackedTree<6>{pmax, kmax}, PackedTree<6>{pmin, kmin}, qd, d, n, M, g); break;
            default:
                run_selection(ColumnTree{pmax, kmax, s.max_.win.data(), leaves_for(d)},
                              ColumnTree{pmin, kmin, s.min_.win.data(), leaves_for(d)}, qd, d, n, M, g);
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

    // ---- 3.3 exact scores over C, post-scoring, softmax and weighted sum over SEL ----
    double* score = s.score_.data();
    exact_scores(K, qd, d, cand, n_cand, score);
    double s_max = score[0];
    for (uint32_t c = 1; c < n_cand; ++c) s_max = std::max(s_max, score[c]);

    const double log_T = (T == 0.0) ? -std::numeric_limits<double>::infinity() : std::log(T);
    double* acc = s.acc_.data();
    std::fill(acc, acc + d, 0.0);
    double sum_exp = 0.0;
    uint32_t n_sel = 0;
    for (uint32_t c = 0; c < n_cand; ++c) {
        const double x = score[c] - s_max;
        if (!(x >= log_T)) continue;
        const double e = std::exp(x);
        sum_exp += e;
        add_scaled(acc, V + std::size_t(cand[c]) * d, e, d);
        if (sel_out) sel_out[n_sel] = cand[c];
        ++n_sel;
    }
    const double inv = 1.0 / sum_exp;  // sum_exp >= 1: the s_max row is always kept
    for (uint32_t j = 0; j < d; ++j) out[j] = float(acc[j] * inv);

    if (cand_out) std::copy(cand, cand + n_cand, cand_out);
    return QueryResult{n_cand, n_sel, s_max, sum_exp};
}

}  // namespace a3
