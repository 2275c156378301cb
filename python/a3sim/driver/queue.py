"""The descriptor (submission) and completion rings in host memory, the doorbell, the drain of
completion records (phase-bit protocol), and the mapping of status codes to exceptions
(``docs/descriptors.md``, ``docs/register-map.md``)."""

from __future__ import annotations

import zlib

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
)

TAG_MASK = 0xFFFF_FFFF
_FLAG_IRQ = int(FLAG_IRQ)
_SQ_TAIL, _IRQ_ACK, _CQ_HEAD = int(Reg.SQ_TAIL), int(Reg.IRQ_ACK), int(Reg.CQ_HEAD)
_IRQ_ALL = int(IRQ_DONE | IRQ_ERROR)
LO32 = 0xFFFF_FFFF
_CQ_BYTES = COMPLETION_DTYPE.itemsize
_CQ_PHASE = COMPLETION_DTYPE.fields["phase"][1]
_CQ_CHECKED = COMPLETION_DTYPE.fields["check"][1]  # the check word covers the bytes before it
_CQ_STATUS_WORD = COMPLETION_DTYPE.fields["status"][1]  # uint16 at the start of a 32-bit word
assert _CQ_CHECKED == _CQ_BYTES - 4 and _CQ_STATUS_WORD % 4 == 0 and _CQ_BYTES % 4 == 0

_SQ_BYTES = DESCRIPTOR_DTYPE.itemsize
_SQ_WORDS, _SQ_HALVES = _SQ_BYTES // 4, _SQ_BYTES // 2
_SQ_TAG_WORD = DESCRIPTOR_DTYPE.fields["tag"][1] // 4
_SQ_FLAGS_HALF = DESCRIPTOR_DTYPE.fields["flags"][1] // 2
assert DESCRIPTOR_DTYPE.fields["tag"][1] % 4 == 0 and DESCRIPTOR_DTYPE.fields["flags"][1] % 2 == 0

#: What :meth:`Rings.step` asks of its caller next.
DONE, RUN, BELL = 0, 1, 2


class Submission:
    """One call's descriptors on their way through one unit's rings (:meth:`Rings.begin`)."""

    __slots__ = ("descs", "raw", "next", "k", "got", "failures", "latency", "t_bell", "window0")

    def __init__(self, descs: np.ndarray, raw: memoryview | None = None) -> None:
        self.descs = descs  # every descriptor of the call (DESCRIPTOR_DTYPE)
        self.raw = raw if raw is not None else memoryview(descs.view(np.uint8))  # the same, as bytes
        self.next = 0  # first descriptor not yet written to the ring
        self.k = self.got = 0  # descriptors of the chunk in flight, and completed of them
        self.failures: list[np.void] = []  # failed completion records
        self.latency = 0.0  # doorbell to interrupt (ns), summed over the chunks
        self.t_bell = 0.0  # host time of the chunk's doorbell (ns)
        self.window0 = 0  # simulation time (ps) the timeout window of the chunk runs from


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
        nat = dev.native
        self._write_and_wait = nat.write_and_wait
        self._mmio_write = nat.mmio_write
        self._write2 = nat.mmio_write2
        self._snapshot = nat.snapshot
        self._values = nat.snapshot_values
        self._last_irq_ps = nat.last_irq_ps
        self._host_stores = dev.host_stores
        sq_raw = memoryview(dev.view(self.sq_block.address, np.uint8, DESCRIPTOR_DTYPE.itemsize * entries))
        self._sq_b, self._sq_w, self._sq_h = sq_raw, sq_raw.cast("I"), sq_raw.cast("H")
        # The completion ring as bytes and as 32-bit words (memoryviews: plain ints, no numpy scalars).
        raw = memoryview(dev.view(self.cq_block.address, np.uint8, COMPLETION_DTYPE.itemsize * entries))
        self._cq_b, self._cq_w = raw, raw.cast("I")
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
        return self._values()[6]  # now_ps

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

    # ---- one call's descriptors: begin (write, doorbell), step after each interrupt ----
    def begin(self, descs: np.ndarray, t_host: float, now_ps: int, raw: memoryview | None = None) -> Submission:
        """Write the first chunk of ``descs`` (``DESCRIPTOR_DTYPE`` records, tag 0, no IRQ flag) into
        the ring; the caller rings the doorbell (:meth:`doorbell`). ``t_host`` and ``now_ps`` are the
        host and simulation times now (ns, ps)."""
        sub = Submission(descs, raw)
        self._put(sub, t_host, now_ps)
        return sub

    def doorbell(self, sub: Submission, wait: bool) -> int:
        """Ring the doorbell of ``sub``'s chunk. ``wait``: then run the simulation until an interrupt
        (one native call) and return 1 if one came, else 0; without ``wait`` return 0 at once (the
        caller runs the simulation, e.g. after ringing other units too)."""
        address = self.base + _SQ_TAIL
        if wait:
            irq = self._write_and_wait(address, self.sq_tail, self.timeout_ns)
            if irq < 0:
                self.device.check_model(irq)
                raise E.MmioError("doorbell write failed", address, irq)
            return irq
        st = self._mmio_write(address, self.sq_tail)
        if st != 1:
            raise E.MmioError("doorbell write failed", address, st)
        return 0

    def step(self, sub: Submission, irq: int) -> int:
        """Take what the unit completed after the simulation ran (``irq``: an interrupt of this unit
        came). Returns :data:`DONE` (every descriptor of the call completed), :data:`RUN` (records
        missing: run the simulation further, then step again) or :data:`BELL` (the next chunk is
        in the ring: ring its doorbell, then step again). Raises what the device reported."""
        sub.got += self.drain(sub.k - sub.got, sub.failures)
        if sub.got < sub.k:
            if not irq:
                if self._now_ps() - sub.window0 >= round(self.timeout_ns * 1000):  # the window passed
                    k, got = sub.k, sub.got
                    raise E.DeviceTimeoutError(
                        f"no interrupt within timeout_ns = {self.timeout_ns:g} ns of simulated time: "
                        f"{k - got} of {k} descriptors incomplete; the driver re-programs the unit before "
                        "its next call (raise timeout_ns for longer work)"
                    )
                self._idle_with_work(sub.k - sub.got, sub.k)
            self.write_reg(_IRQ_ACK, _IRQ_ALL)
            sub.window0 = self._now_ps()
            return RUN
        if self.corrupt:
            n, self.corrupt = self.corrupt, 0
            self.program()
            raise E.CorruptCompletionError(
                f"{n} completion record(s) failed their check word (docs/descriptors.md 9); the driver "
                "re-programmed the unit: resubmit the call",
                code=0,
                name="CORRUPT_COMPLETION",
            )
        sub.latency += self._last_irq_ns() - sub.t_bell
        # IRQ_ACK, then the new CQ_HEAD: one native call for the two writes.
        st = self._write2(self.base + _IRQ_ACK, _IRQ_ALL, self.base + _CQ_HEAD, self.cq_head)
        if st != 1:
            raise E.MmioError(f"MMIO write to unit registers failed (TLM status {st})", self.base + _IRQ_ACK, int(st))
        if sub.next >= len(sub.descs):
            return DONE
        self._put(sub, None, None)
        return BELL

    def _put(self, sub: Submission, t_host: float | None, now_ps: int | None) -> None:
        """Write the next chunk of ``sub`` at the tail: one structured copy (two at the wrap), the
        tags, the IRQ flag on the chunk's last descriptor."""
        b0 = sub.next
        k = min(len(sub.descs) - b0, self.sq_size - 1)
        src = sub.raw  # the descriptors as bytes
        sq_b, sq_w, sq_h = self._sq_b, self._sq_w, self._sq_h
        tail, size, tag = self.sq_tail, self.sq_size, self.tag
        first = min(k, size - tail)
        sq_b[tail * _SQ_BYTES : (tail + first) * _SQ_BYTES] = src[b0 * _SQ_BYTES : (b0 + first) * _SQ_BYTES]
        if first < k:
            sq_b[: (k - first) * _SQ_BYTES] = src[(b0 + first) * _SQ_BYTES : (b0 + k) * _SQ_BYTES]
        i = tail
        for _ in range(k):  # tags (32-bit words), through the ring's word view
            tag = (tag + 1) & TAG_MASK
            sq_w[i * _SQ_WORDS + _SQ_TAG_WORD] = tag
            i = i + 1 if i + 1 < size else 0
        last = (tail + k - 1) % size
        sq_h[last * _SQ_HALVES + _SQ_FLAGS_HALF] |= _FLAG_IRQ
        if self._host_stores:  # timed stores over the bus: one cache-line store per descriptor
            dsize = DESCRIPTOR_DTYPE.itemsize
            for i in range(k):
                self.device.timed_store(self.sq_block.address + dsize * ((tail + i) % size), dsize, "descriptor")
        self.tag, self.sq_tail = tag, (tail + k) % size
        sub.next, sub.k, sub.got = b0 + k, k, 0
        # The doorbell follows the descriptor stores: timed ones (host_stores = 1) moved host time.
        fresh = not self._host_stores
        sub.t_bell = t_host if t_host is not None and fresh else self._host_ns()
        sub.window0 = now_ps if now_ps is not None and fresh else self._now_ps()

    def _host_ns(self) -> float:
        return self._values()[4] / 1000.0  # host_ps

    def _last_irq_ns(self) -> float:
        return self._last_irq_ps() / 1000.0

    def drain(self, limit: int, failures: list[np.void]) -> int:
        """Consume up to ``limit`` new completion records (phase-bit protocol); append the failed
        ones to ``failures``; return how many were consumed. Fields are read through a byte view of
        the ring, the check word (CRC-32 of the first 28 bytes) with ``zlib.crc32`` on it."""
        b, w = self._cq_b, self._cq_w
        head, size, want = self.cq_head, self.cq_size, self.cq_phase
        count = 0
        while count < limit:
            off = head * _CQ_BYTES
            if b[off + _CQ_PHASE] != want:
                break
            if zlib.crc32(b[off : off + _CQ_CHECKED]) != w[(off + _CQ_CHECKED) >> 2]:
                self.corrupt += 1  # a corrupted record: trust none of its fields
            elif w[(off + _CQ_STATUS_WORD) >> 2] & 0xFFFF:  # Status.OK is 0
                failures.append(self.cq[head].copy())
            count += 1
            head += 1
            if head == size:
                head = 0
                want ^= 1
        self.cq_head, self.cq_phase = head, want
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
