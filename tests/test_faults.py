"""Fault injection for host-integration tests (docs/descriptors.md section 9), at the raw
register/descriptor level: each fault is reported the way the documentation says (status code in
the completion record and in STATUS, missing interrupt, BUSY stuck, bad check word), and the
platform computes correct results afterwards. Each test runs in a forked child: faults and their
recovery leave the session's platform untouched."""

from __future__ import annotations

import numpy as np

from a3sim.protocol import (
    CTRL_SOFT_RESET,
    DESCRIPTOR_DTYPE,
    FLAG_IRQ,
    IRQ_DONE,
    IRQ_ERROR,
    STATUS_BUSY,
    STATUS_ERROR,
    Opcode,
    Reg,
    Status,
    completion_ok,
)
from conftest import in_fork, rand
from test_host_integration import RawHost, _attend_ok


def _post(raw: RawHost, max_ns: float = 1e9, **fields) -> tuple[bool, np.void | None]:
    """Queue one descriptor (IRQ flag), ring, run; return (interrupt seen, new record or None)."""
    d = np.zeros(1, DESCRIPTOR_DTYPE)[0]
    raw.tag += 1
    d["tag"], d["flags"] = raw.tag, FLAG_IRQ
    for k, v in fields.items():
        d[k] = v
    slot = raw.tail
    raw.sq[slot] = d
    raw.tail = (raw.tail + 1) % raw.entries
    raw.w(Reg.SQ_TAIL, raw.tail)
    irq = raw.dev.run(max_ns)
    rec = None
    if raw.r(Reg.CQ_TAIL) != raw.head:
        rec = raw.cq[raw.head].copy()
        raw.head = (raw.head + 1) % raw.entries
        raw.w(Reg.CQ_HEAD, raw.head)
    return irq, rec


def _kv(raw: RawHost, rng, n: int = 20, d: int = 8) -> tuple[int, int]:
    return raw.buf(rand(rng, n, d)), raw.buf(rand(rng, n, d))


def _dma_error_at_address() -> list[str]:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev)
    rng = np.random.default_rng(10)
    ka, va = _kv(raw, rng)
    seen = []
    # 1. A burst of K (640 B = 3 bursts of 256 B): status DMA_ERROR, detail = the burst's address.
    dev.set_fault("fi_dma_error_address", ka + 260)
    irq, c = _post(raw, opcode=Opcode.LOAD_KV, n=20, d=8, addr_a=ka, addr_b=va)
    assert irq and c is not None and completion_ok(c)
    assert c["status"] == Status.DMA_ERROR and c["detail"] == ka + 256 and c["tag"] == raw.tag
    st = raw.r(Reg.STATUS)
    assert st & STATUS_ERROR and (st >> 8) & 0xFF == Status.DMA_ERROR
    assert raw.r(Reg.IRQ_STATUS) & IRQ_ERROR
    assert dev.faults_injected()["dma_address"] == 1
    seen.append("K burst")
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    # The failed LOAD_KV left no K/V: an ATTEND now reports NO_KV (docs/descriptors.md 7).
    qa, oa = raw.buf(rand(rng, 2, 8)), raw.buf(np.zeros((2, 8), np.float32))
    dev.set_fault("fi_dma_error_address", -1)
    _, c = _post(raw, opcode=Opcode.ATTEND, n=20, d=8, m=2, addr_a=qa, addr_b=oa)
    assert c["status"] == Status.NO_KV
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    # 2. The descriptor fetch: the record carries DMA_ERROR with tag 0 (the descriptor was not read).
    dev.set_fault("fi_dma_error_address", raw.sq_blk.address + 64 * raw.tail)
    _, c = _post(raw, opcode=Opcode.NOP)
    assert c["status"] == Status.DMA_ERROR and c["tag"] == 0 and completion_ok(c)
    seen.append("descriptor fetch")
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    # 3. The completion write: no record; the error shows in STATUS and IRQ_STATUS only.
    dev.set_fault("fi_dma_error_address", raw.cq_blk.address + 32 * raw.r(Reg.CQ_TAIL))
    irq, c = _post(raw, opcode=Opcode.NOP)
    assert irq and c is None
    assert (raw.r(Reg.STATUS) >> 8) & 0xFF == Status.DMA_ERROR and raw.r(Reg.IRQ_STATUS) & IRQ_ERROR
    seen.append("completion write")
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    # 4. The output write of an ATTEND.
    dev.set_fault("fi_dma_error_address", -1)
    assert _post(raw, opcode=Opcode.LOAD_KV, n=20, d=8, addr_a=ka, addr_b=va)[1]["status"] == 0
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    dev.set_fault("fi_dma_error_address", oa)
    _, c = _post(raw, opcode=Opcode.ATTEND, n=20, d=8, m=2, addr_a=qa, addr_b=oa)
    assert c["status"] == Status.DMA_ERROR and c["detail"] == oa
    seen.append("output write")
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    # Disarmed: the same unit computes exact attention again.
    dev.set_fault("fi_dma_error_address", -1)
    _attend_ok(raw, rng)
    return seen


def test_dma_error_response_at_an_address():
    assert in_fork(_dma_error_at_address) == ["K burst", "descriptor fetch", "completion write", "output write"]


def _dma_error_rate(seed: int) -> list[int]:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev, entries=64)
    rng = np.random.default_rng(11)
    ka, va = _kv(raw, rng, n=64, d=16)  # 4 KiB each: 16 bursts
    dev.set_fault("fi_seed", seed)
    dev.set_fault("fi_dma_error_rate", 0.05)
    statuses = []
    for _ in range(40):
        irq, c = _post(raw, opcode=Opcode.LOAD_KV, n=64, d=16, addr_a=ka, addr_b=va)
        if c is None:  # the completion write itself got the error
            assert (raw.r(Reg.STATUS) >> 8) & 0xFF == Status.DMA_ERROR
            statuses.append(-1)
        else:
            assert completion_ok(c) and c["status"] in (Status.OK, Status.DMA_ERROR)
            statuses.append(int(c["status"]))
        raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    injected = dev.faults_injected()["dma_random"]
    failed = sum(s != 0 for s in statuses)
    # A job ends at its first failing burst; its completion write can fail as well.
    assert failed <= injected <= 2 * failed
    dev.set_fault("fi_dma_error_rate", 0)
    _attend_ok(raw, rng)
    return statuses


def test_dma_error_rate_is_seeded_and_reported():
    a, b, c = (
        in_fork(lambda: _dma_error_rate(7)),
        in_fork(lambda: _dma_error_rate(7)),
        in_fork(lambda: _dma_error_rate(8)),
    )
    assert a == b  # same seed, same faults
    assert a != c
    # 40 jobs x (1 fetch + 32 bursts + 1 completion) at 5 %: about 33 of 40 jobs fail.
    assert 20 <= sum(s != 0 for s in a) <= 40 and Status.OK in a


def _lost_interrupt() -> bool:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev)
    dev.set_fault("fi_irq_drop", 1)
    irq, c = _post(raw, max_ns=1e6, opcode=Opcode.NOP)
    # No interrupt reached the host, but the job completed: its record is in the ring.
    assert not irq and c is not None and c["status"] == 0 and completion_ok(c) and c["tag"] == raw.tag
    assert raw.r(Reg.IRQ_STATUS) == IRQ_DONE and not raw.r(Reg.STATUS) & STATUS_BUSY
    assert dev.faults_injected()["irq_drop"] == 1
    # Nothing more is delivered until the host acknowledges: a second job's interrupt is lost too.
    irq2, c2 = _post(raw, max_ns=1e6, opcode=Opcode.NOP)
    assert not irq2 and c2["status"] == 0
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    irq3, c3 = _post(raw, opcode=Opcode.NOP)
    assert irq3 and c3["status"] == 0
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    _attend_ok(raw, np.random.default_rng(12))
    return True


def test_lost_interrupt():
    assert in_fork(_lost_interrupt)


def _late_interrupt() -> float:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev)
    dev.set_fault("fi_irq_delay_ns", 20_000)
    t0 = dev.host_now_ns()
    irq, c = _post(raw, max_ns=5_000, opcode=Opcode.NOP)
    assert not irq  # not within 5 us
    assert c is not None and c["status"] == 0  # but the job is done
    assert raw.dev.run(1e9)  # it arrives later
    late = dev.last_irq_ns() - t0
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    dev.set_fault("fi_irq_delay_ns", 0)
    t1 = dev.host_now_ns()
    assert _post(raw, opcode=Opcode.NOP)[0]
    normal = dev.last_irq_ns() - t1
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    _attend_ok(raw, np.random.default_rng(13))
    return late - normal


def test_late_interrupt():
    extra = in_fork(_late_interrupt)
    assert abs(extra - 20_000) < 200  # the delay, give or take the host's MMIO timing


def _stuck_busy() -> bool:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev)
    rng = np.random.default_rng(14)
    ka, va = _kv(raw, rng)
    dev.set_fault("fi_stuck_busy", 1)
    irq, c = _post(raw, max_ns=1e6, opcode=Opcode.LOAD_KV, n=20, d=8, addr_a=ka, addr_b=va)
    assert not irq and c is None
    assert raw.r(Reg.STATUS) & STATUS_BUSY and raw.r(Reg.SQ_HEAD) == 1
    assert not raw.dev.run(1e7) and raw.r(Reg.STATUS) & STATUS_BUSY  # still stuck much later
    # A descriptor queued behind it is not processed either.
    irq, c = _post(raw, max_ns=1e6, opcode=Opcode.NOP)
    assert c is None and raw.r(Reg.SQ_HEAD) == 1
    # Recovery: SOFT_RESET clears BUSY once the simulation reaches the write.
    raw.w(Reg.CTRL, CTRL_SOFT_RESET)
    raw.dev.run(1e4)
    st = raw.r(Reg.STATUS)
    assert not st & STATUS_BUSY and not st & STATUS_ERROR
    assert raw.r(Reg.SQ_HEAD) == 0 and raw.r(Reg.CQ_TAIL) == 0
    assert dev.faults_injected()["stuck_busy"] == 1
    _attend_ok(RawHost(dev), rng)  # re-programmed queues: the unit works again
    return True


def test_stuck_busy_until_soft_reset():
    assert in_fork(_stuck_busy)


def _corrupted_completions() -> int:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev, entries=4)
    dev.set_fault("fi_seed", 3)
    dev.set_fault("fi_corrupt_completion", 200)
    detected = 0
    for _ in range(200):
        irq, c = _post(raw, opcode=Opcode.NOP)
        assert c is not None  # the phase byte is never hit: the host sees the record
        detected += not completion_ok(c)
        raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    assert dev.faults_injected()["corrupt_completion"] == 200
    _, c = _post(raw, opcode=Opcode.NOP)
    assert completion_ok(c) and c["status"] == 0
    raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    _attend_ok(raw, np.random.default_rng(15))
    return detected


def test_corrupted_completion_records_are_detected():
    # One flipped bit per record: CRC-32 detects every one of them.
    assert in_fork(_corrupted_completions) == 200


def test_fault_settings_are_checked(drv):
    import pytest

    from a3sim.errors import ParameterError

    dev = drv.device
    for name, value in (
        ("fi_nope", 1),
        ("fi_dma_error_rate", 1.5),
        ("fi_irq_drop", -1),
        ("fi_seed", 0.5),
        ("fi_dma_error_address", -2),
        ("fi_irq_delay_ns", float("nan")),
        ("fi_stuck_busy", "x"),
    ):
        with pytest.raises(ParameterError):
            dev.set_fault(name, value)
    assert dev.faults_injected() == dict.fromkeys(dev.FAULT_KINDS, 0)


def _faults_from_configuration() -> str:
    from a3sim.device import Device

    dev = Device.open({"fi_corrupt_completion": 1, "fi_irq_drop": 1})
    raw = RawHost(dev)
    irq, c = _post(raw, max_ns=1e6, opcode=Opcode.NOP)
    assert not irq and not completion_ok(c)
    return "ok"


def test_faults_armed_by_configuration():
    from conftest import in_fresh_process

    code = (
        "import sys; sys.path.insert(0, 'tests')\nfrom test_faults import _faults_from_configuration as f\nprint(f())"
    )
    assert in_fresh_process(code).strip().endswith("ok")
