"""Pluggable attention backends for the numpy networks in :mod:`a3sim.nn`.

A backend is any callable with the signature of :class:`AttentionBackend`::

    out = backend(Q, K, V, layer=0)

* ``Q``: ``(B, m, d)``, ``K`` and ``V``: ``(B, n, d)``; each leading index ``b`` is one independent
  attention (for example one head of one sentence, or one story of a memory network).
* Any softmax scale (such as ``1/sqrt(d)``) is already folded into ``Q`` by the caller, as the A3
  device expects (``docs/spec.md`` 1).
* Returns ``softmax(Q @ K^T) @ V`` of shape ``(B, m, d)``.
* ``layer`` names the network layer (or memory hop) the call comes from, so that a backend can apply
  per-layer policies and keep per-layer statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

import numpy as np

from .._native import Formula
from ..energy import TABLE_I

if TYPE_CHECKING:
    from ..driver import A3Driver


@runtime_checkable
class AttentionBackend(Protocol):
    """What a numpy network calls to compute attention."""

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray: ...


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


@dataclass
class LayerStats:
    """What one layer's attention cost on the simulated A3 (sums over the backend's calls)."""

    calls: int = 0
    heads: int = 0
    queries: int = 0
    """Offloads, attention heads (batch items) and queries sent to the device."""
    latency_ns: float = field(default=0.0, metadata={"unit": "ns"})
    compute_ns: float = field(default=0.0, metadata={"unit": "ns"})
    base_compute_ns: float = field(default=0.0, metadata={"unit": "ns"})
    """Simulated doorbell-to-interrupt time, pipeline compute time, and what base A3 would take."""
    bytes_read: int = 0
    bytes_written: int = 0
    """DMA traffic."""
    candidates: int = 0
    selected: int = 0
    keys: int = 0
    """Sums over queries of |C|, |SEL| and n."""
    host_calls: int = 0
    """Calls the layer policy kept on the host."""
    energy_pj: float = 0.0
    base_energy_pj: float = 0.0
    unit_energy_pj: float = 0.0
    base_unit_energy_pj: float = 0.0
    compute_energy_pj: float = 0.0
    base_compute_energy_pj: float = 0.0
    """Energy (pJ) of the device and of base A3 on the same calls: whole jobs with DRAM and bus,
    the A3 unit's whole jobs, and the compute pipeline (the paper's scope; a3sim.energy)."""

    @property
    def gain(self) -> float:
        """Modelled compute throughput gain over base A3 (exact pipeline) on the same calls."""
        return self.base_compute_ns / self.compute_ns if self.compute_ns else float("nan")

    @property
    def energy_gain(self) -> float:
        """Modelled energy efficiency over base A3 on the same calls, DRAM and bus included
        (a3sim.energy.base_a3_rows)."""
        return self.base_energy_pj / self.energy_pj if self.energy_pj else float("nan")

    @property
    def unit_energy_gain(self) -> float:
        """The same for the A3 unit alone (Table I components), the paper's scope."""
        return self.base_unit_energy_pj / self.unit_energy_pj if self.unit_energy_pj else float("nan")

    @property
    def compute_energy_gain(self) -> float:
        """The same for the compute pipeline alone (ATTEND jobs, static power over compute time):
        the scope of the paper's Fig. 15a (docs/energy-model.md)."""
        return self.base_compute_energy_pj / self.compute_energy_pj if self.compute_energy_pj else float("nan")


class A3Attention:
    """Offloads attention to the simulated A3 through an :class:`~a3sim.driver.A3Driver`.

    Each call sends all heads of the batch in one submission (``A3Driver.attention_batch``): per
    head one LOAD_KV of its K/V and ATTEND jobs carrying all of its queries.

    ``mode``, ``preset``, ``M`` and ``T`` apply to every layer unless ``layers`` says otherwise:
    ``layers`` maps a layer index to ``"host"`` (computed on the host with numpy), to a mode name,
    or to a dict of keyword arguments for the driver (e.g. ``{"mode": "approx", "preset":
    "aggressive"}``). Statistics per layer accumulate in :attr:`stats`.
    """

    name = "a3"

    def __init__(
        self,
        driver: A3Driver | None = None,
        *,
        mode: str = "exact",
        preset: str | None = None,
        M: int | None = None,
        T: float | None = None,
        layers: Mapping[int, Any] | None = None,
    ) -> None:
        if driver is None:
            from ..driver import A3Driver

            driver = A3Driver()
        self.driver = driver
        self.default: dict[str, Any] = {"mode": mode}
        if mode != "exact":
            self.default.update({k: v for k, v in (("preset", preset), ("M", M), ("T", T)) if v is not None})
        elif preset is not None or M is not None or T is not None:
            from ..errors import ParameterError

            raise ParameterError("preset, M and T apply to the approx and post_only modes")
        self.layers: dict[int, Any] = dict(layers or {})
        self.stats: dict[int, LayerStats] = {}
        self._host = NumpyAttention()

    def policy(self, layer: int) -> dict[str, Any] | None:
        """The driver keyword arguments used for ``layer``, or None when it runs on the host."""
        p = self.layers.get(layer, self.default)
        if p == "host" or p is None:
            return None
        if isinstance(p, str):
            return {"mode": p}
        return dict(p)

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        st = self.stats.setdefault(layer, LayerStats())
        kw = self.policy(layer)
        if kw is None:
            st.host_calls += 1
            return self._host(Q, K, V, layer=layer)
        out, rec = self.driver.attention_batch(Q, K, V, sets=False, **kw)
        B, m, _ = Q.shape
        n, d = K.shape[1], K.shape[2]
        st.calls += 1
        st.heads += B
        st.queries += B * m
        st.keys += B * m * n
        st.latency_ns += rec.latency_ns
        st.compute_ns += rec.compute_ns
        st.base_compute_ns += B * base_compute_ns(self.driver, m, n, d)
        st.bytes_read += rec.bytes_read
        st.bytes_written += rec.bytes_written
        st.candidates += int(rec.n_candidates.sum())
        st.selected += int(rec.n_selected.sum())
        base = rec.base_energy_pj
        st.energy_pj += rec.energy_total_pj
        st.base_energy_pj += sum(base.values())
        st.unit_energy_pj += rec.unit_energy_pj
        st.base_unit_energy_pj += sum(base[c] for c in TABLE_I)
        st.compute_energy_pj += rec.compute_energy_total_pj
        st.base_compute_energy_pj += rec.base_compute_energy_pj
        return out.astype(Q.dtype, copy=False)

    def total(self) -> LayerStats:
        """Sums over all layers."""
        t = LayerStats()
        for s in self.stats.values():
            for f in fields(LayerStats):
                setattr(t, f.name, getattr(t, f.name) + getattr(s, f.name))
        return t

    def reset(self) -> None:
        self.stats.clear()


def base_compute_ns(driver: A3Driver, m: int, n: int, d: int) -> float:
    """Compute time (ns) of base A3 (the exact pipeline) for m queries against n x d keys: the
    cycles of the driver's own :class:`~a3sim.driver.CallPlan` for that call, three modules per
    query (``docs/spec.md`` 2, 3.6)."""
    native = driver.device.native
    cycles = driver.plan_exact(m, n, d).base_compute_cycles(
        lambda rows: (
            native.timing(Formula.DOT, rows),
            native.timing(Formula.EXPONENT, rows),
            native.timing(Formula.OUTPUT, rows),
        )
    )
    return cycles * 1000.0 / driver.device.cfg("clock_mhz")
