"""The fixed-point datapath (docs/spec.md 2.1, docs/fixed-point.md): the numpy twin
a3sim.fixed_point against exp and the rules, against the C++ kernel bit for bit, and the device
configured with datapath = 1 against the twin; MemN2N qa2 accuracy against float32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a3sim import fixed_point as fxp
from a3sim import reference as ref
from conftest import in_fresh_process

ROOT = Path(__file__).resolve().parent.parent


def test_quantise_rounds_to_even_and_saturates():
    x = np.float32([0.03125, 0.09375, -0.09375, 0.1, 100.0, -100.0, -16.0, 15.9375])
    assert fxp.quantise(x).tolist() == [0.0, 0.125, -0.125, 0.125, 15.9375, -16.0, -16.0, 15.9375]


@pytest.mark.parametrize("f", [1, 3, 4, 6])
def test_exponent_tables_follow_exp(f):
    fmt = fxp.FixedFormat(4, f, max(8, f + 1))
    one = 2.0 ** (2 * f)
    X = np.arange(1 << (2 * fmt.exp_table_bits), dtype=np.uint64)
    e = fxp.exp_neg(X, fmt)
    # Non-increasing up to one unit: two rounded tables can step up by 1 where the upper index moves.
    assert e[0] == one and np.all(np.diff(e.astype(np.int64)) <= 1)
    assert np.max(np.abs(e - np.exp(-X.astype(np.float64) / one) * one)) <= 2.5  # three roundings of 0.5 units at most
    assert fxp.exp_neg([1 << (2 * fmt.exp_table_bits), 10**9], fmt).tolist() == [0, 0]


def test_formats_are_checked():
    for bad in [(4, 0, 8), (10, 7, 8), (4, 8, 8), (4, 4, 17)]:
        with pytest.raises(ValueError):
            fxp.FixedFormat(*bad)


# ---- C++ kernel (systemc/kernels/fixed_point.h, through cppyy) = numpy twin, bit for bit ----
@pytest.fixture(scope="module")
def cxx():
    from a3sim import _native

    _native.api()  # loads the library that holds the kernel
    import cppyy

    cppyy.add_include_path(str(ROOT / "systemc"))
    cppyy.include("kernels/fixed_point.h")
    return cppyy.gbl.a3


def _kernel(cxx, fmt: fxp.FixedFormat):
    f = cxx.FixedFormat()
    f.int_bits, f.frac_bits, f.exp_table_bits = fmt.int_bits, fmt.frac_bits, fmt.exp_table_bits
    return cxx.FixedPoint(f)


@st.composite
def fixed_problems(draw):
    i = draw(st.integers(0, 8))
    f = draw(st.integers(1, min(6, 16 - i)))
    fmt = fxp.FixedFormat(i, f, draw(st.integers(f + 1, 10)))
    n, d = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.05, 1.0, 4.0, 40.0]))
    q, K, V = (rng.standard_normal(s).astype(np.float32) * np.float32(scale) for s in ((d,), (n, d), (n, d)))
    T = float(np.float32(draw(st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1)))))
    return fmt, q, K, V, T


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fixed_problems())
def test_kernel_equals_numpy_twin(cxx, p):
    fmt, q, K, V, T = p
    fx = _kernel(cxx, fmt)
    raw = np.concatenate([q, K.ravel(), V.ravel()])
    got = np.empty_like(raw)
    fx.quantise(raw, raw.size, got)
    assert np.array_equal(got, fxp.quantise(raw, fmt))
    X = np.unique(np.concatenate([np.arange(64), np.random.default_rng(raw.size).integers(0, 1 << 21, 64)]))
    assert [fx.exp_neg(int(x)) for x in X] == fxp.exp_neg(X.astype(np.uint64), fmt).tolist()
    qq, Kq, Vq = fxp.quantise(q, fmt), fxp.quantise(K, fmt), fxp.quantise(V, fmt)
    rows = np.flatnonzero(np.arange(K.shape[0]) % 3 != 1).astype(np.uint32)
    s = ref.exact_scores(qq, Kq[rows])
    sel, out = np.zeros(K.shape[0], np.uint32), np.zeros(K.shape[1], np.float32)
    r = fx.softmax_output(s, rows, rows.size, np.ascontiguousarray(Vq), K.shape[1], T, sel, out)
    w_out, w_sel, w_smax, w_sum = fxp.softmax_output(s, rows, Vq, T, fmt)
    assert r.n_sel == w_sel.size and sel[: r.n_sel].tolist() == w_sel.tolist()
    assert np.array_equal(out, w_out)  # bit for bit
    assert r.s_max == w_smax and r.sum_exp == w_sum


# ---- the device with datapath = 1 (own platform: the datapath is a hardware configuration) ----
_DEVICE_SCRIPT = """
import json, numpy as np
from a3sim import A3Driver
from a3sim import fixed_point as fxp
from a3sim.nn import memn2n
from a3sim.nn.attention import A3Attention
drv = A3Driver(config={"datapath": 1})
rng = np.random.default_rng(11)
bad = []
cases = 0
for t in range(60):
    n, d, m = int(rng.integers(1, 80)), int(rng.integers(1, 20)), int(rng.integers(1, 5))
    sc = [0.1, 1.0, 3.0][t % 3]
    Q, K, V = (rng.standard_normal(s).astype(np.float32) * np.float32(sc) for s in ((m, d), (n, d), (n, d)))
    if t % 5 == 0:
        K = np.abs(K); Q = -np.abs(Q)  # negative scores: the min-side skip acts
    mode = ["exact", "approx", "approx", "post_only"][t % 4]
    M = int(rng.integers(0, 2 * n * d + 3)) if t % 2 else int(rng.integers(0, n + 1))
    T = float(np.float32(rng.choice([0.0, 0.05, 0.3, 1.0])))
    skip = bool(t % 3)
    kw = {} if mode == "exact" else ({"M": M, "T": T} if mode == "approx" else {"T": T})
    out, rec = drv.attention(Q, K, V, mode=mode, sets=True, min_skip=skip, **kw)
    w_out, infos = fxp.attention(Q, K, V, mode=mode, M=M, T=T, min_skip=skip)
    cases += 1
    if not np.array_equal(out, w_out):
        bad.append((t, "out"))
    for i, info in enumerate(infos):
        if rec.candidates[i].tolist() != info.C.tolist() or rec.selected[i].tolist() != info.SEL.tolist():
            bad.append((t, "sets", i))
acc = memn2n.evaluate(2, A3Attention(drv, mode="exact"))
print(json.dumps({"cases": cases, "bad": bad, "qa2_fixed": acc}))
"""


def test_device_fixed_point_equals_twin_and_memn2n_accuracy(drv):
    res = json.loads(in_fresh_process(_DEVICE_SCRIPT).strip().splitlines()[-1])
    assert res["cases"] == 60 and res["bad"] == [], res["bad"]
    from a3sim.nn import memn2n
    from a3sim.nn.attention import A3Attention

    float_acc = memn2n.evaluate(2, A3Attention(drv, mode="exact"))
    # docs/fixed-point.md: i = 4, f = 4 changes MemN2N qa2 accuracy by less than 0.5 points.
    assert abs(100.0 * (res["qa2_fixed"] - float_acc)) < 0.5, (res["qa2_fixed"], float_acc)
