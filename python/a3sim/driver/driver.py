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

:class:`A3Driver` only orchestrates: :mod:`.checks` validates, :mod:`.plan` plans the call,
:mod:`.queue` talks to the rings, :mod:`.context` owns device memory, :mod:`.record` reports.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, Unpack

import numpy as np

from .. import errors as E
from ..config import ConfigLike
from ..device import Block, Device
from ..energy import Coefficients
from ..protocol import (
    DEVICE_ID,
    DEVICE_VERSION,
    FEAT_DEVICE_SORTER,
    FEAT_FIXED_POINT,
    FEAT_MIN_SKIP,
    PERF_COUNTERS,
    QUEUE_ENTRIES_MIN,
    RES_KV,
    RES_SORTED,
    Mode,
    Reg,
    perf_offset,
)
from ..trace import Trace
from .checks import CallOptions, ModeParams, as_f32, call_options, check_kv, check_overflow
from .context import Arena, KVContext, write_sorted
from .plan import CallPlan, Descriptor, Op, exact_plan, plan_call, resident_key
from .queue import Rings, device_error
from .record import CallRecord, collect

#: Descriptor and completion ring entries of a driver unless it asks for others.
DEFAULT_QUEUE_ENTRIES = 256
VERSION_MAJOR_SHIFT = 16
P = ParamSpec("P")
R = TypeVar("R")


def _serialised(method: Callable[P, R]) -> Callable[P, R]:
    """Run a public driver method under the device's lock, and only while the driver is open."""

    @functools.wraps(method)
    def call(self: A3Driver, *args: Any, **kwargs: Any) -> Any:
        with self.device.lock:
            if self._closed:
                raise E.DriverClosedError(f"this driver is closed: {method.__name__}() refused; make a new A3Driver")
            return method(self, *args, **kwargs)

    return call  # type: ignore[return-value]


def _release(dev: Device, blocks: list[Block], arena: Arena) -> None:
    for b in blocks:
        dev.free(b)
    arena.release()


class A3Driver:
    """Host driver of one A3 unit of the process's simulated SoC.

    ``A3Driver()`` builds the default platform on first use (once per process);
    ``A3Driver(config={...})`` overrides hardware parameters (docs/configuration.md).
    """

    def __init__(
        self,
        config: ConfigLike = None,
        *,
        unit: int = 0,
        queue_entries: int = DEFAULT_QUEUE_ENTRIES,
        timeout_ns: float = 1e13,
    ) -> None:
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)):
            raise E.ArgumentTypeError(f"unit must be an integer, got {unit!r}")
        if isinstance(queue_entries, bool) or not isinstance(queue_entries, (int, np.integer)):
            raise E.ArgumentTypeError(f"queue_entries must be an integer, got {queue_entries!r}")
        if isinstance(timeout_ns, bool) or not isinstance(timeout_ns, (int, float, np.integer, np.floating)):
            raise E.ArgumentTypeError(f"timeout_ns must be a number, got {timeout_ns!r}")
        if not (math.isfinite(timeout_ns) and timeout_ns > 0):
            raise E.ConfigError(f"timeout_ns must be a finite number > 0 (simulated ns), got {timeout_ns!r}")
        self._closed = True  # until the probe below succeeds
        self.device = dev = Device.open(config)
        with dev.lock:
            self._open(dev, int(unit), int(queue_entries), float(timeout_ns))

    def _open(self, dev: Device, unit: int, queue_entries: int, timeout_ns: float) -> None:
        if not 0 <= unit < dev.units:
            raise E.ConfigError(f"unit {unit} does not exist: the platform has {dev.units} unit(s)")
        self.unit = unit
        self._base = dev.reg_address(unit, 0)
        # Probe the unit as host software would: identify it, then read its capabilities.
        ident, version = self.read_reg(Reg.ID), self.read_reg(Reg.VERSION)
        if ident != DEVICE_ID or (version >> VERSION_MAJOR_SHIFT) != (DEVICE_VERSION >> VERSION_MAJOR_SHIFT):
            raise E.PlatformError(
                f"unit {unit} answers ID {ident:#x} version {version:#x}; this driver "
                f"expects ID {DEVICE_ID:#x} version {DEVICE_VERSION >> VERSION_MAJOR_SHIFT}.x"
            )
        self.n_max = self.read_reg(Reg.CAP_N_MAX)
        self.d_max = self.read_reg(Reg.CAP_D_MAX)
        self.q_rows = self.read_reg(Reg.CAP_Q_ROWS)
        self.queue_max = self.read_reg(Reg.CAP_QUEUE_MAX)
        if not QUEUE_ENTRIES_MIN <= queue_entries <= self.queue_max:
            raise E.ConfigError(
                f"queue_entries must be in [{QUEUE_ENTRIES_MIN}, {self.queue_max}], got {queue_entries}"
            )
        self.timeout_ns = timeout_ns
        self.trace = Trace(dev)
        self._state = dev.unit_state[unit]
        # What the unit implements, from CAP_FEATURES (docs/register-map.md): the device sorter, the
        # min-side skip (calls rely on it by default) and the fixed-point datapath.
        self.features = self.read_reg(Reg.CAP_FEATURES)
        self._device_sorter = bool(self.features & FEAT_DEVICE_SORTER)
        self.fixed_point = bool(self.features & FEAT_FIXED_POINT)
        self._cycle_ns = 1000.0 / dev.cfg("clock_mhz")
        self._costs = Coefficients.from_config(dev.cfg)
        self._native = dev.native
        self._arena = Arena(dev)
        self._f32 = dev.dram.view(np.float32)
        self._rings = Rings(dev, self._base, queue_entries, self.timeout_ns)
        self.sq_size = self.cq_size = queue_entries
        self._finalizer = weakref.finalize(self, _release, dev, self._rings.blocks(), self._arena)
        self._reset_queues()  # also clears the completion ring
        self._closed = False

    # ---- registers ----
    def read_reg(self, reg: int) -> int:
        """Read a register of this driver's unit."""
        with self.device.lock:
            return self.device.mmio_read(self._base + int(reg))

    def write_reg(self, reg: int, value: int) -> None:
        """Write a register of this driver's unit."""
        with self.device.lock:
            self.device.mmio_write(self._base + int(reg), value)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: the driver then refuses every call."""
        return self._closed

    def _reset_queues(self) -> None:
        """Soft-reset the unit and program its queues; what the banks hold is then unknown."""
        self._rings.program()
        self._forget_banks()
        self._state.owner = weakref.ref(self)  # weak: the device must not keep drivers alive

    def _forget_banks(self) -> None:
        """Nothing to do on the host: the unit owns bank residency (RES_* registers), a failed load
        clears it there and a soft reset too."""

    def _residency(self) -> tuple[object, bool]:
        """What the unit's banks hold, as the unit publishes it (docs/register-map.md): the plan's
        key of the K/V tile (or None) and whether its sorted-key table is loaded."""
        flags = self.read_reg(Reg.RES_FLAGS)
        if not flags & RES_KV:
            return None, False
        tag = self.read_reg(Reg.RES_KV_TAG_LO) | (self.read_reg(Reg.RES_KV_TAG_HI) << 32)
        return resident_key(tag), bool(flags & RES_SORTED)

    def _owns_unit(self) -> bool:
        owner = self._state.owner
        return owner is not None and owner() is self

    def _ensure_owner(self) -> None:
        if not self._owns_unit():
            # Another driver reprogrammed the unit since: take it back.
            self._reset_queues()

    # ---- public API ----
    @_serialised
    def load(self, K: Any, V: Any, overflow: str = "tile") -> KVContext:
        """Copy K and V (n x d) into device memory, to stay there across calls. ``overflow`` (for
        n > n_max): "tile" (default) or "stream" (exact calls only), as for :meth:`attention`."""
        K = as_f32("K", K, (2,))
        V = as_f32("V", V, (2,))
        check_kv(K, V, self.d_max)
        return KVContext(self, K, V, check_overflow(overflow))

    @_serialised
    def attention(self, q: Any, K: Any, V: Any = None, **options: Unpack[CallOptions]) -> tuple[np.ndarray, CallRecord]:
        """Attention of q against K/V (arrays, or a :class:`KVContext` from :meth:`load`).

        ``q`` is (d,) or (m, d); the result has the same shape and dtype. No scale is applied: fold
        any 1/sqrt(d) into q. ``options`` (:class:`~a3sim.driver.checks.CallOptions`): ``mode``
        "exact", "approx" or "post_only" (``docs/spec.md`` 3.4); in the approximate modes
        ``preset`` ("conservative", "aggressive", or a dict with M_frac and T) gives M and T, and
        explicit ``M`` / ``T`` override it; ``sets`` asks the device for each query's candidate and
        selected rows (default: on in the approximate modes).
        """
        self._ensure_owner()
        mp, want_sets = call_options(options)
        q_in = q
        q = as_f32("q", q, (1, 2))
        single = q.ndim == 1
        Q = q.reshape(1, -1) if single else q
        if isinstance(K, KVContext):
            if V is not None:
                raise E.ShapeError("pass V only with a K array, not with a KVContext")
            ctx, Ka, Va = K, None, None
            if ctx.closed:
                raise E.A3InputError("the KVContext is closed")
            if ctx.n > self.n_max and ctx.stream != (mp.overflow == "stream") and ("overflow" in options or mp.mode):
                raise E.ParameterError(f"this KVContext was loaded with overflow={'stream' if ctx.stream else 'tile'!r}; "
                                       "a streamed context serves exact calls only")  # fmt: skip
            kd = ctx.d
        else:
            if V is None:
                raise E.ShapeError("V is missing: pass K and V arrays, or a KVContext from load()")
            ctx = None
            Ka = as_f32("K", K, (2,))
            Va = as_f32("V", V, (2,))
            check_kv(Ka, Va, self.d_max)
            kd = Ka.shape[1]
        if Q.shape[1] != kd:
            raise E.ShapeError(f"q has d = {Q.shape[1]} but K/V have d = {kd}")
        Q3 = Q[None]
        K3, V3 = (Ka[None], Va[None]) if Ka is not None else (None, None)
        out, rec = self._run_call(Q3, ctx, K3, V3, mp, want_sets)
        out = out[0]
        out_dtype = np.asarray(q_in).dtype if isinstance(q_in, np.ndarray) else np.float32
        if out_dtype != np.float32:
            out = out.astype(out_dtype)
        return (out[0] if single else out), rec

    @_serialised
    def attention_batch(self, Q: Any, K: Any, V: Any, **options: Unpack[CallOptions]) -> tuple[np.ndarray, CallRecord]:
        """B independent attentions in one submission: Q (B, m, d) against K, V (B, n, d).

        Item b is ``attention(Q[b], K[b], V[b])``: its own LOAD_KV, then ATTEND jobs for its m
        queries. All descriptors go out with one doorbell and one interrupt, so a network's heads
        cost one Python round trip per layer. The record covers the whole batch: ``m`` is B * m and
        the per-query arrays are in item order. ``options`` as for :meth:`attention`.
        """
        self._ensure_owner()
        mp, want_sets = call_options(options)
        dtype = np.asarray(Q).dtype
        Qa = as_f32("Q", Q, (3,))
        Ka = as_f32("K", K, (3,))
        Va = as_f32("V", V, (3,))
        if Ka.shape != Va.shape:
            raise E.ShapeError(f"K and V must have the same shape (B, n, d); got K {Ka.shape} and V {Va.shape}")
        if Qa.shape[0] != Ka.shape[0] or Qa.shape[2] != Ka.shape[2]:
            raise E.ShapeError(f"Q {Qa.shape} and K {Ka.shape} must agree in B and d")
        check_kv(Ka[0], Va[0], self.d_max)
        out, rec = self._run_call(Qa, None, Ka, Va, mp, want_sets)
        if dtype in (np.float64,):
            out = out.astype(dtype)
        return out, rec

    # ---- the call ----
    def _run_call(
        self,
        Q: np.ndarray,
        ctx: KVContext | None,
        K: np.ndarray | None,
        V: np.ndarray | None,
        mp: ModeParams,
        want_sets: bool,
    ) -> tuple[np.ndarray, CallRecord]:
        """Plan, submit and collect one call: Q (B, m, d) against a context or K, V (B, n, d)."""
        B, m, d = Q.shape
        n = ctx.n if ctx is not None else K.shape[1]
        store0 = self.device.host_store_ns
        if mp.mode == Mode.APPROX and mp.min_skip and not self.features & FEAT_MIN_SKIP:
            raise E.ParameterError(
                "this unit has no min-side skip (CAP_FEATURES bit MIN_SKIP is clear): pass min_skip=False"
            )
        plan = plan_call(
            mode=mp.mode, B=B, m=m, n=n, d=d, n_max=self.n_max, q_rows=self.q_rows,
            tile_list=ctx.tiles if ctx is not None else None, ctx_id=ctx.id if ctx is not None else None,
            want_sets=want_sets, M=mp.M, M_frac=mp.M_frac, T=mp.T, min_skip=mp.min_skip,
            resident=self._residency(), device_sorter=self._device_sorter,
            stream=ctx.stream if ctx is not None else mp.overflow == "stream",
        )  # fmt: skip
        descs, addr = self._materialise(plan, Q, ctx, K, V)
        snap = self._native.snapshot()
        job0, phase0 = int(snap["job_base"] + snap["job_rows"]), int(snap["phase_rows"])
        t_host = float(snap["host_ps"]) / 1000.0
        job_base0 = int(snap["job_base"])
        latency = 0.0
        failures: list[np.void] = []
        cap = self._rings.capacity
        try:
            for b0 in range(0, len(descs), cap):
                lat, fails = self._rings.submit(descs[b0 : b0 + cap], self._host_ns, t_host if b0 == 0 else None)
                latency += lat
                failures.extend(fails)
        except E.DeviceTimeoutError:
            self._forget_banks()
            self._state.owner = None  # re-program the unit (after the work in flight) before the next call
            raise
        except BaseException:
            self._forget_banks()
            raise
        if failures:
            self._forget_banks()  # what the banks hold is no longer known
            raise device_error(failures, self.device.errors)
        rows = (self.trace.rows("job", job0 - job_base0), self.trace.rows("phase", phase0))
        out, rec = collect(self.device, plan, addr, latency, rows, self._cycle_ns, self._costs)
        rec.host_store_ns = self.device.host_store_ns - store0  # 0 unless host_stores = 1
        return out, rec

    def _host_ns(self) -> float:
        return float(self._native.snapshot()["host_ps"]) / 1000.0

    def _materialise(
        self, plan: CallPlan, Q: np.ndarray, ctx: KVContext | None, K: np.ndarray | None, V: np.ndarray | None
    ) -> tuple[list[Descriptor], dict[str, Any]]:
        """Reserve the arena, write queries, K/V and sorted tables where the plan keeps them, and
        build the descriptor records."""
        dev, lay, f32 = self.device, plan.layout, self._f32
        assert lay is not None
        self._arena.reserve(lay.reserve)
        base = self._arena.base
        d = plan.d
        qa = base + lay.queries
        w0 = (qa - dev.dram_base) >> 2
        f32[w0 : w0 + Q.size] = Q.ravel()
        dev.timed_store(qa, Q.size * 4, "Q")  # over the bus when host_stores = 1
        addr = {
            "outs": [base + o for o in lay.outs],
            "stats": [base + o for o in lay.stats],
            "sets": [base + o if plan.want_sets else 0 for o in lay.sets],
        }

        def load(op: Op) -> tuple[int, int]:
            if ctx is not None:
                return ctx.kv_address(op.tile)
            r0, r1 = plan.tiles[op.tile]
            ka, va = (base + o for o in op.kv_offset)
            for a, X, stream in ((ka, K, "K"), (va, V, "V")):
                w = (a - dev.dram_base) >> 2
                f32[w : w + (r1 - r0) * d] = X[op.item, r0:r1].ravel()
                dev.timed_store(a, (r1 - r0) * d * 4, stream)
            return ka, va

        def load_sorted(op: Op) -> int:
            if ctx is not None:
                return ctx.sorted_table(op.tile)
            r0, r1 = plan.tiles[op.tile]
            sa = base + op.sorted_offset
            write_sorted(dev, sa, K[op.item, r0:r1])
            return sa

        descs = plan.descriptors(qa, addr["outs"], addr["stats"], addr["sets"], load, load_sorted)
        return descs, addr

    # ---- housekeeping ----
    @_serialised
    def perf_counters(self) -> dict[str, int]:
        """The unit's 64-bit performance counters (docs/register-map.md)."""
        out = {}
        for name in PERF_COUNTERS:
            lo = self.read_reg(perf_offset(name))
            hi = self.read_reg(perf_offset(name) + 4)
            out[name] = (hi << 32) | lo
        return out

    def close(self) -> None:
        """Free the driver's queues and buffers (the platform stays). Closing twice is harmless;
        every other call on a closed driver raises :class:`~a3sim.errors.DriverClosedError`."""
        with self.device.lock:
            if self._closed:
                return
            self._closed = True
            if self._owns_unit():
                self.write_reg(Reg.CTRL, 0)
                self._state.owner = None
                self._forget_banks()
            self._finalizer()

    def plan_exact(self, m: int, n: int, d: int) -> CallPlan:
        """The tiles and jobs of an exact call of m queries against n x d keys (for cost models)."""
        return exact_plan(m, n, d, self.n_max, self.q_rows)
