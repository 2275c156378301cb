"""Pluggable attention backends for the numpy networks in :mod:`a3sim.nn`.

A backend is any callable with the signature of :class:`AttentionBackend`::

    out = backend(Q, K, V, layer=0)

* ``Q``: ``(B, m, d)``, ``K`` and ``V``: ``(B, n, d)``; each leading index ``b`` is one independent
  attention (for example one head of one sentence, or one story of a memory network).
* Any softmax scale (such as ``1/sqrt(d)``) is already folded into ``Q`` by the caller, as the A3
  device expects (A3-SPEC section 1).
* Returns ``softmax(Q @ K^T) @ V`` of shape ``(B, m, d)``.
* ``layer`` names the network layer (or memory hop) the call comes from, so that a backend can apply
  per-layer policies and keep per-layer statistics.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AttentionBackend(Protocol):
    """What a numpy network calls to compute attention."""

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        ...


def softmax_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Exact batched attention ``softmax(Q K^T) V`` with the row maximum subtracted.

    Works on ``(..., m, d)`` queries against ``(..., n, d)`` keys/values and keeps the input dtype.
    """
    S = Q @ np.swapaxes(K, -1, -2)
    S -= S.max(axis=-1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=-1, keepdims=True)
    return S @ V


class NumpyAttention:
    """Exact attention on the host CPU with numpy (the reference backend)."""

    name = "numpy"

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        return softmax_attention(Q, K, V)
