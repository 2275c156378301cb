"""One call on its way through the driver: staging its data into device memory (:class:`Stager`),
what a plan needs on the arena, built once (:class:`Prepared`), the call between its doorbell and
its collection (:class:`PendingCall`), and the copy of its trace rows (:class:`RowReader`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import errors as E
from ..protocol import Opcode
from .checks import nonfinite_error
from .context import Arena, KVContext, write_sorted
from .plan import CallAddresses, CallPlan
from .record import ROW_STATS_BYTES, CallRows

if TYPE_CHECKING:
    from ..device import Device
    from ..trace import Trace
    from .driver import A3Driver
    from .queue import Submission

_LOAD_KV = int(Opcode.LOAD_KV)
#: An argument as the user passed it (checked, float32), by name: what a staging error names.
Named = tuple[str, "np.ndarray | None"]


class Prepared:
    """What one plan needs on a driver's arena, built on its first call and reused by every later
    call of the same plan: the descriptor records (also as bytes), the buffer addresses, and views
    of the output and row-stats buffers."""

    __slots__ = ("plan", "descs", "raw", "addr", "stats", "_outs", "_base")

    def __init__(self, plan: CallPlan, descs: np.ndarray, addr: CallAddresses, dev: Device) -> None:
        self.plan, self.descs, self.addr = plan, descs, addr
        self.raw = memoryview(descs.view(np.uint8))
        nb = plan.B * plan.m * ROW_STATS_BYTES
        self.stats = [dev.dram_bytes[a - dev.dram_base : a - dev.dram_base + nb] for a in addr.stats]
        self._outs: dict[tuple[int, ...], np.ndarray | None] = {}
        self._base = dev.dram_base

    def views(self, shape: tuple[int, ...], f32: np.ndarray) -> tuple[np.ndarray | None, list[memoryview]]:
        """The output buffer of a one-tile call as a view of ``shape`` (None with several tiles:
        they are merged), and the row stats of each tile as bytes."""
        out = self._outs.get(shape)
        if out is None and shape not in self._outs:
            plan = self.plan
            if len(plan.tiles) == 1:
                w = (self.addr.outs[0] - self._base) >> 2
                out = f32[w : w + plan.B * plan.m * plan.d].reshape(shape)
            self._outs[shape] = out
        return out, self.stats


class PendingCall:
    """A call submitted to a unit (:meth:`A3Driver.submit`, :meth:`A3Driver.submit_batch`) and not
    yet collected (:meth:`A3Driver.collect`)."""

    def __init__(self, driver: A3Driver, plan: CallPlan, prep: Prepared, job0: int, phase0: int, post: tuple) -> None:
        self.driver = driver
        self.plan = plan
        self.prep = prep
        self.addr = prep.addr
        self.job0, self.phase0 = job0, phase0  # first job id and phase row of the call
        self.post = post  # (batch, single query, dtype of the result)
        self.done = False  # every descriptor completed (or the call failed)
        self.collected = False
        self.t_doorbell_ns = 0.0  # host time of the (first) doorbell
        self.store0_ns = 0.0  # Device.host_store_ns before the call's stores (CallRecord.host_store_ns)
        self._sub: Submission

    @property
    def unit(self) -> int:
        """The unit the call runs on."""
        return self.driver.unit

    def advance(self, irq: int) -> bool:
        """After the host ran the simulation: take what the unit completed (``irq``: an interrupt of
        this unit came, as its ``IRQ_STATUS`` says), ring the next doorbell if the call needs
        another, and return whether the call completed. Raises what the device reported."""
        if self.done:
            return True
        drv = self.driver
        with drv.device.lock:
            return drv._drive(self, irq, False)


class Stager:
    """Writes a call's data where its plan keeps it in the driver's arena, and keeps the
    :class:`Prepared` of each plan (per arena address and context)."""

    def __init__(self, dev: Device, arena: Arena) -> None:
        self.device = dev
        self.arena = arena
        self._stage = dev.native.stage_f32
        self._stores = dev.host_stores
        self._prepared: dict[tuple[int, int, int], Prepared] = {}

    def stage(
        self,
        plan: CallPlan,
        Q: np.ndarray,
        ctx: KVContext | None,
        K: np.ndarray | None,
        V: np.ndarray | None,
        named: tuple[Named, Named, Named],
    ) -> Prepared:
        """Reserve the arena, write queries, K/V and sorted tables where the plan keeps them, and
        give the plan's :class:`Prepared` (descriptor records built once per plan, arena and
        context, then reused).

        Queries and K/V are staged by one native call per block (``a3sim::stage_f32``), which also
        checks them: a NaN or infinity raises :class:`~a3sim.errors.NonFiniteError`, named by
        ``named`` (q, K, V as the user passed them), before anything reaches the device."""
        dev, lay, stage, arena = self.device, plan.layout, self._stage, self.arena
        if arena.block is None or arena.block.size < lay.reserve:
            arena.reserve(lay.reserve)
        base = arena.block.address
        key = (id(plan), base, ctx.id if ctx is not None else 0)
        prep = self._prepared.get(key)
        if prep is None or prep.plan is not plan:
            descs, addr = self._descriptors(plan, base, ctx)
            prep = Prepared(plan, descs, addr, dev)
            if len(self._prepared) >= 64:
                self._prepared.clear()
            self._prepared[key] = prep
        addr, stores = prep.addr, self._stores
        if stage(addr.queries, Q, Q.size) != -1:
            self._failed(named[0])
        if stores:
            dev.timed_store(addr.queries, Q.size * 4, "Q")  # over the bus when host_stores = 1
        if ctx is None:
            d, tiles_ = plan.d, plan.tiles
            whole = plan.B == 1 and len(tiles_) == 1  # K/V as the user passed them: no slicing
            for op in plan.loads:
                r0, r1 = tiles_[op.tile]
                if op.opcode == _LOAD_KV:
                    ka, va = base + op.kv_offset[0], base + op.kv_offset[1]
                    count = (r1 - r0) * d
                    Kt, Vt = (named[1][1], named[2][1]) if whole else (K[op.item, r0:r1], V[op.item, r0:r1])
                    if stage(ka, Kt, count) != -1:
                        self._failed(named[1])
                    if stage(va, Vt, count) != -1:
                        self._failed(named[2])
                    if stores:
                        dev.timed_store(ka, count * 4, "K")
                        dev.timed_store(va, count * 4, "V")
                else:
                    write_sorted(dev, base + op.sorted_offset, K[op.item, r0:r1])
        return prep

    def _failed(self, named: Named) -> None:
        """Staging found a NaN or infinity (or could not write): raise the argument's error."""
        name, x = named
        if x is not None and not np.isfinite(x).all():
            raise nonfinite_error(name, x)
        raise E.PlatformError(f"staging {name} into device memory failed: {self.device.native.last_error()}")

    @staticmethod
    def _descriptors(plan: CallPlan, base: int, ctx: KVContext | None) -> tuple[np.ndarray, CallAddresses]:
        addr = plan.addresses(base)
        if ctx is not None:
            load = lambda op: ctx.kv_address(op.tile)  # noqa: E731
            load_sorted = lambda op: ctx.sorted_table(op.tile)  # noqa: E731 - sorts on first use
        else:
            load = lambda op: (base + op.kv_offset[0], base + op.kv_offset[1])  # noqa: E731
            load_sorted = lambda op: base + op.sorted_offset  # noqa: E731
        descs = plan.descriptors(addr.queries, addr.outs, addr.stats, addr.sets, load, load_sorted)
        return descs, addr


class RowReader:
    """Copies a call's job and phase trace rows out of the recorder: one native call into a reused
    buffer, then one bytes copy (decoded when the record is read)."""

    def __init__(self, dev: Device, trace: Trace) -> None:
        self._copy = dev.native.copy_call_rows
        self._job_dtype, self._phase_dtype = trace.job_dtype, trace.phase_dtype
        self._job_size, self._phase_size = trace.job_dtype.itemsize, trace.phase_dtype.itemsize
        self._use(np.empty(64 * (self._job_size + self._phase_size), np.uint8))

    def _use(self, buf: np.ndarray) -> None:
        self._buf, self._addr, self._mv = buf, int(buf.ctypes.data), memoryview(buf)

    def read(self, job0: int, phase0: int) -> CallRows:
        """Job rows from job id ``job0`` and phase rows from row ``phase0`` on (counts as a read for
        the recorder's retention, docs/trace-schema.md section 6)."""
        counts = int(self._copy(job0, phase0, self._addr, self._buf.size))
        nj, nph = counts >> 32, counts & 0xFFFF_FFFF
        nbytes = nj * self._job_size + nph * self._phase_size
        if nbytes > self._buf.size:  # a large call: grow the buffer and copy again
            self._use(np.empty(2 * nbytes, np.uint8))
            self._copy(job0, phase0, self._addr, self._buf.size)
        return CallRows(self._mv[:nbytes].tobytes(), nj, nph, self._job_dtype, self._phase_dtype)
