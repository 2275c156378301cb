"""The descriptor (submission) and completion rings in host memory, the doorbell, the drain of
completion records (phase-bit protocol), and the mapping of status codes to exceptions
(``docs/descriptors.md``, ``docs/register-map.md``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import errors as E
from ..device import Block, Device
from ..protocol import (
    COMPLETION_DTYPE,
    CTRL_ENABLE,
    CTRL_SOFT_RESET,
    DESCRIPTOR_DTYPE,
    FLAG_IRQ,
    IRQ_DONE,
    IRQ_ERROR,
    STATUS_BUSY,
    STATUS_ERROR,
    STATUS_LAST_ERROR_MASK,
    STATUS_LAST_ERROR_SHIFT,
    Reg,
    Status,
    completion_ok,
)
from .plan import Descriptor

TAG_MASK = 0xFFFF_FFFF
_FLAG_IRQ = int(FLAG_IRQ)
_SQ_TAIL, _IRQ_ACK, _CQ_HEAD = int(Reg.SQ_TAIL), int(Reg.IRQ_ACK), int(Reg.CQ_HEAD)
_IRQ_ALL = int(IRQ_DONE | IRQ_ERROR)
LO32 = 0xFFFF_FFFF


def device_error(failures: list[np.void], errors: dict[int, tuple[str, str]]) -> E.DeviceError:
    """The typed exception for a call's failed completion records (the first one names it)."""
    c = failures[0]
    code = int(c["status"])
    name, msg = errors.get(code, ("UNKNOWN", "unknown status"))
    cls = E.ERROR_CLASSES.get(name, E.DeviceError)
    more = f" ({len(failures) - 1} more descriptor(s) of this call failed)" if len(failures) > 1 else ""
    return cls(
        f"device error {name} ({code}): {msg}; descriptor tag {int(c['tag'])}, detail {int(c['detail']):#x}{more}",
        code=code,
        name=name,
        tag=int(c["tag"]),
        detail=int(c["detail"]),
    )


class Rings:
    """One unit's descriptor and completion rings, and the host's indices into them."""

    def __init__(self, dev: Device, base: int, entries: int, timeout_ns: float) -> None:
        self.device = dev
        self.base = base  # bus address of the unit's register window
        self.timeout_ns = timeout_ns
        self.sq_size = self.cq_size = entries
        self.sq_block: Block = dev.alloc(DESCRIPTOR_DTYPE.itemsize * entries)
        try:
            self.cq_block: Block = dev.alloc(COMPLETION_DTYPE.itemsize * entries)
        except E.OutOfDeviceMemory:
            dev.free(self.sq_block)
            raise
        self.sq = dev.view(self.sq_block.address, DESCRIPTOR_DTYPE, entries)
        self.cq = dev.view(self.cq_block.address, COMPLETION_DTYPE, entries)
        self._cq_phase_col = self.cq["phase"]
        self._cq_status_col = self.cq["status"]
        self.sq[:] = np.zeros(1, DESCRIPTOR_DTYPE)
        self._write_and_wait = dev.native.write_and_wait
        self.sq_tail = self.cq_head = self.tag = 0
        self.corrupt = 0  # completion records that failed their check word, since the last submit
        self.cq_phase = 1

    def blocks(self) -> list[Block]:
        return [self.sq_block, self.cq_block]

    def read_reg(self, reg: int) -> int:
        return self.device.mmio_read(self.base + int(reg))

    def write_reg(self, reg: int, value: int) -> None:
        self.device.mmio_write(self.base + int(reg), value)

    def program(self) -> None:
        """Soft-reset the unit and program its queues (the driver's probe sequence)."""
        w = self.write_reg
        # Let any work in flight finish (at most timeout_ns), so that the soft reset applies at once.
        try:
            self.wait_idle()
        except E.DeviceTimeoutError:
            # A hung unit (BUSY stuck, docs/descriptors.md 9): a soft reset ends the hang at once.
            w(Reg.CTRL, CTRL_SOFT_RESET)
            self.wait_idle()
        w(Reg.CTRL, CTRL_SOFT_RESET)
        # Stale records of an earlier owner must not look like new completions.
        self.cq[:] = np.zeros(1, COMPLETION_DTYPE)
        w(Reg.SQ_BASE_LO, self.sq_block.address & LO32)
        w(Reg.SQ_BASE_HI, self.sq_block.address >> 32)
        w(Reg.SQ_SIZE, self.sq_size)
        w(Reg.CQ_BASE_LO, self.cq_block.address & LO32)
        w(Reg.CQ_BASE_HI, self.cq_block.address >> 32)
        w(Reg.CQ_SIZE, self.cq_size)
        w(Reg.IRQ_ENABLE, IRQ_DONE | IRQ_ERROR)
        w(Reg.CTRL, CTRL_ENABLE)
        self.sq_tail = self.cq_head = self.tag = 0
        self.cq_phase = 1

    def _now_ps(self) -> int:
        return int(self.device.native.snapshot()["now_ps"])

    def wait_idle(self) -> None:
        """Run the simulation until the unit is not busy; :class:`DeviceTimeoutError` when it is
        still busy after ``timeout_ns`` of simulated time (or time stops moving)."""
        dev = self.device
        end_ps = self._now_ps() + round(self.timeout_ns * 1000)
        while self.read_reg(Reg.STATUS) & STATUS_BUSY:
            now_ps = self._now_ps()
            if now_ps >= end_ps:
                raise E.DeviceTimeoutError(
                    f"the unit is still busy after {self.timeout_ns:g} ns of simulated time; the driver "
                    "re-programs it before its next call (raise timeout_ns for longer work)"
                )
            dev.run((end_ps - now_ps) / 1000.0)
            if self._now_ps() == now_ps and self.read_reg(Reg.STATUS) & STATUS_BUSY:
                raise E.DeviceTimeoutError("the unit is busy but simulated time does not advance (a model bug)")

    @property
    def capacity(self) -> int:
        """Descriptors one doorbell may carry (a ring of N entries holds N - 1)."""
        return self.sq_size - 1

    def submit(
        self, descs: Sequence[Descriptor], host_ns: Callable[[], float], t_host: float | None = None
    ) -> tuple[float, list[np.void]]:
        """Write descriptors to the ring, ring the doorbell once, run until they all complete.
        Returns the latency (doorbell to interrupt, ns) and the failed completion records.
        ``t_host`` is the host time (ns) if no MMIO happened since it was read."""
        dev = self.device
        k = len(descs)
        sq, tail, size, tag = self.sq, self.sq_tail, self.sq_size, self.tag
        last = k - 1
        for i, dsc in enumerate(descs):
            tag = (tag + 1) & TAG_MASK
            sq[tail] = (dsc.opcode, dsc.mode, dsc.flags | (_FLAG_IRQ if i == last else 0), tag, *dsc[4:])
            dev.timed_store(
                self.sq_block.address + DESCRIPTOR_DTYPE.itemsize * tail, DESCRIPTOR_DTYPE.itemsize, "descriptor"
            )
            tail = tail + 1 if tail + 1 < size else 0
        self.tag, self.sq_tail = tag, tail
        # The doorbell follows the descriptor stores: timed ones (host_stores = 1) moved host time.
        t_bell = t_host if t_host is not None and not dev.host_stores else host_ns()
        window_ps = round(self.timeout_ns * 1000)
        window0 = self._now_ps()
        irq = self._write_and_wait(self.base + _SQ_TAIL, self.sq_tail, self.timeout_ns)
        if irq < 0:
            raise E.MmioError("doorbell write failed", self.base + _SQ_TAIL, irq)
        got = 0
        failures: list[np.void] = []
        while True:
            got += self.drain(k - got, failures)
            if got >= k:
                break
            if not irq:
                if self._now_ps() - window0 >= window_ps:  # the whole window passed: work remains
                    raise E.DeviceTimeoutError(
                        f"no interrupt within timeout_ns = {self.timeout_ns:g} ns of simulated time: "
                        f"{k - got} of {k} descriptors incomplete; the driver re-programs the unit before "
                        "its next call (raise timeout_ns for longer work)"
                    )
                self._idle_with_work(k - got, k)
            self.write_reg(_IRQ_ACK, _IRQ_ALL)
            window0 = self._now_ps()
            irq = dev.run(self.timeout_ns)
        if self.corrupt:
            n, self.corrupt = self.corrupt, 0
            self.program()
            raise E.CorruptCompletionError(
                f"{n} completion record(s) failed their check word (docs/descriptors.md 9); the driver "
                "re-programmed the unit: resubmit the call",
                code=0,
                name="CORRUPT_COMPLETION",
            )
        latency = dev.native.snapshot()["last_irq_ps"] / 1000.0 - t_bell
        self.write_reg(_IRQ_ACK, _IRQ_ALL)
        self.write_reg(_CQ_HEAD, self.cq_head)
        return latency, failures

    def drain(self, limit: int, failures: list[np.void]) -> int:
        """Consume up to ``limit`` new completion records (phase-bit protocol); append the failed
        ones to ``failures``; return how many were consumed."""
        phase = self._cq_phase_col
        status = self._cq_status_col
        head = self.cq_head
        count = 0
        while count < limit and phase[head] == self.cq_phase:
            if not completion_ok(self.cq[head]):  # a corrupted record: trust none of its fields
                self.corrupt += 1
            elif status[head]:  # Status.OK is 0
                failures.append(self.cq[head].copy())
            count += 1
            head += 1
            if head == self.cq_size:
                head = 0
                self.cq_phase ^= 1
        self.cq_head = head
        return count

    def _idle_with_work(self, missing: int, k: int) -> None:
        """The device stopped with descriptors incomplete: a queue error (no completion record can
        say so) or a model bug. Re-program the queues so that the driver stays usable, then raise."""
        status = self.read_reg(Reg.STATUS)
        code = (status >> STATUS_LAST_ERROR_SHIFT) & STATUS_LAST_ERROR_MASK
        name, msg = self.device.errors.get(code, ("UNKNOWN", "unknown status"))
        self.program()
        if status & STATUS_ERROR and code in (Status.DMA_FAULT, Status.DMA_ERROR):
            # The completion records themselves could not be written (docs/descriptors.md 9).
            raise E.ERROR_CLASSES.get(name, E.DeviceError)(
                f"device error {name} ({code}): {msg}; {missing} of {k} descriptors have no completion "
                "record (the record write failed); the driver re-programmed the queues",
                code=code,
                name=name,
            )
        if status & STATUS_ERROR and code in (Status.QUEUE_CONFIG, Status.CQ_OVERFLOW):
            raise E.QueueError(
                f"device error {name} ({code}): {msg}; {missing} of {k} descriptors lost; "
                "the driver re-programmed the queues",
                code=code,
                name=name,
            )
        if status & STATUS_BUSY:
            # Nothing left to simulate, yet the unit is busy: it hangs (docs/descriptors.md 9).
            raise E.DeviceTimeoutError(
                f"the unit hangs (STATUS.BUSY with nothing left to simulate): {missing} of {k} descriptors "
                "incomplete; the driver soft-reset and re-programmed it: resubmit the call"
            )
        raise E.PlatformError(
            f"the device went idle with {missing} of {k} descriptors incomplete "
            f"(STATUS={status:#x}); the driver re-programmed the queues"
        )
