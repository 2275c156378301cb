"""The fixed-point datapath of ``docs/spec.md`` 2.1 in numpy: the twin of
``systemc/kernels/fixed_point.{h,cpp}``, equal to it bit for bit.

The rules F1-F9 are written out in ``docs/fixed-point.md``; in short: inputs are quantised to
sign + i integer + f fraction bits (round to nearest, ties to even, saturate); products and dot
products are exact integers; the exponent of ``-(s_max - s)`` is the product of two table lookups
(upper and lower half of its 2b input bits) in 0.2f; post-scoring compares that exponent with T in
0.2f; the weights are 0.2f, rounded half up; outputs are exact sums with 3f fraction bits, rounded
once to float32.

    out, infos = fixed_point.attention(Q, K, V, mode="approx", M=8, T=0.05)

Candidate selection and exact scores are those of :mod:`a3sim.reference` run on the quantised
inputs (exact there: every product and sum of grid values is exact in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import reference as ref

__all__ = ["FixedFormat", "quantise", "exp_tables", "exp_neg", "softmax_output", "attention"]


@dataclass(frozen=True)
class FixedFormat:
    """Number format: ``int_bits`` (i) and ``frac_bits`` (f) of the inputs; ``exp_table_bits`` (b):
    each exponent table has 2^b entries and the exponent input 2b bits. Defaults are the paper's."""

    int_bits: int = 4
    frac_bits: int = 4
    exp_table_bits: int = 8

    def __post_init__(self) -> None:
        i, f, b = self.int_bits, self.frac_bits, self.exp_table_bits
        if not (i >= 0 and f >= 1 and i + f <= 16 and f < b <= 16):
            raise ValueError(f"fixed format needs 1 <= f, i + f <= 16 and f < exp_table_bits <= 16; got {self}")


DEFAULT = FixedFormat()


def quantise(x, fmt: FixedFormat = DEFAULT) -> np.ndarray:
    """F1: the grid values of x (float32): round(x * 2^f) with ties to even, saturated to
    [-2^(i+f), 2^(i+f) - 1], divided by 2^f."""
    scale = 2.0**fmt.frac_bits
    lim = 2.0 ** (fmt.int_bits + fmt.frac_bits)
    X = np.rint(np.asarray(x, dtype=np.float32).astype(np.float64) * scale)
    return (np.clip(X, -lim, lim - 1.0) / scale).astype(np.float32)


@lru_cache(maxsize=16)
def exp_tables(fmt: FixedFormat = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """F4: the upper-half and lower-half tables (uint64, 2^b entries each, units of 2^-2f), entries
    rounded half up from the C library's exp (``math.exp``) in float64."""
    b, s2f = fmt.exp_table_bits, 2.0 ** (2 * fmt.frac_bits)
    hi = [math.floor(math.exp(-float(k << b) / s2f) * s2f + 0.5) for k in range(1 << b)]
    lo = [math.floor(math.exp(-float(k) / s2f) * s2f + 0.5) for k in range(1 << b)]
    return np.array(hi, dtype=np.uint64), np.array(lo, dtype=np.uint64)


def exp_neg(X, fmt: FixedFormat = DEFAULT) -> np.ndarray:
    """F4: exp(-X / 2^(2f)) in units of 2^-2f for integers X >= 0 (uint64); 0 beyond the 2b input bits."""
    X = np.asarray(X, dtype=np.uint64)
    b, f2 = fmt.exp_table_bits, 2 * fmt.frac_bits
    hi, lo = exp_tables(fmt)
    inside = X < np.uint64(1 << (2 * b))
    Xc = np.where(inside, X, np.uint64(0))
    p = hi[Xc >> np.uint64(b)] * lo[Xc & np.uint64((1 << b) - 1)]
    e = (p + np.uint64(1 << (f2 - 1))) >> np.uint64(f2)
    return np.where(inside, e, np.uint64(0))


def softmax_output(score, rows, Vq, T: float, fmt: FixedFormat = DEFAULT):
    """F3-F9 for one query: ``score`` the exact scores (float64) of the candidate ``rows``
    (ascending), ``Vq`` the quantised V. Returns ``(out float32, SEL, s_max, sum_exp)``."""
    score = np.asarray(score, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    f = fmt.frac_bits
    s2f = 2.0 ** (2 * f)
    s_max = float(score.max())
    e = exp_neg(((s_max - score) * s2f).astype(np.uint64), fmt)  # F3 (exact), F4
    keep = e >= np.uint64(math.floor(T * s2f + 0.5))  # F5
    SEL, e = rows[keep], e[keep]
    E = int(e.sum())  # F6
    w = ((e << np.uint64(2 * f + 1)) + np.uint64(E)) // np.uint64(2 * E)  # F7: round half up
    Vint = np.rint(np.asarray(Vq, dtype=np.float64)[SEL] * 2.0**f).astype(np.int64)
    O = (w.astype(np.int64)[:, None] * Vint).sum(axis=0)  # F8: exact
    out = (O.astype(np.float64) * 2.0 ** (-3 * f)).astype(np.float32)
    return out, SEL, s_max, E / s2f


def attention(
    q,
    K,
    V,
    *,
    mode: str = "approx",
    M: int | None = None,
    T: float = 0.0,
    min_skip: bool = True,
    fmt: FixedFormat = DEFAULT,
) -> tuple[np.ndarray, ref.QueryInfo | list[ref.QueryInfo]]:
    """A3 attention on the fixed-point datapath: :func:`a3sim.reference.a3_attention`'s modes and
    arguments, with the inputs quantised (F1) and F3-F9 after the exact scores. Outputs are float32."""
    if mode not in ref.MODES:
        raise ref.ReferenceArgumentError(f"mode must be one of {ref.MODES}, got {mode!r}")
    q = np.asarray(q, dtype=np.float32)
    Qq, Kq, Vq = quantise(q.reshape(-1, q.shape[-1]), fmt), quantise(K, fmt), quantise(V, fmt)
    n = Kq.shape[0]
    table = ref.sort_keys(Kq) if mode == "approx" else None
    if mode == "approx" and M is None:
        raise ref.ReferenceArgumentError("approx mode needs M, the number of candidate-selection iterations")
    T = 0.0 if mode == "exact" else T
    outs, infos = np.empty((Qq.shape[0], Vq.shape[1]), dtype=np.float32), []
    for k, qk in enumerate(Qq):
        if mode == "approx":
            G, C = ref.candidate_selection(qk, *table, M, min_skip=min_skip)
        else:
            G, C = None, np.arange(n, dtype=np.int64)
        s = ref.exact_scores(qk, Kq[C])
        outs[k], SEL, s_max, sum_exp = softmax_output(s, C, Vq, T, fmt)
        infos.append(ref.QueryInfo(mode=mode, C=C, SEL=SEL, G=G, s=s, s_max=s_max, sum_exp=sum_exp))
    if q.ndim == 1:
        return outs[0], infos[0]
    return outs, infos
