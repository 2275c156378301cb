"""Plain numpy statement of the A3 approximation (docs/spec.md sections 1, 3.1-3.3).

This module is the executable form of the specification: read it beside
the project's ``docs/spec.md``.  It is written for clarity first; it is the
yardstick that the C++ device (``systemc/kernels/approx_kernel.cpp``) is tested against.

Numeric contract
----------------
The C++ kernel and this reference produce *bit-identical* candidate sets C and
selected sets SEL because both follow these rules exactly:

1. Inputs q, K, V are float32 (anything else is rounded to float32 first, as the
   device stores float32).
2. A product ``p = q[j] * K[i][j]`` is formed in float64 from the two float32
   operands.  This is exact: two 24-bit significands give at most 48 bits, which
   fit in float64's 53.  (So fused multiply-add contraction cannot change it.)
3. The greedy score ``G`` (float64, starting at +0.0) accumulates the added
   products in iteration order: iteration 1 max side, iteration 1 min side,
   iteration 2 max side, ...  The running sum ``R`` (float64, starting at +0.0)
   accumulates the same added products in the same order.  With ``min_skip``
   (``docs/spec.md`` 3.2 rule 3, on by default) an iteration that starts with
   ``R < 0`` runs its max side only: the min side adds nothing and its pointer stays.
4. The exact score ``s_i = sum_j K[i][j] * q[j]`` is a float64 sum of the exact
   float64 products, taken left to right, j = 0 .. d-1, starting at 0.0.
5. Post-scoring keeps row i when ``s_i - s_max >= log(T)`` evaluated in float64,
   with ``log`` the C library's (``math.log``; T = 0 gives -inf, so every
   candidate is kept).  T is a float64: a host whose device register holds T
   as float32 must hand this reference that same float32-rounded value.
6. The softmax over SEL and the weighted sum of V rows are float64 here; they are
   compared with a tolerance, not bit for bit.

The [project rule]s of the spec are followed: ties in the sorted-key table go to
the lower row; ties between columns go to the lower column; a column with
q[j] == 0 takes no part; a pointer that has run off its list is dead; an empty C
falls back to {argmax G} with the lowest index on ties.

Public API: :func:`sort_keys`, :func:`candidate_selection` (and its two
equivalent forms :func:`greedy_scores` / :func:`greedy_scores_literal`),
:func:`exact_scores` and :func:`a3_attention`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._reference_parts import (
    ReferenceArgumentError,
    _as_f32,
    _check_M,
    _check_T,
    _check_table,
    _log_threshold,
    _min_side_steps,
    _pointer_moves_fast,
    _side_picks,
)

__all__ = [
    "ReferenceArgumentError",
    "QueryInfo",
    "MODES",
    "sort_keys",
    "greedy_scores_literal",
    "greedy_scores",
    "candidate_selection",
    "pointer_moves",
    "exact_scores",
    "a3_attention",
]

#: The three modes of docs/spec.md 3.4.
MODES = ("exact", "approx", "post_only")


# --------------------------------------------------------------------------- #
# 3.1 Preprocessing
# --------------------------------------------------------------------------- #


def sort_keys(K) -> tuple[np.ndarray, np.ndarray]:
    """Sorted-key table of docs/spec.md 3.1.

    Every column j of K (n x d) is sorted on its own, descending by value, keeping
    each entry's row index; ties go to the lower row first [project rule]
    (-0.0 and +0.0 are equal values).

    Returns ``(values, rows)``, both of shape (d, n): ``values[j, k]`` is the k-th
    largest entry of column j (float32) and ``rows[j, k]`` its row in K (int64).
    """
    K = _as_f32("K", K, (2,))
    # A stable sort of the negated column puts larger values first and keeps
    # equal values in row order.
    rows = np.argsort(-K.T, axis=1, kind="stable")
    values = np.take_along_axis(K.T, rows, axis=1)
    return np.ascontiguousarray(values), rows.astype(np.int64)


# --------------------------------------------------------------------------- #
# 3.2 Candidate selection
# --------------------------------------------------------------------------- #


def greedy_scores_literal(q, sorted_values, sorted_rows, M: int, min_skip: bool = True) -> np.ndarray:
    """Greedy scores G after M iterations, written as the loop of docs/spec.md 3.2.

    Slow (pure Python); it exists to be read beside the spec and to check
    :func:`greedy_scores`.  ``min_skip`` is rule 3 (the min-side skip).  Returns G,
    float64 of shape (n,).
    """
    return _selection_loop(q, sorted_values, sorted_rows, M, min_skip)[0]


def _selection_loop(q, sorted_values, sorted_rows, M: int, min_skip: bool) -> tuple[np.ndarray, int, int]:
    """The loop of docs/spec.md 3.2: G and the pointer moves of the max and the min side."""
    q = _as_f32("q", q, (1,))
    M = _check_M(M)
    d = q.shape[0]
    values, rows = _check_table(sorted_values, sorted_rows, d, np.asarray(sorted_values).shape[-1])
    n = values.shape[1]

    # Pointer positions into each column's sorted list (index 0 = largest value).
    # q[j] > 0: max pointer at the top, min pointer at the bottom.
    # q[j] < 0: max pointer at the bottom, min pointer at the top.
    # q[j] == 0: the column takes no part [project rule] (pointers dead from the start).
    max_ptr, max_step, min_ptr, min_step = {}, {}, {}, {}
    for j in range(d):
        if q[j] > 0:
            max_ptr[j], max_step[j], min_ptr[j], min_step[j] = 0, +1, n - 1, -1
        elif q[j] < 0:
            max_ptr[j], max_step[j], min_ptr[j], min_step[j] = n - 1, -1, 0, +1

    def live(ptr: dict, j: int) -> bool:
        return j in ptr and 0 <= ptr[j] < n

    def product(j: int, k: int) -> float:
        # float32 x float32 in float64: exact (contract rule 2).
        return float(q[j]) * float(values[j, k])

    G = np.zeros(n, dtype=np.float64)
    R = 0.0  # rule 3: the sum of every value added to G so far (both sides)
    max_moves = min_moves = 0  # pointer steps: each reads one sorted-table entry
    for _iteration in range(M):
        max_live = any(live(max_ptr, j) for j in range(d))
        min_blocked = min_skip and R < 0  # decided from the earlier iterations [project rule]
        if not max_live and (min_blocked or not any(live(min_ptr, j) for j in range(d))):
            break  # nothing can change any more: the remaining iterations do nothing.

        # 1. max side: the largest product under a live max pointer, lowest column on ties.
        best_j, best_p = None, None
        for j in range(d):
            if live(max_ptr, j):
                p = product(j, max_ptr[j])
                if best_j is None or p > best_p:
                    best_j, best_p = j, p
        if best_j is not None:
            if best_p > 0:  # clamp: products <= 0 add nothing
                G[rows[best_j, max_ptr[best_j]]] += best_p
                R += best_p
            max_ptr[best_j] += max_step[best_j]  # one step inward
            max_moves += 1

        # 2. min side: the smallest product under a live min pointer, lowest column on ties.
        if min_blocked:
            continue  # 3. the skip: the min side does nothing, its pointer stays
        best_j, best_p = None, None
        for j in range(d):
            if live(min_ptr, j):
                p = product(j, min_ptr[j])
                if best_j is None or p < best_p:
                    best_j, best_p = j, p
        if best_j is not None:
            if best_p < 0:  # clamp: products >= 0 add nothing
                G[rows[best_j, min_ptr[best_j]]] += best_p
                R += best_p
            min_ptr[best_j] += min_step[best_j]
            min_moves += 1
    return G, max_moves, min_moves


def greedy_scores(q, sorted_values, sorted_rows, M: int, min_skip: bool = True) -> np.ndarray:
    """Greedy scores G after M iterations (docs/spec.md 3.2), in a fast exact form.

    The pick sequences of both sides are vectorised; with ``min_skip`` the
    iterations of the min-side picks come from a scalar loop over R.  Equal, bit
    for bit, to :func:`greedy_scores_literal`.  Returns float64 (n,).
    """
    q = _as_f32("q", q, (1,))
    M = _check_M(M)
    d = q.shape[0]
    values, rows = _check_table(sorted_values, sorted_rows, d, np.asarray(sorted_values).shape[-1])
    n = values.shape[1]
    q64 = q.astype(np.float64)

    max_rows, max_products = _side_picks(q64, values, rows, M, +1)
    min_rows, min_products = _side_picks(q64, values, rows, M, -1)
    if min_skip:
        min_steps = _min_side_steps(max_products, min_products, M)
        min_rows, min_products = min_rows[: len(min_steps)], min_products[: len(min_steps)]
    else:
        min_steps = np.arange(len(min_rows))

    # Iteration order (contract rule 3): the max pick of iteration t (key 2t), then its min pick
    # (key 2t + 1). Sides that have no pick in an iteration add nothing, as in the loop.
    keys = np.concatenate([2 * np.arange(len(max_rows)), 2 * min_steps + 1])
    order = np.argsort(keys, kind="stable")
    seq_rows = np.concatenate([max_rows, min_rows])[order]
    seq_products = np.concatenate([max_products, min_products])[order]

    G = np.zeros(n, dtype=np.float64)
    # ufunc.at is unbuffered and applies the additions one by one in array order.
    np.add.at(G, seq_rows, seq_products)
    return G


def pointer_moves(
    q, sorted_values, sorted_rows, M: int, *, literal: bool = False, min_skip: bool = True
) -> tuple[int, int]:
    """Pointer moves of candidate selection (docs/spec.md 3.2) over its M iterations, ``(max side,
    min side)``: each move reads one entry of the sorted-key table (docs/energy-model.md).

    A side moves one pointer in every iteration while entries remain under its live pointers (the
    d' columns with q[j] != 0 hold d' n entries), whether or not the product adds to G; with
    ``min_skip`` the min side does not move in the iterations that start with R < 0.  The fast
    form replays R over the adding picks only (the others leave R unchanged);
    ``literal=True`` counts the steps of the spec-shaped loop instead.
    """
    if literal:
        _, a, b = _selection_loop(q, sorted_values, sorted_rows, M, min_skip)
        return a, b
    return _pointer_moves_fast(q, sorted_values, sorted_rows, M, min_skip)


def candidate_selection(
    q, sorted_values, sorted_rows, M: int, *, literal: bool = False, min_skip: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate selection of docs/spec.md 3.2 for one query.

    ``q`` is (d,), the sorted-key table is ``(values, rows)`` of shape (d, n) as
    returned by :func:`sort_keys`, ``M`` the iteration count.  Returns ``(G, C)``:
    the greedy scores (float64, n) and the candidate rows C = {i : G[i] > 0}
    (ascending int64), or {argmax G} with the lowest index on ties when that set
    is empty [project rule].  ``literal=True`` uses the slow spec-shaped loop;
    ``min_skip`` is rule 3 of 3.2 (on by default; off gives the plain algorithm).
    """
    G = (greedy_scores_literal if literal else greedy_scores)(q, sorted_values, sorted_rows, M, min_skip)
    C = np.flatnonzero(G > 0)
    if C.size == 0:
        C = np.array([int(np.argmax(G))], dtype=np.int64)  # np.argmax returns the first maximum
    return G, C.astype(np.int64)


# --------------------------------------------------------------------------- #
# 3.3 Exact scores and post-scoring selection
# --------------------------------------------------------------------------- #


def exact_scores(Q, K_rows) -> np.ndarray:
    """Exact scores s = K_rows @ q per contract rule 4 (float64, left to right over j).

    ``Q`` is (d,) or (m, d); ``K_rows`` is (r, d).  Returns (r,) or (m, r).
    """
    Q = np.asarray(Q, dtype=np.float32)
    K_rows = np.asarray(K_rows, dtype=np.float32)
    Q2 = Q.reshape(-1, Q.shape[-1]).astype(np.float64)
    K64 = K_rows.astype(np.float64)
    s = np.zeros((Q2.shape[0], K64.shape[0]), dtype=np.float64)
    for j in range(Q2.shape[1]):  # one column at a time fixes the summation order
        s += Q2[:, j : j + 1] * K64[None, :, j]
    return s[0] if Q.ndim == 1 else s


@dataclass(frozen=True)
class QueryInfo:
    """What one query did (docs/spec.md 3.2-3.3).

    C, SEL: ascending row indices (int64) of the candidates and of the rows kept
    by post-scoring.  G: greedy scores (float64, n), or None in modes without
    candidate selection (``exact``, ``post_only``).  s: exact scores (float64)
    aligned with C.  s_max: max of s.  sum_exp: sum over SEL of exp(s_i - s_max),
    so that tiles can be merged by log-sum-exp (log(sum_exp) + s_max).
    """

    mode: str
    C: np.ndarray
    SEL: np.ndarray
    G: np.ndarray | None
    s: np.ndarray
    s_max: float
    sum_exp: float

    @property
    def n_cand(self) -> int:
        return int(self.C.size)

    @property
    def n_sel(self) -> int:
        return int(self.SEL.size)

    @property
    def s_sel(self) -> np.ndarray:
        """Exact scores of the SEL rows, aligned with SEL."""
        return self.s[np.searchsorted(self.C, self.SEL)]


def _post_score(C: np.ndarray, s: np.ndarray, V64: np.ndarray, log_T: float):
    """Post-scoring selection, softmax and weighted sum over SEL (docs/spec.md 3.3)."""
    s_max = float(np.max(s))
    keep = (s - s_max) >= log_T  # contract rule 5; the row(s) at s_max always stay
    SEL = C[keep]
    e = np.exp(s[keep] - s_max)
    sum_exp = float(np.sum(e))
    out = (e / sum_exp) @ V64[SEL]
    return out, SEL, s_max, sum_exp


def a3_attention(
    q,
    K,
    V,
    *,
    mode: str = "approx",
    M: int | None = None,
    T: float = 0.0,
    sorted_keys: tuple[np.ndarray, np.ndarray] | None = None,
    min_skip: bool = True,
) -> tuple[np.ndarray, QueryInfo | list[QueryInfo]]:
    """One A3 attention operation (docs/spec.md 1 and 3.4), for one query or a batch.

    Parameters
    ----------
    q : (d,) or (m, d) query / queries; any scale is already folded in (spec 1).
    K : (n, d) keys.  V : (n, d_v) values (the spec has d_v = d).
    mode : ``"exact"`` (all rows, T and M unused), ``"approx"`` (3.2 then 3.3) or
        ``"post_only"`` (C = all rows, then 3.3).
    M : candidate-selection iterations, integer >= 0; required in ``approx`` mode.
    T : post-scoring threshold, 0 <= T <= 1 (T = 0 keeps every candidate).
    sorted_keys : the table ``sort_keys(K)``, to reuse across calls; computed if None.
    min_skip : the min-side skip of candidate selection (3.2 rule 3); False gives the plain
        algorithm.

    Returns
    -------
    out : float64, (d_v,) or (m, d_v): the softmax over SEL (renormalised) weighted
        sum of the V rows.
    info : a :class:`QueryInfo` for a single query, a list of them for a batch.

    Raises :class:`ReferenceArgumentError` (a ValueError) for a bad mode, shape,
    M or T, or non-finite data.
    """
    if mode not in MODES:
        raise ReferenceArgumentError(f"mode must be one of {MODES}, got {mode!r}")
    T = _check_T(T)
    if M is not None:
        M = _check_M(M)
    if mode == "approx" and M is None:
        raise ReferenceArgumentError("approx mode needs M, the number of candidate-selection iterations")

    q = _as_f32("q", q, (1, 2))
    K = _as_f32("K", K, (2,))
    V = _as_f32("V", V, (2,))
    n, d = K.shape
    if n == 0 or d == 0:
        raise ReferenceArgumentError(f"K must have at least one row and one column, got shape {K.shape}")
    if q.shape[-1] != d:
        raise ReferenceArgumentError(f"q has {q.shape[-1]} components but K has d = {d} columns")
    if V.shape[0] != n:
        raise ReferenceArgumentError(f"V has {V.shape[0]} rows but K has n = {n}")

    Q = q.reshape(-1, d)
    V64 = V.astype(np.float64)
    log_T = -math.inf if mode == "exact" else _log_threshold(T)  # exact keeps every row

    if mode == "approx":
        if sorted_keys is None:
            sorted_keys = sort_keys(K)
        values, rows = _check_table(sorted_keys[0], sorted_keys[1], d, n)
    else:
        # C = all rows: every score is needed, so compute them for the whole batch at once.
        all_scores = exact_scores(Q, K)
        all_rows = np.arange(n, dtype=np.int64)

    outs = np.empty((Q.shape[0], V.shape[1]), dtype=np.float64)
    infos: list[QueryInfo] = []
    for k, qk in enumerate(Q):
        if mode == "approx":
            G, C = candidate_selection(qk, values, rows, M, min_skip=min_skip)
            s = exact_scores(qk, K[C])
        else:
            G, C, s = None, all_rows, all_scores[k]
        outs[k], SEL, s_max, sum_exp = _post_score(C, s, V64, log_T)
        infos.append(QueryInfo(mode=mode, C=C, SEL=SEL, G=G, s=s, s_max=s_max, sum_exp=sum_exp))

    if q.ndim == 1:
        return outs[0], infos[0]
    return outs, infos
