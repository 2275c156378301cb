"""Several A3 units working at once: independent jobs (the heads of a layer) spread across the
units of the platform, all doorbells rung before the simulation runs, and the host waiting on
every unit's interrupt.

    from a3sim.multi_unit import MultiUnitDriver
    mu = MultiUnitDriver(units=4)                       # builds the platform with units=4
    out, rec = mu.attention_batch(Q, K, V)              # Q (B, m, d), K/V (B, n, d): heads spread
    rec.makespan_ns, rec.per_unit                       # first doorbell -> last interrupt

Each unit is driven by its own :class:`a3sim.driver.A3Driver` (``A3Driver(unit=k)``), unchanged,
through its submit/collect split: the host submits each unit's call (``submit_batch``: data,
descriptors, doorbell, no simulation), then runs the simulation until an interrupt, reads the
``IRQ_STATUS`` of each waiting unit (an interrupt service routine's MMIO reads) and lets the
drivers of the finished units take their completions (``PendingCall.advance``: drain, acknowledge,
the next doorbell if a call needs more than one ring's worth), until every unit is done; then it
collects each call's outputs and record (``collect``). One thread; the coordinator holds the
device lock for the whole call, so no other thread can use the device meanwhile.

``MultiUnitDriver`` offers what :class:`a3sim.nn.attention.A3Attention` needs of a driver
(``attention_batch``, ``device``, ``trace``, ``q_rows``, ``n_max``), so the networks of
:mod:`a3sim.nn` run on several units unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import errors as E
from .config import ConfigLike
from .device import Device
from .driver import A3Driver, CallRecord
from .driver.call import PendingCall
from .protocol import IRQ_DONE, IRQ_ERROR, Reg


@dataclass
class MultiCallRecord:
    """One multi-unit call: the per-unit driver records and the call's makespan.

    ``latency_ns`` (= ``makespan_ns``) runs from the host time of the first doorbell to the delivery
    of the last unit's interrupt; per-job times are in the trace's job table."""

    per_unit: dict[int, CallRecord]
    t_first_doorbell_ns: float
    t_last_irq_ns: float
    unit_done_ns: dict[int, float] = field(default_factory=dict)

    @property
    def makespan_ns(self) -> float:
        return self.t_last_irq_ns - self.t_first_doorbell_ns

    @property
    def latency_ns(self) -> float:
        return self.makespan_ns

    @property
    def compute_ns(self) -> float:
        """Compute time summed over units (busy time of the pipelines, not wall time)."""
        return float(sum(r.compute_ns for r in self.per_unit.values()))

    @property
    def bytes_read(self) -> int:
        return int(sum(r.bytes_read for r in self.per_unit.values()))

    @property
    def bytes_written(self) -> int:
        return int(sum(r.bytes_written for r in self.per_unit.values()))

    @property
    def jobs(self) -> np.ndarray:
        return np.concatenate([r.jobs for r in self.per_unit.values()]) if self.per_unit else np.zeros(0, np.int64)

    @property
    def energy_pj(self) -> dict[str, float]:
        """Energy by component (pJ), summed over the units' records (a3sim.energy.CallCosts)."""
        return _sum_dicts(r.energy_pj for r in self.per_unit.values())

    @property
    def base_energy_pj(self) -> dict[str, float]:
        """Base A3's estimated energy by component for the same calls, summed over the units."""
        return _sum_dicts(r.base_energy_pj for r in self.per_unit.values())

    @property
    def energy_total_pj(self) -> float:
        return float(sum(r.energy_total_pj for r in self.per_unit.values()))

    @property
    def unit_energy_pj(self) -> float:
        return float(sum(r.unit_energy_pj for r in self.per_unit.values()))

    @property
    def compute_energy_pj(self) -> dict[str, float]:
        """Compute-pipeline energy by Table I component (pJ, the paper's scope), summed over the
        units' records (a3sim.energy.CallCosts)."""
        return _sum_dicts(r.compute_energy_pj for r in self.per_unit.values())

    @property
    def compute_energy_total_pj(self) -> float:
        return float(sum(r.compute_energy_total_pj for r in self.per_unit.values()))

    @property
    def base_compute_energy_pj(self) -> float:
        """Base A3's compute-pipeline energy for the same calls, summed over the units."""
        return float(sum(r.base_compute_energy_pj for r in self.per_unit.values()))

    @property
    def host_store_ns(self) -> float:
        """Host time of the call's timed stores (``host_stores = 1``), summed over the units' parts."""
        return float(sum(r.host_store_ns for r in self.per_unit.values()))

    @property
    def n_candidates(self) -> np.ndarray:
        return np.concatenate([r.n_candidates for _, r in sorted(self.per_unit.items())])

    @property
    def n_selected(self) -> np.ndarray:
        return np.concatenate([r.n_selected for _, r in sorted(self.per_unit.items())])


def _sum_dicts(parts: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


class MultiUnitDriver:
    """Drives every A3 unit of the platform; spreads independent heads across them.

    ``MultiUnitDriver(units=N, config=...)`` builds (or reuses) the platform with N units (one
    platform per process) and one :class:`A3Driver` per unit. ``spread`` is ``"block"`` (unit k
    takes a contiguous block of heads, as even as possible) or ``"round_robin"``."""

    def __init__(
        self, units: int | None = None, config: ConfigLike = None, *, spread: str = "block", timeout_ns: float = 1e13
    ) -> None:
        if isinstance(config, dict) or config is None:
            cfg = dict(config or {})
            if units is not None:
                cfg["units"] = units
            config = cfg
        self.device = Device.open(config)
        n = self.device.units
        if units is not None and units != n:
            raise E.ConfigError(f"the platform of this process has {n} unit(s), not {units}")
        if spread not in ("block", "round_robin"):
            raise E.ParameterError(f"spread must be 'block' or 'round_robin', got {spread!r}")
        self.spread = spread
        self.drivers = [A3Driver(unit=k, timeout_ns=timeout_ns) for k in range(n)]
        self.timeout_ns = timeout_ns
        d0 = self.drivers[0]
        self.trace, self.q_rows, self.n_max, self.d_max = d0.trace, d0.q_rows, d0.n_max, d0.d_max

    @property
    def units(self) -> int:
        return len(self.drivers)

    def plan_exact(self, m: int, n: int, d: int):  # noqa: ANN201 - a CallPlan
        """The plan of one exact call on one unit (the cost model of base A3 reads it)."""
        return self.drivers[0].plan_exact(m, n, d)

    def assign(self, B: int) -> list[np.ndarray]:
        """Head indices of each unit for a batch of B heads."""
        n = min(self.units, B)
        if self.spread == "round_robin":
            return [np.arange(k, B, n) for k in range(n)]
        return [a for a in np.array_split(np.arange(B), n)]

    def run_parallel(
        self, calls: dict[int, Callable[[A3Driver], PendingCall]]
    ) -> tuple[dict[int, Any], MultiCallRecord]:
        """Run one call per unit concurrently on the simulated platform: ``calls[k](driver_k)``
        submits unit k's call (``driver.submit`` or ``driver.submit_batch``) and returns its
        :class:`PendingCall`. Every doorbell is rung before the simulation runs. Returns each unit's
        ``(out, CallRecord)`` and the record of the whole."""
        with self.device.lock:
            return self._run_parallel(calls)

    def _run_parallel(
        self, calls: dict[int, Callable[[A3Driver], PendingCall]]
    ) -> tuple[dict[int, Any], MultiCallRecord]:
        dev = self.device
        errors: dict[int, BaseException] = {}
        pending: dict[int, PendingCall] = {}
        done_ns: dict[int, float] = {}
        # Submit every unit's call: data, descriptors and doorbell, in unit order.
        for k, fn in sorted(calls.items()):
            try:
                pending[k] = fn(self.drivers[k])
            except BaseException as exc:  # noqa: BLE001 - raised below, after the other units
                errors[k] = exc
        t_first = min((p.t_doorbell_ns for p in pending.values()), default=dev.host_now_ns())
        waiting = sorted(k for k, p in pending.items() if not p.done)

        def advance(k: int, irq: int) -> None:
            try:
                if pending[k].advance(irq):
                    waiting.remove(k)
            except BaseException as exc:  # noqa: BLE001
                errors[k] = exc
                waiting.remove(k)

        # Wait on every unit's interrupt: run, then serve the units whose IRQ_STATUS says so.
        while waiting:
            irq = dev.run(self.timeout_ns)
            released = False
            for k in list(waiting):
                if self.drivers[k].read_reg(Reg.IRQ_STATUS) & (IRQ_DONE | IRQ_ERROR):
                    done_ns[k] = dev.last_irq_ns()
                    released = True
                    advance(k, 1)
            if not released and not irq:
                for k in list(waiting):  # nothing left to simulate: let the drivers report it
                    advance(k, 0)
        # Collect: the job and phase rows of all units' calls in one copy, each driver keeps its own.
        live = {k: p for k, p in pending.items() if k not in errors}
        rows = None
        if live:
            rows = self.drivers[0]._rows.read(min(p.job0 for p in live.values()), min(p.phase0 for p in live.values()))
        results: dict[int, Any] = {}
        for k, p in sorted(live.items()):
            try:
                results[k] = self.drivers[k]._finish(p, rows)  # under the device lock (held here)
            except BaseException as exc:  # noqa: BLE001
                errors[k] = exc
        if errors:
            raise errors[min(errors)]
        per_unit = {k: r[1] for k, r in results.items()}
        t_last = max(done_ns.values()) if done_ns else dev.last_irq_ns()
        return results, MultiCallRecord(per_unit, t_first, t_last, done_ns)

    def attention_batch(self, Q: Any, K: Any, V: Any, **kw: Any) -> tuple[np.ndarray, MultiCallRecord]:
        """B independent attentions (Q (B, m, d) against K, V (B, n, d)) spread over the units:
        unit k runs ``attention_batch`` on its share of the heads. Outputs in head order."""
        Q, K, V = np.asarray(Q), np.asarray(K), np.asarray(V)
        if Q.ndim != 3:
            raise E.ShapeError(f"Q must be 3-D (B, m, d), got shape {Q.shape}")
        parts = self.assign(Q.shape[0])
        calls = {
            k: (lambda drv, idx=idx: drv.submit_batch(Q[idx], K[idx], V[idx], **kw))
            for k, idx in enumerate(parts)
            if len(idx)
        }
        results, rec = self.run_parallel(calls)
        out = None
        for k, idx in enumerate(parts):
            o = results[k][0]
            if out is None:
                out = np.empty((Q.shape[0],) + o.shape[1:], dtype=o.dtype)
            out[idx] = o
        return out, rec


__all__ = ["MultiUnitDriver", "MultiCallRecord"]
