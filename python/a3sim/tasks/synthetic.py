"""Synthetic attention workloads for scaling studies (no task meaning).

* :func:`planted`: every query is built around one "planted" key, ``q = alpha * K[p] + noise``;
  ``alpha`` sets how peaked the softmax is (table below). Keys are rows of N(0, I) scaled to unit
  length by default (``normalize=True``), and the noise is N(0, noise**2 / d) per coordinate (about
  ``noise`` in norm). With unit keys the planted score exceeds every other score's alpha term
  (``k_i . k_p <= 1 = k_p . k_p``), so for a fixed seed the planted key's softmax weight is
  non-decreasing in alpha *for every query*: the random draws do not depend on alpha, only their
  mix does. With ``normalize=False`` keys have norm about sqrt(d) and this no longer holds exactly.
* :func:`uniform`: Q, K, V uniform in [-1, 1] with Q scaled by ``q_scale`` (default 1/sqrt(d), as
  a transformer would); the softmax is then close to uniform. Use it to stress the datapath only.

Arrays are 2-D (``Q (m, d)``, ``K (n, d)``, ``V (n, d)``, float32); add a batch axis (``Q[None]``)
for an :class:`a3sim.nn.attention.AttentionBackend`, or use :func:`run_planted`.

Peakedness for n = 320, d = 64, m = 256, noise = 1, seed 0 (:func:`alpha_table`; exact attention):

=====  ===================  ===============  ===========
alpha  mass on planted key  top-1 = planted  output hits
=====  ===================  ===============  ===========
0      0.003                0.00             0.00
2      0.022                1.00             0.00
4      0.132                1.00             0.08
5      0.278                1.00             0.78
6      0.489                1.00             1.00
8      0.850                1.00             1.00
12     0.994                1.00             1.00
16     1.000                1.00             1.00
=====  ===================  ===============  ===========

"mass" is the mean softmax weight of the planted key, "top-1" the fraction of queries whose largest
score is the planted key's, "output hits" the fraction whose output is closest to V[planted]
(:func:`planted_hits`). The planted key has the largest score from alpha ~ 1 on, but the output only
lands nearest V[planted] once the planted key holds about a third of the mass or more: alpha 4-8 is
the range where an approximation's dropped mass shows. (Table: ``python -m a3sim.tasks.synthetic``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from a3sim.nn.attention import AttentionBackend, NumpyAttention

__all__ = ["PlantedResult", "alpha_table", "planted", "planted_hits", "planted_mass", "run_planted", "uniform"]


def planted(
    n: int, d: int, m: int, *, alpha: float, seed: int = 0, noise: float = 1.0, normalize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Planted-key workload: ``(Q (m, d), K (n, d), V (n, d), planted_idx (m,))``.

    ``K`` rows ~ N(0, I), scaled to unit norm if ``normalize``; ``V`` rows ~ N(0, I) (not
    normalised); ``planted_idx`` uniform in [0, n); ``Q[i] = alpha * K[planted_idx[i]] + eps_i``,
    ``eps_i ~ N(0, noise**2 / d * I)``. The random draws depend on ``(n, d, m, seed)`` only, not on
    ``alpha`` or ``noise``, so workloads that differ in alpha share keys, values and noise.
    """
    if n < 1 or d < 1 or m < 1:
        raise ValueError("n, d and m must be positive")
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((n, d))
    V = rng.standard_normal((n, d))
    idx = rng.integers(0, n, size=m)
    eps = rng.standard_normal((m, d)) / np.sqrt(d)
    if normalize:
        K /= np.linalg.norm(K, axis=1, keepdims=True)
    Q = alpha * K[idx] + noise * eps
    return Q.astype(np.float32), K.astype(np.float32), V.astype(np.float32), idx


def uniform(
    n: int, d: int, m: int, seed: int = 0, *, q_scale: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Datapath stress: ``Q (m, d)``, ``K (n, d)``, ``V (n, d)`` uniform in [-1, 1), float32.

    Q is multiplied by ``q_scale`` (default ``1/sqrt(d)``, the usual attention scale, folded in as
    A3 expects); scores then have standard deviation about 1/3 and the softmax is nearly uniform.
    Pass ``q_scale=1`` for raw scores (standard deviation sqrt(d)/3).
    """
    rng = np.random.default_rng(seed)
    K = rng.uniform(-1.0, 1.0, (n, d))
    V = rng.uniform(-1.0, 1.0, (n, d))
    Q = rng.uniform(-1.0, 1.0, (m, d)) * (1.0 / np.sqrt(d) if q_scale is None else q_scale)
    return Q.astype(np.float32), K.astype(np.float32), V.astype(np.float32)


def planted_mass(Q: np.ndarray, K: np.ndarray, planted_idx: np.ndarray) -> np.ndarray:
    """Exact softmax weight of the planted key for every query (host computation, ``(m,)``)."""
    S = np.asarray(Q, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T
    S -= S.max(axis=1, keepdims=True)
    P = np.exp(S)
    P /= P.sum(axis=1, keepdims=True)
    return P[np.arange(len(planted_idx)), planted_idx]


def planted_hits(O: np.ndarray, V: np.ndarray, planted_idx: np.ndarray) -> np.ndarray:
    """Boolean ``(m,)``: is output row i closer (Euclidean) to ``V[planted_idx[i]]`` than to any
    other row of V? Ties count as misses only if another row is strictly closer."""
    O = np.asarray(O, dtype=np.float64).reshape(len(planted_idx), -1)
    V = np.asarray(V, dtype=np.float64)
    D = (O * O).sum(1)[:, None] - 2.0 * O @ V.T + (V * V).sum(1)[None, :]
    own = D[np.arange(len(planted_idx)), planted_idx]
    return (D >= own[:, None] - 1e-9 * np.abs(own[:, None]).clip(1.0)).all(axis=1)


@dataclass
class PlantedResult:
    """Metrics of one planted-key run: fraction of output hits, mean exact planted mass, fraction of
    queries whose largest exact score is the planted key's, and the output ``(m, d)``."""

    hits: float
    mass: float
    top1: float
    output: np.ndarray


def run_planted(
    attention: AttentionBackend | None = None,
    *,
    n: int = 320,
    d: int = 64,
    m: int = 256,
    alpha: float = 6.0,
    seed: int = 0,
    noise: float = 1.0,
    normalize: bool = True,
) -> PlantedResult:
    """Generate a planted workload, run it through ``attention`` (one call, B = 1) and score it."""
    backend = NumpyAttention() if attention is None else attention
    Q, K, V, idx = planted(n, d, m, alpha=alpha, seed=seed, noise=noise, normalize=normalize)
    O = np.asarray(backend(Q[None], K[None], V[None], layer=0))[0]
    S = Q @ K.T
    return PlantedResult(
        hits=float(planted_hits(O, V, idx).mean()),
        mass=float(planted_mass(Q, K, idx).mean()),
        top1=float((S.argmax(axis=1) == idx).mean()),
        output=O,
    )


def alpha_table(
    alphas: Sequence[float] = (0, 2, 4, 5, 6, 8, 12, 16),
    *,
    n: int = 320,
    d: int = 64,
    m: int = 256,
    seed: int = 0,
    noise: float = 1.0,
    attention: AttentionBackend | None = None,
) -> list[tuple[float, float, float, float]]:
    """Rows ``(alpha, planted mass, top-1 = planted, output hits)`` showing how alpha sets peakedness."""
    rows = []
    for a in alphas:
        r = run_planted(attention, n=n, d=d, m=m, alpha=a, seed=seed, noise=noise)
        rows.append((float(a), r.mass, r.top1, r.hits))
    return rows


if __name__ == "__main__":
    print("alpha  mass    top1   hits")
    for a, mass, top1, hits in alpha_table():
        print(f"{a:5g}  {mass:.4f}  {top1:.3f}  {hits:.3f}")
