"""Pieces of :mod:`a3sim.reference` kept apart so that the reference stays short: the argument
checks, and the vectorised pick sequences of the fast form of candidate selection (3.2)."""

from __future__ import annotations

import math
import numbers

import numpy as np


class ReferenceArgumentError(ValueError):
    """An argument of the reference model is out of its domain (shape, M, T, mode...)."""


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _as_f32(name: str, x, ndim: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim not in ndim:
        raise ReferenceArgumentError(
            f"{name} must have {' or '.join(str(k) for k in ndim)} dimensions, got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ReferenceArgumentError(f"{name} contains NaN or infinity; the model needs finite float32 data")
    return a


def _check_M(M) -> int:
    if isinstance(M, (bool, np.bool_)) or not isinstance(M, numbers.Integral):
        raise ReferenceArgumentError(f"M must be an integer number of iterations >= 0, got {M!r}")
    M = int(M)
    if M < 0:
        raise ReferenceArgumentError(f"M must be >= 0, got {M}")
    return M


def _check_T(T) -> float:
    if isinstance(T, (bool, np.bool_)) or not isinstance(T, numbers.Real):
        raise ReferenceArgumentError(f"T must be a real number in [0, 1], got {T!r}")
    T = float(T)
    if not (math.isfinite(T) and 0.0 <= T <= 1.0):
        raise ReferenceArgumentError(f"T must satisfy 0 <= T <= 1 (docs/spec.md 3.3), got {T!r}")
    return T


def _log_threshold(T: float) -> float:
    """ln T in float64 with the C library's log (contract rule 5); ln 0 = -inf."""
    return -math.inf if T == 0.0 else math.log(T)


def _check_table(sorted_values, sorted_rows, d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(sorted_values)
    rows = np.asarray(sorted_rows)
    if values.shape != (d, n) or rows.shape != (d, n):
        raise ReferenceArgumentError(
            f"sorted-key table must have shape (d, n) = ({d}, {n}), got {values.shape} and {rows.shape}"
        )
    if values.dtype != np.float32:
        raise ReferenceArgumentError(f"sorted values must be float32, got {values.dtype}")
    return values, rows.astype(np.int64, copy=False)


# --------------------------------------------------------------------------- #
# 3.2, fast form: the pick sequences of the two sides
# --------------------------------------------------------------------------- #


def _side_picks(q64: np.ndarray, values: np.ndarray, rows: np.ndarray, M: int, side: int):
    """The products one side adds, in pick order (vectorised form of one side of 3.2).

    Along its pointer path every column's products are monotone (non-increasing
    for the max side, non-decreasing for the min side), so the greedy pick
    sequence is a k-way merge of those streams: a stable order by
    (-side*product, column, position along the path).  A side makes at most M
    picks, and of those only the ones with side*product > 0 add to G; as all
    such entries precede all the others in the order, they are the first
    min(M, count) entries with side*product > 0.  The skip only delays the min
    side's picks (its pointer waits), so their order stays the same.

    Returns ``(rows, products)`` of the adding picks, in pick order.
    """
    live = q64 != 0.0
    # Path order: the max pointer walks top->bottom when q > 0, bottom->top when
    # q < 0; the min pointer walks the opposite way.
    forward = (q64 > 0) if side > 0 else (q64 < 0)
    path_values = np.where(forward[:, None], values, values[:, ::-1])[live]
    path_rows = np.where(forward[:, None], rows, rows[:, ::-1])[live]
    products = (q64[live][:, None] * path_values.astype(np.float64)).ravel()  # (column, position) order
    path_rows = path_rows.ravel()
    adds = side * products > 0
    products, path_rows = products[adds], path_rows[adds]
    # The flat layout is already (column, position) order, so a stable sort on
    # the product alone yields (-side*product, column, position).
    order = np.argsort(-side * products, kind="stable")[:M]
    return path_rows[order], products[order]


def _min_side_steps(max_products: np.ndarray, min_products: np.ndarray, M: int) -> np.ndarray:
    """Rule 3: the iteration (0-based) in which each adding min-side pick happens.

    The max side adds its t-th pick in iteration t; the min side adds its next
    pick in every iteration that starts with R >= 0.  Only R needs a scalar loop
    (float64 in contract order); it ends when the min side is spent or blocked
    for good (max side spent and R < 0).
    """
    a, b = len(max_products), len(min_products)
    steps = np.empty(b, dtype=np.int64)
    maxp, minp = max_products.tolist(), min_products.tolist()
    R, k, t = 0.0, 0, 0
    while t < M and k < b:
        go = not R < 0.0
        if t >= a and not go:
            break
        if t < a:
            R += maxp[t]
        if go:
            R += minp[k]
            steps[k] = t
            k += 1
        t += 1
    return steps[:k]


def _blocked_iterations(max_products: np.ndarray, min_products: np.ndarray, M: int) -> int:
    """Rule 3: how many of the M iterations start with R < 0 (their min side is blocked).

    ``max_products`` / ``min_products`` are the adding picks of each side in pick order (the max
    side adds its t-th in iteration t; the min side its next one in every iteration it is not
    blocked). Once neither side can add any more, R is constant: the remaining iterations are all
    blocked or none is.
    """
    a, b = len(max_products), len(min_products)
    maxp, minp = max_products.tolist(), min_products.tolist()
    R, k, t, blocked = 0.0, 0, 0, 0
    while t < M and (t < a or k < b):
        go = not R < 0.0
        if t >= a and not go:
            break  # blocked for good: only the max side could raise R, and it is spent
        blocked += 0 if go else 1
        if t < a:
            R += maxp[t]
        if go and k < b:
            R += minp[k]
            k += 1
        t += 1
    return blocked + (M - t if R < 0.0 else 0)


def _pointer_moves_fast(q, sorted_values, sorted_rows, M, min_skip: bool) -> tuple[int, int]:
    """Fast form of ``reference.pointer_moves``: each side moves min(M, d' n) times, the min side
    only in the iterations the skip does not block (R replayed over the adding picks)."""
    q = _as_f32("q", q, (1,))
    M = _check_M(M)
    values, rows = _check_table(sorted_values, sorted_rows, q.shape[0], np.asarray(sorted_values).shape[-1])
    live = int(np.count_nonzero(q)) * values.shape[1]
    if not min_skip:
        return min(M, live), min(M, live)
    q64 = q.astype(np.float64)
    _, max_products = _side_picks(q64, values, rows, M, +1)
    _, min_products = _side_picks(q64, values, rows, M, -1)
    return min(M, live), min(M - _blocked_iterations(max_products, min_products, M), live)
