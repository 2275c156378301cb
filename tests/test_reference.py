"""Tests of a3sim.reference, the numpy statement of docs/spec.md 3.1-3.3."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a3sim import reference as ref

# docs/spec.md section 5, example 1.
K5 = np.array(
    [[0.5, -0.2, 0.9], [-0.7, 0.4, 0.1], [0.3, 0.8, -0.6], [0.9, -0.5, 0.2], [-0.1, 0.6, 0.7], [0.2, -0.9, -0.3]],
    dtype=np.float32,
)
Q5 = np.array([1.0, -0.5, 0.8], dtype=np.float32)
# Example 2, where the min-side skip acts.
K6 = np.array(
    [[0.8, -0.1, 0.5], [0.7, -0.9, 0.7], [0.5, 0.4, -0.9], [0.9, -0.8, 0.4], [-0.6, 0.1, -0.2], [0.3, 0.2, -0.5]],
    dtype=np.float32,
)
Q6 = np.array([-0.7, 0.3, 0.2], dtype=np.float32)


def softmax_attention(q, K, V, rows=None):
    """Plain numpy attention over the given rows (all rows by default)."""
    K64, V64, q64 = K.astype(np.float64), V.astype(np.float64), np.asarray(q, np.float64)
    if rows is not None:
        K64, V64 = K64[rows], V64[rows]
    s = K64 @ q64
    w = np.exp(s - s.max())
    return (w / w.sum()) @ V64


# --------------------------------------------------------------------------- #
# Worked example
# --------------------------------------------------------------------------- #


def test_worked_example_table():
    values, rows = ref.sort_keys(K5)
    assert rows.tolist() == [[3, 0, 2, 5, 4, 1], [2, 4, 1, 0, 3, 5], [0, 4, 3, 1, 5, 2]]
    assert values.dtype == np.float32 and np.array_equal(values[:, 0], np.float32([0.9, 0.8, 0.9]))


@pytest.mark.parametrize("min_skip", [True, False])
@pytest.mark.parametrize("literal", [False, True])
def test_worked_example_iterations(literal, min_skip):
    """G after each iteration follows the spec's table row by row; R never drops below 0 here, so
    the min-side skip changes nothing."""
    table = ref.sort_keys(K5)
    expected = np.zeros(6)
    steps = [((3, 0.90), (1, -0.70)), ((0, 0.72), (2, -0.48)), ((4, 0.56), (2, -0.40)), ((0, 0.50), (4, -0.30))]
    for M, ((r_max, p_max), (r_min, p_min)) in enumerate(steps, start=1):
        expected[r_max] += p_max
        expected[r_min] += p_min
        G, _ = ref.candidate_selection(Q5, *table, M, literal=literal, min_skip=min_skip)
        np.testing.assert_allclose(G, expected, atol=1e-6)
    np.testing.assert_allclose(G, [1.22, -0.70, -0.88, 0.90, 0.26, 0.00], atol=1e-6)


@pytest.mark.parametrize("literal", [False, True])
def test_worked_example_2_iterations(literal):
    """Example 2: R = 0.42 - 0.63 = -0.21 after iteration 1, so the min side of iterations 2 and 3
    is skipped (R = -0.07 at the start of iteration 3)."""
    table = ref.sort_keys(K6)
    steps = [(4, 0.42, (3, -0.63)), (1, 0.14, None), (2, 0.12, None)]
    expected = np.zeros(6)
    for M, (r_max, p_max, min_pick) in enumerate(steps, start=1):
        expected[r_max] += p_max
        if min_pick is not None:
            expected[min_pick[0]] += min_pick[1]
        G, C = ref.candidate_selection(Q6, *table, M, literal=literal)
        np.testing.assert_allclose(G, expected, atol=1e-6)
    np.testing.assert_allclose(G, [0.0, 0.14, 0.12, -0.63, 0.42, 0.0], atol=1e-6)
    assert C.tolist() == [1, 2, 4]
    # Without the skip the min side takes (0, 0, -0.56) and (0, 1, -0.49): C = {2, 4}.
    G, C = ref.candidate_selection(Q6, *table, 3, literal=literal, min_skip=False)
    np.testing.assert_allclose(G, [-0.56, 0.14 - 0.49, 0.12, -0.63, 0.42, 0.0], atol=1e-6)
    assert C.tolist() == [2, 4]


@pytest.mark.parametrize("T,SEL", [(0.05, [1, 2, 4]), (0.4, [2, 4])])
def test_worked_example_2_attention(T, SEL):
    out, info = ref.a3_attention(Q6, K6, K6, mode="approx", M=3, T=T)
    np.testing.assert_allclose(ref.exact_scores(Q6, K6), [-0.49, -0.62, -0.41, -0.79, 0.41, -0.25], atol=1e-6)
    assert info.C.tolist() == [1, 2, 4] and info.SEL.tolist() == SEL
    np.testing.assert_allclose(out, softmax_attention(Q6, K6, K6, rows=SEL), rtol=1e-12)


def test_worked_example_attention():
    T = math.exp(-0.5)
    out, info = ref.a3_attention(Q5, K5, K5, mode="approx", M=4, T=T)
    np.testing.assert_allclose(info.G, [1.22, -0.70, -0.88, 0.90, 0.26, 0.00], atol=1e-6)
    assert info.C.tolist() == [0, 3, 4]
    np.testing.assert_allclose(info.s, [1.32, 1.31, 0.16], atol=1e-6)
    np.testing.assert_allclose(ref.exact_scores(Q5, K5), [1.32, -0.82, -0.58, 1.31, 0.16, 0.41], atol=1e-6)
    assert info.s_max == info.s[0]
    assert info.SEL.tolist() == [0, 3]
    e = math.exp(info.s[1] - info.s[0])
    assert info.sum_exp == pytest.approx(1.0 + e, rel=1e-12)
    np.testing.assert_allclose(out, softmax_attention(Q5, K5, K5, rows=[0, 3]), rtol=1e-12)
    # Row 5 (score 0.41) is missed, as the spec says.
    assert 5 not in info.C


# --------------------------------------------------------------------------- #
# Literal loop == vectorised path
# --------------------------------------------------------------------------- #

TIE_VALUES = [-1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0]
finite32 = st.floats(-4.0, 4.0, width=32, allow_subnormal=False)
tie_or_float = st.one_of(st.sampled_from(TIE_VALUES), finite32)


@st.composite
def selection_inputs(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["ties", "float", "constant", "gaussian"]))
    if kind == "constant":
        K = np.full((n, d), draw(st.sampled_from(TIE_VALUES)), dtype=np.float32)
    elif kind == "gaussian":  # messy values, so that the order of additions into G shows in the rounding
        K = np.random.default_rng(draw(st.integers(0, 2**32))).standard_normal((n, d)).astype(np.float32)
    else:
        elem = st.sampled_from(TIE_VALUES) if kind == "ties" else tie_or_float
        K = np.array(draw(st.lists(elem, min_size=n * d, max_size=n * d)), dtype=np.float32).reshape(n, d)
    q = np.array(draw(st.lists(tie_or_float, min_size=d, max_size=d)), dtype=np.float32)
    if kind == "gaussian":
        q = q + np.random.default_rng(n * d).standard_normal(d).astype(np.float32) * (q != 0)
    M = draw(st.one_of(st.integers(0, 2 * n * d + 10), st.just(10**9)))
    return q, K, M


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(selection_inputs(), st.booleans())
def test_literal_equals_vectorised(inputs, min_skip):
    q, K, M = inputs
    table = ref.sort_keys(K)
    G_loop = ref.greedy_scores_literal(q, *table, M, min_skip)  # stops by itself once nothing can change
    G_fast = ref.greedy_scores(q, *table, M, min_skip)
    assert np.array_equal(G_loop, G_fast)  # bit for bit
    _, C = ref.candidate_selection(q, *table, M, min_skip=min_skip)
    assert C.size >= 1 and np.all(np.diff(C) > 0)
    if np.any(G_fast > 0):
        assert np.array_equal(C, np.flatnonzero(G_fast > 0))
    else:
        assert C.tolist() == [int(np.argmax(G_fast))]


def test_sort_keys_ties_and_signed_zero():
    K = np.array([[0.0], [1.0], [-0.0], [1.0], [0.0], [-1.0]], dtype=np.float32)
    values, rows = ref.sort_keys(K)
    assert rows[0].tolist() == [1, 3, 0, 2, 4, 5]
    assert values[0].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, -1.0]


def test_zero_query_and_empty_candidates():
    rng = np.random.default_rng(1)
    K = rng.standard_normal((7, 4)).astype(np.float32)
    # q = 0: no column takes part, G stays 0, C falls back to row 0.
    G, C = ref.candidate_selection(np.zeros(4, np.float32), *ref.sort_keys(K), 100)
    assert np.all(G == 0) and C.tolist() == [0]
    # M = 0 likewise.
    assert ref.candidate_selection(rng.standard_normal(4).astype(np.float32), *ref.sort_keys(K), 0)[1].tolist() == [0]
    # Every G <= 0 but not all zero: C = {argmax G}, lowest index on ties.
    K = np.array([[-1.0], [-0.5], [-2.0], [-0.5]], dtype=np.float32)
    # The min side walks rows 2, 0, 3, 1 (bottom of the sorted column upwards).
    G, C = ref.candidate_selection(np.float32([1.0]), *ref.sort_keys(K), 2, min_skip=False)
    assert G.tolist() == [-1.0, 0.0, -2.0, 0.0] and C.tolist() == [1]
    G, C = ref.candidate_selection(np.float32([1.0]), *ref.sort_keys(K), 4, min_skip=False)
    assert G.tolist() == [-1.0, -0.5, -2.0, -0.5] and C.tolist() == [1]
    # With the skip, R = -2 after the first iteration and the max side has nothing to add: the min
    # side stays blocked, G = [0, 0, -2, 0] and C = {0}.
    for M in (2, 4, 10**9):
        G, C = ref.candidate_selection(np.float32([1.0]), *ref.sort_keys(K), M)
        assert G.tolist() == [0.0, 0.0, -2.0, 0.0] and C.tolist() == [0]


# --------------------------------------------------------------------------- #
# Limits: exhausted pointers, post_only, exact
# --------------------------------------------------------------------------- #


def random_problem(seed, n, d, m=None, positive=False):
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((n, d)).astype(np.float32)
    V = rng.standard_normal((n, d)).astype(np.float32)
    q = rng.standard_normal((d,) if m is None else (m, d)).astype(np.float32)
    if positive:  # every score > 0
        K, q = np.abs(K) + np.float32(0.01), np.abs(q) + np.float32(0.01)
    return q, K, V


@pytest.mark.parametrize("seed,n,d", [(0, 1, 1), (1, 5, 3), (2, 40, 8), (3, 64, 16), (4, 17, 32)])
def test_exhausted_selection_is_positive_score_attention(seed, n, d):
    """With M >= 2*n*d every pointer has run off its list, so G[i] is the exact
    score s_i summed in another order, and C = {i : G_i > 0}: approx with T = 0
    is softmax attention over the rows of positive score -- not over all rows
    (the spec's clamp drops rows whose score is <= 0)."""
    q, K, V = random_problem(seed, n, d)
    out, info = ref.a3_attention(q, K, V, mode="approx", M=2 * n * d + 3, T=0.0, min_skip=False)
    s = ref.exact_scores(q, K)
    np.testing.assert_allclose(info.G, s, rtol=1e-9, atol=1e-9 * np.abs(K).max() * np.abs(q).max() * d)
    assert np.array_equal(info.SEL, info.C)
    clear = np.abs(s) > 1e-6  # rows whose sign cannot depend on summation order
    if np.any(s > 0):
        assert set(np.flatnonzero(clear & (s > 0))) <= set(info.C) <= set(np.flatnonzero(s > -1e-6))
    np.testing.assert_allclose(out, softmax_attention(q, K, V, rows=info.C), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("seed,n,d", [(0, 1, 1), (1, 5, 3), (2, 40, 8), (3, 64, 16)])
def test_exhausted_selection_equals_exact_when_scores_positive(seed, n, d):
    q, K, V = random_problem(seed, n, d, positive=True)
    out, info = ref.a3_attention(q, K, V, mode="approx", M=2 * n * d + 3, T=0.0)
    assert info.C.tolist() == list(range(n))
    np.testing.assert_allclose(out, softmax_attention(q, K, V), rtol=1e-6)


@pytest.mark.parametrize("seed,n,d,m", [(5, 1, 4, 1), (6, 30, 8, 5), (7, 320, 64, 4)])
def test_post_only_and_exact_equal_softmax(seed, n, d, m):
    q, K, V = random_problem(seed, n, d, m=m)
    expected = np.stack([softmax_attention(qk, K, V) for qk in q])
    out_exact, infos = ref.a3_attention(q, K, V, mode="exact")
    out_post, _ = ref.a3_attention(q, K, V, mode="post_only", T=0.0)
    np.testing.assert_allclose(out_exact, expected, rtol=1e-6)
    np.testing.assert_allclose(out_post, expected, rtol=1e-6)
    for info in infos:
        assert info.G is None and info.C.tolist() == list(range(n)) and info.SEL.tolist() == list(range(n))


def test_threshold_one_keeps_rows_tied_with_max():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((5, 6)).astype(np.float32)
    K = base[[0, 1, 2, 1, 3, 4, 1, 2]]  # rows 1, 3, 6 are equal, rows 2 and 7 too
    V = rng.standard_normal((8, 6)).astype(np.float32)
    q = base[1] + np.float32(0.1)  # row 1 (and its copies) score highest
    for mode, M in [("approx", 1000), ("post_only", None), ("approx", 7)]:
        out, info = ref.a3_attention(q, K, V, mode=mode, M=M, T=1.0)
        assert np.array_equal(info.SEL, info.C[info.s == info.s_max])
        if set(info.C) >= {1, 3, 6}:
            assert info.SEL.tolist() == [1, 3, 6]
            np.testing.assert_allclose(out, V[[1, 3, 6]].astype(np.float64).mean(axis=0), rtol=1e-12)
            assert info.sum_exp == 3.0


@settings(max_examples=150, deadline=None)
@given(selection_inputs(), st.sampled_from([0.0, 0.3, math.exp(-0.5), 0.99, 1.0]))
def test_selection_invariants(inputs, T):
    q, K, M = inputs
    V = np.arange(K.size, dtype=np.float32).reshape(K.shape)
    out, info = ref.a3_attention(q, K, V, mode="approx", M=M, T=T)
    assert set(info.SEL) <= set(info.C) and info.SEL.size >= 1
    assert np.all(np.diff(info.SEL) > 0)
    assert info.s_max == info.s.max() and info.s_max in info.s_sel
    keep = info.s - info.s_max >= (math.log(T) if T > 0 else -math.inf)
    assert np.array_equal(info.SEL, info.C[keep])
    assert info.sum_exp == pytest.approx(np.exp(info.s_sel - info.s_max).sum(), rel=1e-12)
    np.testing.assert_allclose(out, softmax_attention(q, K, V, rows=info.SEL), rtol=1e-6, atol=1e-9)


def test_batch_equals_single_queries():
    q, K, V = random_problem(9, 50, 8, m=6)
    table = ref.sort_keys(K)
    out, infos = ref.a3_attention(q, K, V, mode="approx", M=60, T=0.01, sorted_keys=table)
    assert isinstance(infos, list) and len(infos) == 6 and out.shape == (6, 8)
    for k in range(6):
        o1, i1 = ref.a3_attention(q[k], K, V, mode="approx", M=60, T=0.01)
        assert np.array_equal(out[k], o1)
        assert np.array_equal(infos[k].C, i1.C) and np.array_equal(infos[k].SEL, i1.SEL)


def test_sum_exp_merges_tiles():
    """Two tiles of K/V merged with log-sum-exp give the whole attention."""
    q, K, V = random_problem(10, 40, 8)
    full, _ = ref.a3_attention(q, K, V, mode="exact")
    parts = [ref.a3_attention(q, K[sl], V[sl], mode="exact") for sl in (slice(0, 15), slice(15, 40))]
    lse = [math.log(info.sum_exp) + info.s_max for _, info in parts]
    top = max(lse)
    weights = [math.exp(x - top) for x in lse]
    merged = sum(w * o for w, (o, _) in zip(weights, parts)) / sum(weights)
    np.testing.assert_allclose(merged, full, rtol=1e-12)


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mode="approx"),  # M missing
        dict(mode="approx", M=-1),
        dict(mode="approx", M=1.5),
        dict(mode="approx", M=True),
        dict(mode="approx", M=4, T=-0.1),
        dict(mode="approx", M=4, T=1.5),
        dict(mode="approx", M=4, T=float("nan")),
        dict(mode="post_only", T=float("inf")),
        dict(mode="softmax"),
    ],
)
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ref.ReferenceArgumentError):
        ref.a3_attention(Q5, K5, K5, **kwargs)
    assert issubclass(ref.ReferenceArgumentError, ValueError)


def test_invalid_shapes_and_data_raise():
    with pytest.raises(ValueError):
        ref.a3_attention(Q5[:2], K5, K5, mode="exact")
    with pytest.raises(ValueError):
        ref.a3_attention(Q5, K5, K5[:4], mode="exact")
    with pytest.raises(ValueError):
        ref.a3_attention(np.float32([1, np.nan, 0]), K5, K5, mode="exact")
    with pytest.raises(ValueError):
        ref.a3_attention(Q5, K5, K5, mode="approx", M=4, sorted_keys=ref.sort_keys(K5[:, :2]))


def test_numpy_integer_M_accepted():
    _, info = ref.a3_attention(Q5, K5, K5, mode="approx", M=np.int64(4), T=0)
    assert info.C.tolist() == [0, 3, 4]
