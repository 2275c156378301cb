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

:class:`A3Driver` only orchestrates: :mod:`.checks` validates, :mod:`.plan` plans, :mod:`.call`
stages data, :mod:`.queue` talks to the rings, :mod:`.context` owns memory, :mod:`.record` reports.
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
    PERF_COUNTERS,
    QUEUE_ENTRIES_MIN,
    RES_KV,
    RES_SORTED,
    Reg,
    perf_offset,
)
from ..trace import Trace
from . import checks as _checks
from .call import PendingCall, RowReader, Stager
from .checks import CallOptions, ModeParams, as_f32, batch_args, call_options, check_kv, single_args
from .context import Arena, KVContext
from .plan import CallPlan, exact_plan, plan_for, resident_key
from .queue import BELL, DONE, Rings, device_error
from .record import CallRecord, CallRows, collect

#: Descriptor and completion ring entries of a driver unless it asks for others.
DEFAULT_QUEUE_ENTRIES = 256
VERSION_MAJOR_SHIFT = 16
P = ParamSpec("P")
R = TypeVar("R")
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_NOTHING_RESIDENT: tuple[object, bool] = (None, False)
_RES_FLAGS, _RES_KV_TAG_LO, _RES_KV_TAG_HI = int(Reg.RES_FLAGS), int(Reg.RES_KV_TAG_LO), int(Reg.RES_KV_TAG_HI)


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
        self._stager = Stager(dev, self._arena)
        self._rows = RowReader(dev, self.trace)
        self._pending: PendingCall | None = None
        self._shared_rows = dev.units > 1  # several units: the trace tables interleave their rows
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
        rd, base = self.device.mmio_read, self._base  # the device lock is held by the call
        flags = rd(base + _RES_FLAGS)
        if not flags & RES_KV:
            return None, False
        tag = rd(base + _RES_KV_TAG_LO) | (rd(base + _RES_KV_TAG_HI) << 32)
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
        K, V = as_f32("K", K, (2,)), as_f32("V", V, (2,))
        check_kv(K, V, self.d_max)
        return KVContext(self, K, V, _checks.check_overflow(overflow))

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
        return self._finish(self._start(False, q, K, V, options, True))

    @_serialised
    def attention_batch(self, Q: Any, K: Any, V: Any, **options: Unpack[CallOptions]) -> tuple[np.ndarray, CallRecord]:
        """B independent attentions in one submission: Q (B, m, d) against K, V (B, n, d).

        Item b is ``attention(Q[b], K[b], V[b])``: its own LOAD_KV, then ATTEND jobs for its m
        queries. All descriptors go out with one doorbell and one interrupt, so a network's heads
        cost one Python round trip per layer. The record covers the whole batch: ``m`` is B * m and
        the per-query arrays are in item order. ``options`` as for :meth:`attention`.
        """
        return self._finish(self._start(True, Q, K, V, options, True))

    @_serialised
    def submit(self, q: Any, K: Any, V: Any = None, **options: Unpack[CallOptions]) -> PendingCall:
        """The first half of :meth:`attention`: check, write the call's data and descriptors, ring
        the doorbell, and return at once, without running the simulation. :meth:`collect` waits for
        the call and returns what :meth:`attention` would. Host software driving several units
        submits on each, then waits on all their interrupts (:mod:`a3sim.multi_unit`, which also
        copies all units' trace rows at once: with tracing off, a collect releases the rows it read,
        other units' included). One call per driver may be in flight; no other driver may use the
        unit until it is collected."""
        return self._start(False, q, K, V, options, False)

    @_serialised
    def submit_batch(self, Q: Any, K: Any, V: Any, **options: Unpack[CallOptions]) -> PendingCall:
        """The first half of :meth:`attention_batch` (see :meth:`submit`)."""
        return self._start(True, Q, K, V, options, False)

    @_serialised
    def collect(self, pending: PendingCall) -> tuple[np.ndarray, CallRecord]:
        """Run the simulation until a submitted call completes (if it has not yet), then return its
        outputs and record, as :meth:`attention` / :meth:`attention_batch` would."""
        if pending.driver is not self:
            raise E.A3InputError("this pending call was submitted to another driver")
        if pending.collected:
            raise E.A3InputError("this pending call was already collected")
        return self._finish(pending)

    # ---- the call: checks, then begin (plan, data, descriptors, doorbell), then finish ----
    def _start(self, batch: bool, Q: Any, K: Any, V: Any, options: dict[str, Any], wait: bool) -> PendingCall:
        self._ensure_owner()
        mp, want_sets = call_options(options, self.features)
        a = batch_args(Q, K, V, self.d_max) if batch else single_args(Q, K, V, self.d_max, KVContext)
        _checks.check_context_overflow(a.ctx, mp, "overflow" in options, self.n_max)
        return self._begin(a.Q, a.ctx, a.K, a.V, mp, want_sets, wait, a.post, a.named)

    def _begin(
        self,
        Q: np.ndarray,
        ctx: KVContext | None,
        K: np.ndarray | None,
        V: np.ndarray | None,
        mp: ModeParams,
        want_sets: bool,
        wait: bool,
        post: tuple[bool, bool, np.dtype],
        named: tuple[tuple[str, np.ndarray | None], ...],
    ) -> PendingCall:
        """Plan the call (Q (B, m, d) against a context or K, V (B, n, d)), write its data and
        descriptors, ring the doorbell; with ``wait``, run until it completes."""
        if self._pending is not None:
            raise E.A3InputError("a submitted call is still in flight on this driver: collect() it first")
        B, m, d = Q.shape
        if ctx is not None:
            n, tl, ctx_id = ctx.n, tuple(ctx.tiles), ctx.id
            resident = self._residency()  # what the unit's banks hold decides the LOAD_KV/LOAD_SORTED
        else:
            n, tl, ctx_id = K.shape[1], None, None
            resident = _NOTHING_RESIDENT  # arrays of one call are loaded by every call regardless
        plan = plan_for(
            mp.mode, B, m, n, d, self.n_max, self.q_rows, tl, ctx_id, want_sets, mp.M, mp.M_frac, mp.T,
            mp.min_skip, resident, self._device_sorter, ctx.stream if ctx is not None else mp.overflow == "stream",
        )  # fmt: skip
        store0 = self.device.host_store_ns
        prep = self._stager.stage(plan, Q, ctx, K, V, named)
        job_base, job_rows, phase_rows, _, host_ps, _, now_ps, _ = self._native.snapshot_values()
        pending = PendingCall(self, plan, prep, job_base + job_rows, phase_rows, post)
        pending.store0_ns = store0
        rings = self._rings
        try:
            pending._sub = rings.begin(prep.descs, host_ps / 1000.0, now_ps, prep.raw)
            pending.t_doorbell_ns = pending._sub.t_bell
            irq = rings.doorbell(pending._sub, wait)
        except BaseException:
            self._forget_banks()
            raise
        if wait:
            self._drive(pending, irq, True)
        else:
            self._pending = pending
        return pending

    def _drive(self, pending: PendingCall, irq: int, wait: bool) -> bool:
        """Step a call after the simulation ran (``irq``: an interrupt of this unit came). With
        ``wait``, ring further doorbells and run the simulation until the call completes; without,
        ring a further doorbell if one is due and return whether the call completed."""
        rings, sub = self._rings, pending._sub
        try:
            while True:
                st = rings.step(sub, irq)
                if st == DONE:
                    pending.done = True
                    return True
                if st == BELL:
                    irq = rings.doorbell(sub, wait)
                    if not wait:
                        return False
                elif not wait:
                    return False
                else:
                    irq = self.device.run(self.timeout_ns)
        except E.DeviceTimeoutError:
            self._abandon(pending)
            self._state.owner = None  # re-program the unit (after the work in flight) before the next call
            raise
        except BaseException:
            self._abandon(pending)
            raise

    def _abandon(self, pending: PendingCall) -> None:
        pending.done = pending.collected = True
        self._pending = None
        self._forget_banks()

    def _finish(self, pending: PendingCall, rows: CallRows | None = None) -> tuple[np.ndarray, Any]:
        """Wait for the call if it has not completed, then its outputs (shaped as the user passed
        the inputs) and record. ``rows``: trace rows already copied (else this call's are)."""
        if pending.collected:
            raise E.A3InputError("this call failed or was already collected")
        if not pending.done:
            if not self._owns_unit():
                self._abandon(pending)
                raise E.PlatformError("another driver re-programmed the unit before this call was collected")
            run = self.device.run
            while not self._drive(pending, run(self.timeout_ns), False):
                pass
        pending.collected = True
        self._pending = None
        sub = pending._sub
        if sub.failures:
            self._forget_banks()  # what the banks hold is no longer known
            raise device_error(sub.failures, self.device.errors)
        if rows is None:
            rows = self._rows.read(pending.job0, pending.phase0)
        if self._shared_rows:  # other units' jobs may interleave with this call's: keep this unit's
            rows = rows.only_unit(self.unit)
        batch, single, dtype = pending.post
        plan = pending.plan
        shape = (plan.B, plan.m, plan.d) if batch else (plan.d,) if single else (plan.m, plan.d)
        out, rec = collect(
            self.device, self._f32, plan, pending.addr, sub.latency, rows, self._cycle_ns, self._costs, shape,
            pending.prep.views(shape, self._f32),
        )  # fmt: skip
        rec.host_store_ns = self.device.host_store_ns - pending.store0_ns  # 0 unless host_stores = 1
        if batch:
            return (out.astype(dtype) if dtype == _F64 else out), rec
        return (out if dtype == _F32 else out.astype(dtype)), rec

    # ---- housekeeping ----
    @_serialised
    def perf_counters(self) -> dict[str, int]:
        """The unit's 64-bit performance counters (docs/register-map.md)."""
        offsets = {name: perf_offset(name) for name in PERF_COUNTERS}  # low word, then high word
        return {name: self.read_reg(a) | (self.read_reg(a + 4) << 32) for name, a in offsets.items()}

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
