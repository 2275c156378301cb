"""What a call cost (:class:`CallRecord`) and the host's merge of tile results (log-sum-exp)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..energy import CallCosts, Coefficients
from ..protocol import MODES, PHASES, ROW_STATS_DTYPE, Mode, Opcode

if TYPE_CHECKING:
    from ..device import Device
    from .plan import CallAddresses, CallPlan


#: Bytes of one query's row stats.
ROW_STATS_BYTES = ROW_STATS_DTYPE.itemsize


def merge_tiles(outs: list[np.ndarray], row_stats: list[np.ndarray]) -> np.ndarray:
    """Exact attention from per-tile partial results (``docs/spec.md`` 2, tiles beyond n_max).

    ``outs[t]`` is (rows, d) float32, the softmax output over tile t alone; ``row_stats[t]`` holds
    each row's ``s_max`` and ``sum_exp`` over that tile. Tile t weighs
    ``sum_exp_t * exp(s_max_t - max over tiles of s_max)``. Returns (rows, d) float32.
    """
    if len(outs) == 1:
        return outs[0].copy()
    mx = np.stack([s["s_max"] for s in row_stats]).astype(np.float64)
    se = np.stack([s["sum_exp"] for s in row_stats]).astype(np.float64)
    wt = se * np.exp(mx - mx.max(axis=0))
    acc = np.zeros(outs[0].shape)
    for t, o in enumerate(outs):
        acc += wt[t][:, None] * o
    return (acc / wt.sum(axis=0)[:, None]).astype(np.float32)


class CallRows(NamedTuple):
    """A call's job and phase trace rows as copied out of the recorder in one native call: the
    bytes (job rows, then phase rows), the row counts and the row dtypes."""

    raw: bytes
    jobs: int
    phases: int
    job_dtype: np.dtype
    phase_dtype: np.dtype

    def only_unit(self, unit: int) -> CallRows:
        """The rows of one unit's jobs (calls on several units interleave in the trace tables)."""
        jobs, phases = self.decode()
        jobs = jobs[jobs["unit"] == unit]
        phases = phases[phases["unit"] == unit]
        raw = jobs.tobytes() + phases.tobytes()
        return CallRows(raw, len(jobs), len(phases), self.job_dtype, self.phase_dtype)

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """The job rows and the phase rows as structured arrays (read-only views of the bytes)."""
        jobs = np.frombuffer(self.raw, self.job_dtype, self.jobs)
        phases = np.frombuffer(self.raw, self.phase_dtype, self.phases, self.jobs * self.job_dtype.itemsize)
        return jobs, phases


class CallRecord(CallCosts):
    """What one ``attention`` call cost on the simulated device.

    Times are simulated nanoseconds. ``latency_ns`` runs from the doorbell write to the interrupt's
    delivery to the host (summed over the call's doorbells when the queue had to be filled more
    than once); it never includes the host's stores. ``host_store_ns`` is the host time the call's
    timed stores took (queries, K/V arrays, sorted tables, descriptors; ``host_stores = 1``, else 0),
    and ``end_to_end_ns`` their sum: the time of the call as the host sees it. ``phases`` sums each
    phase's duration over the call's jobs; compute stages of one job overlap (they are pipelined),
    so their sum may exceed the latency. The call's job and phase rows are copied (as bytes) at the
    end of the call; they are decoded, and every derived figure computed, on first access.
    """

    def __init__(
        self,
        plan: CallPlan,
        latency_ns: float,
        rows: CallRows,
        row_stats: list[np.ndarray],
        cycle_ns: float,
        costs: Coefficients | None = None,
    ) -> None:
        self._plan = plan
        self._costs = costs  # energy coefficients and stage/sorting views: a3sim.energy.CallCosts
        self.latency_ns = latency_ns
        self.host_store_ns = 0.0  # set by the driver (docs/memory-model.md section 7)
        self._rows = rows
        self._raw_stats = row_stats  # uint8 copies, decoded on first access
        self._cycle_ns = cycle_ns
        self._bitmaps: list[tuple[int, np.ndarray]] = []
        self._sets: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    # ---- what the call was (from its plan) ----
    @property
    def mode(self) -> str:
        """ "exact", "approx" or "post_only"."""
        return MODES[int(self._plan.mode)]

    @property
    def m(self) -> int:
        """Queries of the call (B * m for a batch)."""
        return self._plan.B * self._plan.m

    @property
    def n(self) -> int:
        """Keys."""
        return self._plan.n

    @property
    def d(self) -> int:
        """Columns of q, K and V."""
        return self._plan.d

    @property
    def tiles(self) -> int:
        """K/V tiles of the call (``docs/spec.md`` 2)."""
        return len(self._plan.tiles)

    @property
    def M(self) -> int | list[int] | None:
        """Candidate-selection iterations (approx mode): one value, or one per tile if they differ."""
        if self._plan.mode != Mode.APPROX:
            return None
        M_used = self._plan.M
        return M_used[0] if len(set(M_used)) == 1 else list(M_used)

    @property
    def T(self) -> float | None:
        """Post-scoring threshold (approximate modes)."""
        return self._plan.T if self._plan.mode != Mode.EXACT else None

    # ---- the rows, decoded on first access ----
    @cached_property
    def _jobs(self) -> np.ndarray:
        return self._rows.decode()[0]

    @cached_property
    def _phases(self) -> np.ndarray:
        return self._rows.decode()[1]

    @cached_property
    def _stats(self) -> list[np.ndarray]:
        return [np.frombuffer(s, ROW_STATS_DTYPE) for s in self._raw_stats]

    def __repr__(self) -> str:
        return (
            f"CallRecord(mode={self.mode!r}, m={self.m}, n={self.n}, d={self.d}, tiles={self.tiles}, "
            f"latency_ns={self.latency_ns:.1f}, bytes_read={self.bytes_read}, "
            f"bytes_written={self.bytes_written})"
        )

    @property
    def end_to_end_ns(self) -> float:
        """``host_store_ns + latency_ns``: from the call's first timed store to its interrupt."""
        return self.host_store_ns + self.latency_ns

    @cached_property
    def jobs(self) -> np.ndarray:
        """Ids of the device jobs of this call (rows of ``trace.job_summary()``)."""
        return self._jobs["job"].astype(np.int64)

    @cached_property
    def bytes_read(self) -> int:
        """Bytes the DMA engine read for this call (descriptors, K/V, sorted tables, queries)."""
        return int(self._jobs["bytes_rd"].sum())

    @cached_property
    def bytes_written(self) -> int:
        """Bytes the DMA engine wrote for this call (outputs, row stats, set bitmaps, completions)."""
        return int(self._jobs["bytes_wr"].sum())

    @cached_property
    def phases(self) -> dict[str, float]:
        """Phase name -> duration in ns, summed over the call's jobs."""
        ph = self._phases
        dur = (ph["t_end_ps"] - ph["t_start_ps"]) / 1000.0
        sums = np.bincount(ph["phase"], weights=dur, minlength=len(PHASES))
        return {PHASES[i]: float(sums[i]) for i in range(len(PHASES)) if sums[i] > 0}

    @cached_property
    def compute_cycles(self) -> int:
        """Sum over the call's jobs of the pipeline makespan (``docs/spec.md`` 3.6), in cycles."""
        return int(self._jobs["compute_cycles"].sum())

    @property
    def compute_ns(self) -> float:
        """:attr:`compute_cycles` in simulated nanoseconds."""
        return self.compute_cycles * self._cycle_ns

    @cached_property
    def n_candidates(self) -> np.ndarray:
        """|C| per query (summed over tiles)."""
        return np.sum([s["n_cand"].astype(np.int64) for s in self._stats], axis=0)

    @cached_property
    def n_selected(self) -> np.ndarray:
        """|SEL| per query (summed over tiles)."""
        return np.sum([s["n_sel"].astype(np.int64) for s in self._stats], axis=0)

    @cached_property
    def query_latency_ns(self) -> float:
        """Latency of one query through the compute pipeline (the first query of each ATTEND job,
        averaged): the sum of its stage cycles, against the throughput set by the slowest stage."""
        j = self._jobs[self._jobs["opcode"] == Opcode.ATTEND]
        return float(j["first_latency_cycles"].mean()) * self._cycle_ns if len(j) else 0.0

    @property
    def throughput_qps(self) -> float:
        """Queries per simulated second while computing (the pipeline's throughput)."""
        return self.m / (self.compute_ns * 1e-9) if self.compute_ns > 0 else float("inf")

    def _decode(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if self._sets is None:
            if not self._bitmaps:
                raise AttributeError("this call did not collect candidate sets (pass sets=True)")
            cands: list[list[np.ndarray]] = [[] for _ in range(self.m)]
            sels: list[list[np.ndarray]] = [[] for _ in range(self.m)]
            for row0, words in self._bitmaps:
                m, _, w = words.shape
                bits = np.unpackbits(words.view(np.uint8).reshape(m, 2, w * 4), axis=2, bitorder="little")
                for i in range(m):
                    cands[i].append(np.flatnonzero(bits[i, 0]) + row0)
                    sels[i].append(np.flatnonzero(bits[i, 1]) + row0)
            self._sets = ([np.concatenate(c) for c in cands], [np.concatenate(s) for s in sels])
        return self._sets

    @property
    def candidates(self) -> list[np.ndarray]:
        """Per query, the candidate rows C (ascending), as the device produced them."""
        return self._decode()[0]

    @property
    def selected(self) -> list[np.ndarray]:
        """Per query, the selected rows SEL (ascending), as the device produced them."""
        return self._decode()[1]


def collect(
    dev: Device,
    f32: np.ndarray,
    plan: CallPlan,
    addr: CallAddresses,
    latency: float,
    rows: CallRows,
    cycle_ns: float,
    costs: Coefficients | None = None,
    shape: tuple[int, ...] | None = None,
    views: tuple[np.ndarray | None, list[memoryview]] | None = None,
) -> tuple[np.ndarray, CallRecord]:
    """A finished call's outputs (merged over tiles, shape (B, m, d), or ``shape``: the same
    values) and its record. ``f32`` is the device's DRAM as float32 words; ``addr`` holds the device
    addresses of the per-tile outputs, stats and set bitmaps; ``rows`` the call's job and phase
    trace rows; ``views`` (optional) the output buffer of a one-tile call as a view of ``shape``
    and each tile's row stats as bytes (``addr`` gives them otherwise)."""
    B, m, d = plan.B, plan.m, plan.d
    rows_all = B * m
    base = dev.dram_base
    if views is None:
        nb = rows_all * ROW_STATS_BYTES
        mv = dev.dram_bytes
        out_view, stats_views = None, [mv[a - base : a - base + nb] for a in addr.stats]
        if len(addr.outs) == 1:
            w = (addr.outs[0] - base) >> 2
            out_view = f32[w : w + rows_all * d].reshape(shape or (B, m, d))
    else:
        out_view, stats_views = views
    # The arena is reused by the next call: copy the outputs and row stats now (the stats as bytes,
    # decoded when read).
    raw_stats = [v.tobytes() for v in stats_views]
    if out_view is not None:
        out = out_view.copy()
    else:
        stats = [np.frombuffer(r, ROW_STATS_DTYPE) for r in raw_stats]
        outs = [dev.view(a, np.float32, rows_all * d).reshape(rows_all, d) for a in addr.outs]
        out = merge_tiles(outs, stats).reshape(shape or (B, m, d))
    rec = CallRecord(plan, latency, rows, raw_stats, cycle_ns, costs)
    if plan.want_sets:
        for t, (r0, _) in enumerate(plan.tiles):
            w = plan.words[t]
            bm = dev.view(addr.sets[t], np.uint32, rows_all * 2 * w).reshape(rows_all, 2, w).copy()
            rec._bitmaps.append((r0, bm))
    return out, rec
