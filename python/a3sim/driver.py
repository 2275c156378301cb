"""The host driver: offloads attention to the simulated A3 the way real software would.

It programs the descriptor and completion queues through MMIO, writes K/V, queries and descriptors
into host memory (the simulated DRAM), rings the doorbell, lets the simulation run until the
interrupt, reads the completion records and outputs, and acknowledges the interrupt. K/V that do
not fit the SRAM banks are cut into tiles; the partial softmax results of the tiles are merged on
the host with the log-sum-exp rule, which gives exact attention.

    drv = A3Driver()
    out, rec = drv.attention(q, K, V)          # q: (d,) or (m, d)
    ctx = drv.load(K, V)                       # K/V resident across calls
    out, rec = drv.attention(q, ctx, mode="approx", preset="conservative")
"""
from __future__ import annotations

import itertools
import math
import weakref
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from . import errors as E
from .config import ConfigLike
from .device import Block, Device
from .protocol import (
    COMPLETION_DTYPE, CTRL_ENABLE, CTRL_SOFT_RESET, DESCRIPTOR_DTYPE, DEVICE_ID, DEVICE_VERSION, FLAG_IRQ,
    FLAG_ROW_STATS, FLAG_SETS,
    IRQ_DONE, IRQ_ERROR, MODES, PHASES, ROW_STATS_DTYPE, Mode, Opcode, Reg, set_words,
)
from .trace import Trace

#: Presets of the approximation: M as a fraction of n (per tile), and T. Calibrated by
#: ``a3sim calibrate --out docs/calibration.md`` on MemN2N qa2/qa3 and the WordNet tasks: the
#: setting with the largest modelled gain whose worst task loss stays within the paper's figures
#: (conservative <= 1.6, aggressive <= 9 points of accuracy). See docs/calibration.md.
PRESETS: dict[str, dict[str, float]] = {
    "conservative": {"M_frac": 0.875, "T": 0.1},
    "aggressive": {"M_frac": 0.5, "T": 0.3},
}

_ctx_ids = itertools.count(1)
_RS = ROW_STATS_DTYPE.itemsize  # bytes of one query's row stats


# ---- input checking ---------------------------------------------------------------------------------
def _as_f32(name: str, x: Any, ndim: Sequence[int]) -> np.ndarray:
    """Check an array argument and return it as C-contiguous float32."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # e.g. ragged lists
            raise E.ShapeError(f"{name} cannot be read as an array: {exc}") from None
    if x.dtype not in (np.float32, np.float64):
        raise E.DTypeError(
            f"{name} has dtype {x.dtype}; the device takes float32 or float64 "
            f"(convert with {name}.astype(np.float32))"
        )
    if x.ndim not in ndim:
        want = " or ".join(f"{k}-D" for k in ndim)
        raise E.ShapeError(f"{name} must be {want}, got shape {x.shape}")
    if x.size == 0:
        raise E.EmptyInputError(f"{name} is empty (shape {x.shape}); n, d and m must be at least 1")
    # A finite sum means every element is finite; only otherwise look element by element.
    if not math.isfinite(x.sum()) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise E.NonFiniteError(
            f"{name} holds a non-finite value ({x[tuple(bad)]}) at index {tuple(int(i) for i in bad)}; "
            "the device computes on finite float32 data"
        )
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_M(M: Any) -> int:
    if isinstance(M, bool) or not isinstance(M, (int, np.integer, float, np.floating)):
        raise E.ParameterError(f"M must be a non-negative integer, got {M!r}")
    if isinstance(M, (float, np.floating)):
        if not math.isfinite(M) or M != int(M):
            raise E.ParameterError(f"M must be a non-negative integer, got {M!r}")
    if M < 0:
        raise E.ParameterError(f"M must be a non-negative integer (iterations of candidate selection), got {M}")
    if M >= 2**63:
        raise E.ParameterError(f"M = {M} is too large")
    return int(M)


def _check_T(T: Any) -> float:
    try:
        t = float(T)
    except (TypeError, ValueError):
        raise E.ParameterError(f"T must be a number in [0, 1], got {T!r}") from None
    if not (0.0 <= t <= 1.0):  # also rejects NaN
        raise E.ParameterError(f"T must be in [0, 1] (the post-scoring threshold on exp(s - s_max)), got {T!r}")
    # The descriptor carries T as float32: use that value everywhere (records, references).
    return float(np.float32(t))


# ---- records -----------------------------------------------------------------------------------------
class CallRecord:
    """What one ``attention`` call cost on the simulated device.

    Times are simulated nanoseconds. ``latency_ns`` runs from the doorbell write to the interrupt's
    delivery to the host (summed over the call's doorbells when the queue had to be filled more
    than once). ``phases`` sums each phase's duration over the call's jobs; compute stages of one
    job overlap (they are pipelined), so their sum may exceed the latency. Derived figures are
    computed on first access from the call's job and phase rows (copied at the end of the call).
    """

    def __init__(self, *, mode: str, m: int, n: int, d: int, tiles: int, M: "int | list[int] | None",
                 T: float | None,
                 latency_ns: float, job_rows: np.ndarray, phase_rows: np.ndarray, row_stats: list[np.ndarray],
                 cycle_ns: float) -> None:
        self.mode, self.m, self.n, self.d, self.tiles, self.M, self.T = mode, m, n, d, tiles, M, T
        self.latency_ns = latency_ns
        self._jobs = job_rows
        self._phases = phase_rows
        self._stats = row_stats
        self._cycle_ns = cycle_ns
        self._bitmaps: list[tuple[int, np.ndarray]] = []
        self._sets: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    def __repr__(self) -> str:
        return (f"CallRecord(mode={self.mode!r}, m={self.m}, n={self.n}, d={self.d}, tiles={self.tiles}, "
                f"latency_ns={self.latency_ns:.1f}, bytes_read={self.bytes_read}, "
                f"bytes_written={self.bytes_written})")

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
        """Sum over the call's jobs of the pipeline makespan (A3-SPEC 3.6), in cycles."""
        return int(self._jobs["compute_cycles"].sum())

    @property
    def compute_ns(self) -> float:
        return self.compute_cycles * self._cycle_ns

    @cached_property
    def stage_cycles(self) -> dict[str, int]:
        """Busy cycles per compute stage, summed over queries and jobs."""
        j = self._jobs
        return {
            "candidate_selection": int(j["cyc_cand_sel"].sum()),
            "dot_product": int(j["cyc_dot"].sum()),
            "exp_output": int(j["cyc_exp_out"].sum()),
            "sort": int(j["cyc_sort"].sum()),
        }

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
        j = self._jobs[self._jobs["opcode"] == 2]
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


def _tiles(n: int, n_max: int) -> list[tuple[int, int]]:
    """Balanced row ranges of at most n_max rows covering [0, n)."""
    count = -(-n // n_max)
    size = -(-n // count)
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _write_sorted(dev: Device, address: int, Kt: np.ndarray) -> None:
    """Sort K on the host (A3-SPEC 3.1: each column descending, ties to the lower row) and write the
    device's table layout at ``address``: d x n float32 values, then d x n uint32 rows."""
    rows, d = Kt.shape
    order = np.argsort(-Kt, axis=0, kind="stable")  # stable: equal values keep the lower row first
    values = np.take_along_axis(Kt, order, axis=0)
    dev.view(address, np.float32, rows * d)[:] = values.T.ravel()
    dev.view(address + rows * d * 4, np.uint32, rows * d)[:] = order.T.ravel()
    dev.timed_store(address, rows * d * 8, "sorted")  # memory hook (issue 11): timed host stores


class KVContext:
    """K/V held in device memory (and in the SRAM banks while resident) across calls.

    Created by :meth:`A3Driver.load`. ``close()`` (or the context manager, or garbage collection)
    frees its device memory.
    """

    def __init__(self, driver: "A3Driver", K: np.ndarray, V: np.ndarray) -> None:
        self.id = next(_ctx_ids)
        self.n, self.d = K.shape
        dev = driver.device
        self.tiles = _tiles(self.n, int(dev.cfg("n_max")))
        self._device = dev
        self._blocks: list[Block] = []
        self._kv_addr: list[tuple[int, int]] = []
        self._sorted_addr: list[int | None] = [None] * len(self.tiles)
        for r0, r1 in self.tiles:
            rows = r1 - r0
            try:
                blk = dev.alloc(2 * rows * self.d * 4)
            except E.OutOfDeviceMemory:
                KVContext._release(dev, self._blocks)  # give back the tiles placed so far
                raise
            self._blocks.append(blk)
            ka, va = blk.address, blk.address + rows * self.d * 4
            dev.view(ka, np.float32, rows * self.d)[:] = K[r0:r1].ravel()
            dev.view(va, np.float32, rows * self.d)[:] = V[r0:r1].ravel()
            dev.timed_store(ka, rows * self.d * 4, "K"), dev.timed_store(va, rows * self.d * 4, "V")  # memory hook
            self._kv_addr.append((ka, va))
        self._finalizer = weakref.finalize(self, KVContext._release, dev, list(self._blocks))

    @staticmethod
    def _release(dev: Device, blocks: list[Block]) -> None:
        for b in blocks:
            dev.free(b)

    def sorted_table(self, t: int) -> int:
        """Device address of tile t's sorted-key table, sorting on the host on first use
        (A3-SPEC 3.1: each column descending, ties to the lower row)."""
        addr = self._sorted_addr[t]
        if addr is None:
            r0, r1 = self.tiles[t]
            rows = r1 - r0
            # Sort the copy in device memory: the caller may have changed its array since load().
            Kt = self._device.view(self._kv_addr[t][0], np.float32, rows * self.d).reshape(rows, self.d)
            blk = self._device.alloc(rows * self.d * 8)
            self._blocks.append(blk)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, KVContext._release, self._device, list(self._blocks))
            _write_sorted(self._device, blk.address, Kt)
            self._sorted_addr[t] = addr = blk.address
        return addr

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Free the context's device memory."""
        self._finalizer()

    def __enter__(self) -> "KVContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KVContext(id={self.id}, n={self.n}, d={self.d}, tiles={len(self.tiles)})"


class _Arena:
    """A grow-only block of device memory reused by every call for queries and results."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.block: Block | None = None
        self.top = 0

    def reserve(self, nbytes: int) -> None:
        if self.block is None or self.block.size < nbytes:
            old = self.block.size if self.block is not None else 0
            if self.block is not None:
                self.device.free(self.block)
                self.block = None
            self.block = self.device.alloc(max(nbytes, 1 << 20, 2 * old))
        self.top = 0

    def take(self, nbytes: int) -> int:
        assert self.block is not None
        addr = self.block.address + self.top
        self.top += -(-nbytes // 256) * 256
        return addr


class A3Driver:
    """Host driver of one A3 unit of the process's simulated SoC.

    ``A3Driver()`` builds the default platform on first use (once per process);
    ``A3Driver(config={...})`` overrides hardware parameters (docs/configuration.md).
    """

    def __init__(self, config: ConfigLike = None, *, unit: int = 0, queue_entries: int = 256,
                 timeout_ns: float = 1e13) -> None:
        self.device = Device.open(config)
        if not 0 <= unit < self.device.units:
            raise E.ConfigError(f"unit {unit} does not exist: the platform has {self.device.units} unit(s)")
        if not 2 <= queue_entries <= 65536:
            raise E.ConfigError(f"queue_entries must be in [2, 65536], got {queue_entries}")
        self.unit = unit
        self.timeout_ns = float(timeout_ns)
        self.trace = Trace(self.device)
        dev = self.device
        self._state = dev.unit_state[unit]
        self._base = dev.reg_address(unit, 0)
        # Probe the unit as host software would: identify it, then read its capabilities.
        ident, version = self.read_reg(Reg.ID), self.read_reg(Reg.VERSION)
        if ident != DEVICE_ID or (version >> 16) != (DEVICE_VERSION >> 16):
            raise E.PlatformError(f"unit {unit} answers ID {ident:#x} version {version:#x}; this driver "
                                  f"expects ID {DEVICE_ID:#x} version {DEVICE_VERSION >> 16}.x")
        self.n_max = self.read_reg(Reg.CAP_N_MAX)
        self.d_max = self.read_reg(Reg.CAP_D_MAX)
        self.q_rows = self.read_reg(Reg.CAP_Q_ROWS)
        self._device_sorter = dev.cfg("device_sorter") != 0
        self._cycle_ns = 1000.0 / dev.cfg("clock_mhz")
        self._snap = np.zeros(8, np.uint64)
        self._snap_addr = int(self._snap.ctypes.data)
        self._snap_fn = dev.api.snapshot
        self._write_and_wait = dev.api.write_and_wait
        self._arena = _Arena(dev)
        # Queues: descriptors and completions in host memory.
        self.sq_size = self.cq_size = queue_entries
        self._sq_block = dev.alloc(64 * self.sq_size)
        self._cq_block = dev.alloc(32 * self.cq_size)
        self._sq = dev.view(self._sq_block.address, DESCRIPTOR_DTYPE, self.sq_size)
        self._cq = dev.view(self._cq_block.address, COMPLETION_DTYPE, self.cq_size)
        self._cq_phase_col = self._cq["phase"]
        self._cq_status_col = self._cq["status"]
        self._f32 = dev.dram.view(np.float32)
        self._sq[:] = np.zeros(1, DESCRIPTOR_DTYPE)
        self._reset_queues()  # also clears the completion ring
        self._finalizer = weakref.finalize(self, A3Driver._release, dev, [self._sq_block, self._cq_block],
                                           self._arena)

    @staticmethod
    def _release(dev: Device, blocks: list[Block], arena: _Arena) -> None:
        for b in blocks:
            dev.free(b)
        if arena.block is not None:
            dev.free(arena.block)
            arena.block = None

    # ---- registers ----
    def read_reg(self, reg: int) -> int:
        """Read a register of this driver's unit."""
        return self.device.mmio_read(self._base + int(reg))

    def write_reg(self, reg: int, value: int) -> None:
        """Write a register of this driver's unit."""
        self.device.mmio_write(self._base + int(reg), value)

    def _reset_queues(self) -> None:
        """Soft-reset the unit and program its queues (the driver's probe sequence)."""
        w = self.write_reg
        # Let any work in flight finish, so that the soft reset applies at once.
        while self.read_reg(Reg.STATUS) & 1:
            self.device.run(self.timeout_ns)
        w(Reg.CTRL, CTRL_SOFT_RESET)
        # Stale records of an earlier owner must not look like new completions.
        self._cq[:] = np.zeros(1, COMPLETION_DTYPE)
        w(Reg.SQ_BASE_LO, self._sq_block.address & 0xFFFFFFFF)
        w(Reg.SQ_BASE_HI, self._sq_block.address >> 32)
        w(Reg.SQ_SIZE, self.sq_size)
        w(Reg.CQ_BASE_LO, self._cq_block.address & 0xFFFFFFFF)
        w(Reg.CQ_BASE_HI, self._cq_block.address >> 32)
        w(Reg.CQ_SIZE, self.cq_size)
        w(Reg.IRQ_ENABLE, IRQ_DONE | IRQ_ERROR)
        w(Reg.CTRL, CTRL_ENABLE)
        self._sq_tail = 0
        self._cq_head = 0
        self._cq_phase = 1
        self._tag = 0
        self._state.resident = None
        self._state.sorted_resident = False
        self._state.owner = weakref.ref(self)  # weak: the device must not keep drivers alive

    def _owns_unit(self) -> bool:
        owner = self._state.owner
        return owner is not None and owner() is self

    def _ensure_owner(self) -> None:
        if not self._owns_unit():
            # Another driver reprogrammed the unit since: take it back.
            self._reset_queues()

    # ---- public API ----
    def load(self, K: Any, V: Any) -> KVContext:
        """Copy K and V (n x d) into device memory, to stay there across calls."""
        K = _as_f32("K", K, (2,))
        V = _as_f32("V", V, (2,))
        self._check_kv(K, V)
        return KVContext(self, K, V)

    def _check_kv(self, K: np.ndarray, V: np.ndarray) -> None:
        if K.shape != V.shape:
            raise E.ShapeError(f"K and V must have the same shape (n, d); got K {K.shape} and V {V.shape}")
        if K.shape[1] > self.d_max:
            raise E.ShapeError(
                f"d = {K.shape[1]} exceeds the datapath width d_max = {self.d_max}; "
                "project K/V/q to at most d_max columns, or build the platform with a larger d_max"
            )

    def attention(self, q: Any, K: Any, V: Any = None, *, mode: str = "exact", M: Any = None, T: Any = None,
                  preset: str | None = None, sets: bool | None = None) -> tuple[np.ndarray, CallRecord]:
        """Attention of q against K/V (arrays, or a :class:`KVContext` from :meth:`load`).

        ``q`` is (d,) or (m, d); the result has the same shape and dtype. No scale is applied: fold
        any 1/sqrt(d) into q. ``mode`` is "exact", "approx" or "post_only" (A3-SPEC 3.4); in the
        approximate modes ``preset`` ("conservative", "aggressive") gives M and T, and explicit
        ``M`` / ``T`` override it. ``sets`` asks the device for each query's candidate and selected
        rows (default: on in the approximate modes).
        """
        self._ensure_owner()
        mode_id, M_val, T_val, M_frac = self._check_mode(mode, M, T, preset)
        q_in = q
        q = _as_f32("q", q, (1, 2))
        single = q.ndim == 1
        Q = q.reshape(1, -1) if single else q
        if isinstance(K, KVContext):
            if V is not None:
                raise E.ShapeError("pass V only with a K array, not with a KVContext")
            ctx, Ka, Va = K, None, None
            if ctx.closed:
                raise E.A3InputError("the KVContext is closed")
            kd = ctx.d
        else:
            if V is None:
                raise E.ShapeError("V is missing: pass K and V arrays, or a KVContext from load()")
            ctx = None
            Ka = _as_f32("K", K, (2,))
            Va = _as_f32("V", V, (2,))
            self._check_kv(Ka, Va)
            kd = Ka.shape[1]
        if Q.shape[1] != kd:
            raise E.ShapeError(f"q has d = {Q.shape[1]} but K/V have d = {kd}")
        out, rec = self._run_call(Q, ctx, Ka, Va, mode_id, M_val, M_frac, T_val,
                                  sets if sets is not None else mode_id != Mode.EXACT)
        out_dtype = np.asarray(q_in).dtype if isinstance(q_in, np.ndarray) else np.float32
        if out_dtype != np.float32:
            out = out.astype(out_dtype)
        return (out[0] if single else out), rec

    def _check_mode(self, mode: str, M: Any, T: Any, preset: str | None):
        if mode not in MODES:
            raise E.ParameterError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        mode_id = Mode(MODES.index(mode))
        if isinstance(preset, Mapping):
            custom = dict(preset)
            if set(custom) - {"M_frac", "T"} or "M_frac" not in custom:
                raise E.ParameterError(f"a custom preset is a dict with M_frac (and T); got {preset!r}")
            frac = float(custom["M_frac"])
            if not (math.isfinite(frac) and frac >= 0):
                raise E.ParameterError(f"M_frac must be a finite number >= 0; got {frac!r}")
            preset_vals = {"M_frac": frac, "T": _check_T(custom.get("T", 0.0))}
        elif preset is not None and preset not in PRESETS:
            raise E.ParameterError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
        else:
            preset_vals = None
        M_val = _check_M(M) if M is not None else None
        T_val = _check_T(T) if T is not None else None
        if mode_id == Mode.EXACT:
            if preset is not None or M is not None or T is not None:
                raise E.ParameterError("M, T and preset apply to the approx and post_only modes, not to exact")
            return mode_id, 0, 0.0, None
        p = preset_vals or PRESETS[preset or "conservative"]
        M_frac = p["M_frac"] if M_val is None else None
        if T_val is None:
            T_val = p["T"]
        return mode_id, (M_val or 0), T_val, M_frac

    def attention_batch(self, Q: Any, K: Any, V: Any, *, mode: str = "exact", M: Any = None, T: Any = None,
                        preset: str | None = None, sets: bool | None = None) -> tuple[np.ndarray, CallRecord]:
        """B independent attentions in one submission: Q (B, m, d) against K, V (B, n, d).

        Item b is ``attention(Q[b], K[b], V[b])``: its own LOAD_KV, then ATTEND jobs for its m
        queries. All descriptors go out with one doorbell and one interrupt, so a network's heads
        cost one Python round trip per layer. The record covers the whole batch: ``m`` is B * m and
        the per-query arrays are in item order.
        """
        self._ensure_owner()
        mode_id, M_val, T_val, M_frac = self._check_mode(mode, M, T, preset)
        dtype = np.asarray(Q).dtype
        Qa = _as_f32("Q", Q, (3,))
        Ka = _as_f32("K", K, (3,))
        Va = _as_f32("V", V, (3,))
        if Ka.shape != Va.shape:
            raise E.ShapeError(f"K and V must have the same shape (B, n, d); got K {Ka.shape} and V {Va.shape}")
        if Qa.shape[0] != Ka.shape[0] or Qa.shape[2] != Ka.shape[2]:
            raise E.ShapeError(f"Q {Qa.shape} and K {Ka.shape} must agree in B and d")
        self._check_kv(Ka[0], Va[0])
        out, rec = self._run_call(Qa, None, Ka, Va, mode_id, M_val, M_frac, T_val,
                                  sets if sets is not None else mode_id != Mode.EXACT)
        if dtype in (np.float64,):
            out = out.astype(dtype)
        return out, rec

    # ---- the call ----
    def _run_call(self, Q: np.ndarray, ctx: "KVContext | None", K: np.ndarray | None, V: np.ndarray | None,
                  mode: Mode, M: int, M_frac: float | None, T: float,
                  want_sets: bool) -> tuple[np.ndarray, CallRecord]:
        """Plan, submit and collect one call. Q is (m, d) with a context or (B, m, d) with K, V of
        shape (B, n, d); returns outputs of Q's shape."""
        dev = self.device
        batched = Q.ndim == 3
        if not batched:
            Q = Q[None]
            if K is not None:
                K, V = K[None], V[None]
        B, m, d = Q.shape
        q_rows = self.q_rows
        approx = mode == Mode.APPROX
        if ctx is not None:
            tiles, n = ctx.tiles, ctx.n
        else:
            n = K.shape[1]
            tiles = _tiles(n, self.n_max)
        ntiles = len(tiles)
        # Buffers in the arena: queries, per item and tile outputs, stats and set bitmaps, and the
        # K/V (and sorted tables) of a call that passed arrays rather than a context.
        words = [set_words(r1 - r0) for r0, r1 in tiles]
        per_item = ntiles * (m * d * 4 + m * _RS + 512) + (sum(2 * m * w * 4 + 256 for w in words) if want_sets else 0)
        if ctx is None:
            per_item += n * d * (16 if approx else 8) + 768 * ntiles
        arena = self._arena
        arena.reserve(B * (m * d * 4 + per_item) + 512)
        f32 = self._f32
        base = dev.dram_base
        qa = arena.take(B * m * d * 4)
        f32[(qa - base) >> 2: ((qa - base) >> 2) + B * m * d] = Q.ravel()
        dev.timed_store(qa, B * m * d * 4, "Q")  # memory hook (issue 11): timed host stores
        # outs[t], stats[t], setsa[t]: one region per tile holding all items, item b at row b * m.
        outs = [arena.take(B * m * d * 4) for _ in tiles]
        stats = [arena.take(B * m * _RS) for _ in tiles]
        setsa = [arena.take(B * 2 * m * w * 4) if want_sets else 0 for w in words]

        # Descriptors: (opcode, mode, flags, tag, n, d, m, T, M, addr_a, addr_b, addr_c, addr_d)
        descs: list[tuple] = []
        M_used: list[int] = []
        st = self._state
        device_sorter = self._device_sorter
        flags = FLAG_ROW_STATS | (FLAG_SETS if want_sets else 0)
        for b in range(B):
            for t, (r0, r1) in enumerate(tiles):
                rows = r1 - r0
                key = (ctx.id, t) if ctx is not None else None
                if key is None or st.resident != key:
                    if ctx is not None:
                        ka, va = ctx._kv_addr[t]
                    else:
                        ka = arena.take(rows * d * 4)
                        va = arena.take(rows * d * 4)
                        f32[(ka - base) >> 2: ((ka - base) >> 2) + rows * d] = K[b, r0:r1].ravel()
                        f32[(va - base) >> 2: ((va - base) >> 2) + rows * d] = V[b, r0:r1].ravel()
                        dev.timed_store(ka, rows * d * 4, "K"), dev.timed_store(va, rows * d * 4, "V")  # memory hook
                    descs.append((1, 0, 0, 0, rows, d, 0, 0.0, 0, ka, va, 0, 0))
                    st.resident, st.sorted_resident = key, False
                if approx and not st.sorted_resident:
                    if not device_sorter:
                        if ctx is not None:
                            sa = ctx.sorted_table(t)
                        else:
                            sa = arena.take(rows * d * 8)
                            _write_sorted(dev, sa, K[b, r0:r1])
                        descs.append((3, 0, 0, 0, rows, d, 0, 0.0, 0, sa, 0, 0, 0))
                    st.sorted_resident = True
                Mt = M if M_frac is None else int(math.ceil(M_frac * rows))
                if b == 0:
                    M_used.append(Mt)
                w = words[t]
                for c0 in range(0, m, q_rows):
                    mc = min(q_rows, m - c0)
                    row = b * m + c0
                    descs.append((2, int(mode), flags, 0, rows, d, mc, T, Mt, qa + row * d * 4, outs[t] + row * d * 4,
                                  stats[t] + row * _RS, (setsa[t] + row * 2 * w * 4) if want_sets else 0))
        # Submit in batches that fit the queue.
        snap = self._snapshot()
        job0, phase0 = int(snap[0] + snap[1]), int(snap[2])
        t_host = float(snap[4]) / 1000.0
        latency = 0.0
        failures: list[np.void] = []
        cap = self.sq_size - 1
        for b0 in range(0, len(descs), cap):
            lat, fails = self._submit(descs[b0: b0 + cap], t_host if b0 == 0 else None)
            latency += lat
            failures.extend(fails)
        if failures:
            self._raise(failures)

        # Results.
        rows_all = B * m
        row_stats = [dev.view(a, ROW_STATS_DTYPE, rows_all).copy() for a in stats]
        if ntiles == 1:
            out = dev.view(outs[0], np.float32, rows_all * d).reshape(B, m, d).copy()
        else:
            mx = np.empty((ntiles, rows_all))
            se = np.empty((ntiles, rows_all))
            for t in range(ntiles):
                mx[t], se[t] = row_stats[t]["s_max"], row_stats[t]["sum_exp"]
            # log-sum-exp merge: tile t weighs sum_exp_t * exp(s_max_t - max over tiles of s_max)
            wt = se * np.exp(mx - mx.max(axis=0))
            acc = np.zeros((rows_all, d))
            for t in range(ntiles):
                acc += wt[t][:, None] * dev.view(outs[t], np.float32, rows_all * d).reshape(rows_all, d)
            out = (acc / wt.sum(axis=0)[:, None]).astype(np.float32).reshape(B, m, d)
        tr = self.trace
        rec = CallRecord(mode=MODES[int(mode)], m=rows_all, n=n, d=d, tiles=ntiles,
                         M=(M_used[0] if len(set(M_used)) == 1 else M_used) if mode == Mode.APPROX else None,
                         T=T if mode != Mode.EXACT else None, latency_ns=latency,
                         job_rows=tr.rows("job", job0 - int(self._snap[0])), phase_rows=tr.rows("phase", phase0),
                         row_stats=row_stats, cycle_ns=self._cycle_ns)
        if want_sets:
            for t, (r0, r1) in enumerate(tiles):
                bm = dev.view(setsa[t], np.uint32, rows_all * 2 * words[t]).reshape(rows_all, 2, words[t]).copy()
                rec._bitmaps.append((r0, bm))
        return (out if batched else out[0]), rec

    def _snapshot(self) -> np.ndarray:
        self._snap_fn(self._snap_addr)
        return self._snap

    def _submit(self, descs: list[tuple], t_host: float | None = None) -> tuple[float, list[np.void]]:
        """Write descriptors to the queue, ring the doorbell once, run until they all complete.
        ``t_host`` is the host time (ns) if no MMIO happened since it was read."""
        dev = self.device
        k = len(descs)
        sq = self._sq
        tail = self._sq_tail
        size = self.sq_size
        tag = self._tag
        last = k - 1
        for i, dsc in enumerate(descs):
            tag = (tag + 1) & 0xFFFFFFFF
            flags = dsc[2] | (FLAG_IRQ if i == last else 0)
            sq[tail] = (dsc[0], dsc[1], flags, tag) + dsc[4:]
            dev.timed_store(self._sq_block.address + 64 * tail, 64, "descriptor")  # memory hook (issue 11)
            tail = tail + 1 if tail + 1 < size else 0
        self._tag = tag
        self._sq_tail = tail
        t_bell = t_host if t_host is not None else float(self._snapshot()[4]) / 1000.0
        irq = self._write_and_wait(self._base + Reg.SQ_TAIL, tail, self.timeout_ns)
        if irq < 0:
            raise E.MmioError("doorbell write failed", self._base + Reg.SQ_TAIL, irq)
        # Collect k completions.
        got = 0
        failures: list[np.void] = []
        while True:
            got += self._drain(k - got, failures)
            if got >= k:
                break
            if not irq:
                self._idle_with_work(k - got, k)
            self.write_reg(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
            irq = dev.run(self.timeout_ns)
        latency = float(self._snapshot()[5]) / 1000.0 - t_bell
        self.write_reg(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
        self.write_reg(Reg.CQ_HEAD, self._cq_head)
        return latency, failures

    def _drain(self, limit: int, failures: list[np.void]) -> int:
        """Consume up to ``limit`` new completion records (phase-bit protocol); append the failed
        ones to ``failures``; return how many were consumed."""
        phase = self._cq_phase_col
        status = self._cq_status_col
        head = self._cq_head
        count = 0
        while count < limit and phase[head] == self._cq_phase:
            if status[head]:
                failures.append(self._cq[head].copy())
            count += 1
            head += 1
            if head == self.cq_size:
                head = 0
                self._cq_phase ^= 1
        self._cq_head = head
        return count

    def _idle_with_work(self, missing: int, k: int) -> None:
        """The device stopped with descriptors incomplete: a queue error (no completion record can
        say so) or a model bug. Re-probe the unit so that the driver stays usable, then raise."""
        status = self.read_reg(Reg.STATUS)
        code = (status >> 8) & 0xFF
        name, msg = self.device.errors.get(code, ("UNKNOWN", "unknown status"))
        self._reset_queues()
        if status & 2 and name in ("QUEUE_CONFIG", "CQ_OVERFLOW"):
            raise E.QueueError(f"device error {name} ({code}): {msg}; {missing} of {k} descriptors lost; "
                               "the driver re-programmed the queues", code=code, name=name)
        raise E.PlatformError(f"the device went idle with {missing} of {k} descriptors incomplete "
                              f"(STATUS={status:#x}); the driver re-programmed the queues")

    def _raise(self, failures: list[np.void]) -> None:
        c = failures[0]
        code = int(c["status"])
        name, msg = self.device.errors.get(code, ("UNKNOWN", "unknown status"))
        # What the banks hold is no longer known.
        self._state.resident = None
        self._state.sorted_resident = False
        cls = E.ERROR_CLASSES.get(name, E.DeviceError)
        more = f" ({len(failures) - 1} more descriptor(s) of this call failed)" if len(failures) > 1 else ""
        raise cls(f"device error {name} ({code}): {msg}; descriptor tag {int(c['tag'])}, "
                  f"detail {int(c['detail']):#x}{more}", code=code, name=name, tag=int(c["tag"]),
                  detail=int(c["detail"]))

    # ---- housekeeping ----
    def perf_counters(self) -> dict[str, int]:
        """The unit's 64-bit performance counters (docs/register-map.md)."""
        from .protocol import PERF_COUNTERS, perf_offset

        out = {}
        for name in PERF_COUNTERS:
            lo = self.read_reg(perf_offset(name))
            hi = self.read_reg(perf_offset(name) + 4)
            out[name] = (hi << 32) | lo
        return out

    def close(self) -> None:
        """Free the driver's queues and buffers (the platform stays)."""
        if self._owns_unit():
            self.write_reg(Reg.CTRL, 0)
            self._state.owner = None
            self._state.resident = None
        self._finalizer()
