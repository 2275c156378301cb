"""Host-integration tests: the register map, the doorbell, interrupts and every device error
code, exercised as host software would, through MMIO and descriptors in host memory.

Checks use the protocol as documented (docs/register-map.md, docs/descriptors.md) through the
driver's own copy of it (a3sim.protocol), and check that copy against the native tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from a3sim import errors as E
from a3sim.protocol import (
    COMPLETION_DTYPE,
    CTRL_ENABLE,
    CTRL_SOFT_RESET,
    DESCRIPTOR_DTYPE,
    DEVICE_ID,
    DEVICE_VERSION,
    FLAG_IRQ,
    FLAG_ROW_STATS,
    IRQ_DONE,
    IRQ_ERROR,
    MMIO_BASE,
    MMIO_STRIDE,
    PERF_COUNTERS,
    STATUS_BUSY,
    STATUS_ENABLED,
    STATUS_ERROR,
    Mode,
    Opcode,
    Reg,
    Status,
    completion_ok,
    perf_offset,
)
from conftest import assert_exact_close, in_fork, in_fresh_process, rand


class RawHost:
    """Minimal host software written against the documented protocol, without the driver."""

    def __init__(self, dev, unit: int = 0, entries: int = 8) -> None:
        self.dev, self.unit, self.entries = dev, unit, entries
        dev.unit_state[unit].owner = None  # the session driver re-programs the unit afterwards
        self.sq_blk = dev.alloc(64 * entries)
        self.cq_blk = dev.alloc(32 * entries)
        self.sq = dev.view(self.sq_blk.address, DESCRIPTOR_DTYPE, entries)
        self.cq = dev.view(self.cq_blk.address, COMPLETION_DTYPE, entries)
        self.sq[:] = np.zeros(1, DESCRIPTOR_DTYPE)
        self.cq[:] = np.zeros(1, COMPLETION_DTYPE)
        self.w(Reg.CTRL, CTRL_SOFT_RESET)
        self.w(Reg.SQ_BASE_LO, self.sq_blk.address & 0xFFFFFFFF)
        self.w(Reg.SQ_BASE_HI, self.sq_blk.address >> 32)
        self.w(Reg.SQ_SIZE, entries)
        self.w(Reg.CQ_BASE_LO, self.cq_blk.address & 0xFFFFFFFF)
        self.w(Reg.CQ_BASE_HI, self.cq_blk.address >> 32)
        self.w(Reg.CQ_SIZE, entries)
        self.w(Reg.IRQ_ENABLE, IRQ_DONE | IRQ_ERROR)
        self.w(Reg.CTRL, CTRL_ENABLE)
        self.tail = 0
        self.head = 0
        self.tag = 100

    def r(self, reg: int) -> int:
        return self.dev.read_reg(self.unit, reg)

    def w(self, reg: int, v: int) -> None:
        self.dev.write_reg(self.unit, reg, v)

    def submit(self, **fields) -> np.void:
        """One descriptor with the IRQ flag; ring, run to the interrupt, return its completion."""
        d = np.zeros(1, DESCRIPTOR_DTYPE)[0]
        self.tag += 1
        d["tag"] = self.tag
        d["flags"] = FLAG_IRQ
        for k, v in fields.items():
            d[k] = v
        if "flags" in fields:
            d["flags"] = fields["flags"] | FLAG_IRQ
        self.sq[self.tail] = d
        self.tail = (self.tail + 1) % self.entries
        self.w(Reg.SQ_TAIL, self.tail)
        assert self.dev.run(1e9), "no interrupt"
        c = self.cq[self.head].copy()
        assert c["tag"] == self.tag and completion_ok(c)
        self.head = (self.head + 1) % self.entries
        self.w(Reg.CQ_HEAD, self.head)
        self.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
        return c

    def buf(self, arr: np.ndarray) -> int:
        blk = self.dev.alloc(arr.nbytes)
        self.dev.view(blk.address, arr.dtype, arr.size)[:] = arr.ravel()
        return blk.address


def test_protocol_tables_agree_with_native(drv):
    dev = drv.device
    names = {code: name for code, (name, _) in dev.errors.items()}
    assert names == {s.value: s.name for s in Status}
    assert set(Status.__members__) - {"OK"} == set(E.ERROR_CLASSES)
    perf = [name for name, _ in dev.native.perf_counters()]
    assert perf == list(PERF_COUNTERS)
    assert int(dev.native.mmio_base(0)) == MMIO_BASE and int(dev.native.mmio_base(1)) - MMIO_BASE == MMIO_STRIDE
    assert drv.read_reg(Reg.ID) == DEVICE_ID and drv.read_reg(Reg.VERSION) == DEVICE_VERSION


def test_reset_values_in_a_fresh_platform():
    out = in_fresh_process(
        """
        import json
        from a3sim.device import Device
        from a3sim.protocol import Reg, PERF_COUNTERS, perf_offset
        dev = Device.open()
        regs = {r.name: dev.read_reg(0, r) for r in Reg if r not in (Reg.PERF_BASE,)}
        regs.update({f"PERF_{p}": dev.read_reg(0, perf_offset(p)) for p in PERF_COUNTERS})
        print(json.dumps(regs))
        """
    )
    regs = json.loads(out.strip().splitlines()[-1])
    expected = {
        "ID": DEVICE_ID,
        "VERSION": DEVICE_VERSION,
        "CAP_N_MAX": 320,
        "CAP_D_MAX": 64,
        "CAP_Q_ROWS": 256,
        "CAP_CLOCK_MHZ": 1000,
        "CAP_BURST_BYTES": 256,
        "CAP_FEATURES": 0x5,  # APPROX | MIN_SKIP (docs/register-map.md)
        "CAP_QUEUE_MAX": 65536,
        "CAP_ITER_BITS": 32,
    }
    for name, value in regs.items():
        assert value == expected.get(name, 0), name


def test_read_only_registers_ignore_writes(drv):
    raw = RawHost(drv.device)
    for reg in (
        Reg.ID,
        Reg.VERSION,
        Reg.STATUS,
        Reg.IRQ_STATUS,
        Reg.SQ_HEAD,
        Reg.CQ_TAIL,
        Reg.CAP_N_MAX,
        Reg.CAP_D_MAX,
        Reg.CAP_Q_ROWS,
        Reg.CAP_CLOCK_MHZ,
        Reg.CAP_BURST_BYTES,
        Reg.CAP_FEATURES,
        Reg.CAP_QUEUE_MAX,
        perf_offset("JOBS"),
        perf_offset("JOBS") + 4,
    ):
        before = raw.r(reg)
        raw.w(reg, 0xFFFFFFFF)
        assert raw.r(reg) == before, reg
    # Write-only registers read as 0; RW registers keep what is written.
    raw.w(Reg.SCRATCH, 0xDEADBEEF)
    assert raw.r(Reg.SCRATCH) == 0xDEADBEEF
    assert raw.r(Reg.IRQ_ACK) == 0 and raw.r(Reg.PERF_CLEAR) == 0
    # Reserved bits of CTRL and IRQ_ENABLE read as 0; SOFT_RESET self-clears.
    raw.w(Reg.IRQ_ENABLE, 0xFFFFFFFF)
    assert raw.r(Reg.IRQ_ENABLE) == IRQ_DONE | IRQ_ERROR
    raw.w(Reg.CTRL, 0xFFFFFFFF)
    assert raw.r(Reg.CTRL) == CTRL_ENABLE


def test_bad_mmio_accesses_are_bus_errors(drv):
    dev = drv.device
    with pytest.raises(E.MmioError):
        dev.read_reg(0, 0x7F0)  # unmapped offset
    with pytest.raises(E.MmioError):
        dev.read_reg(0, 0x002)  # not 32-bit aligned
    with pytest.raises(E.MmioError):
        dev.mmio_read(MMIO_BASE + 64 * MMIO_STRIDE)  # no device there
    with pytest.raises(E.MmioError):
        dev.write_reg(0, 0xFFC, 1)
    assert drv.read_reg(Reg.ID) == DEVICE_ID  # still answering


def test_doorbell_completion_and_interrupt_ack(drv):
    raw = RawHost(drv.device)
    assert raw.r(Reg.STATUS) == STATUS_ENABLED
    c = raw.submit(opcode=Opcode.NOP)
    assert c["status"] == 0 and c["phase"] == 1 and c["opcode"] == Opcode.NOP and c["sq_index"] == 0
    assert raw.r(Reg.SQ_HEAD) == 1 and raw.r(Reg.CQ_TAIL) == 1
    # Without the IRQ flag there is no interrupt, but the completion is written.
    raw.sq[1] = np.zeros(1, DESCRIPTOR_DTYPE)[0]
    raw.tail = 2
    raw.w(Reg.SQ_TAIL, 2)
    assert raw.dev.run(1e7) is False
    assert raw.cq[1]["phase"] == 1 and raw.r(Reg.IRQ_STATUS) == 0
    # Interrupt: IRQ_STATUS shows DONE until acknowledged; ACK of another bit leaves it.
    raw.head = 2
    raw.w(Reg.CQ_HEAD, 2)
    raw.sq[2] = np.zeros(1, DESCRIPTOR_DTYPE)[0]
    raw.sq[2]["flags"] = FLAG_IRQ
    raw.w(Reg.SQ_TAIL, 3)
    assert raw.dev.run(1e9) is True
    assert raw.r(Reg.IRQ_STATUS) == IRQ_DONE
    raw.w(Reg.IRQ_ACK, IRQ_ERROR)
    assert raw.r(Reg.IRQ_STATUS) == IRQ_DONE
    raw.w(Reg.IRQ_ACK, IRQ_DONE)
    assert raw.r(Reg.IRQ_STATUS) == 0
    # Masked interrupt: status bit set, no delivery.
    raw.w(Reg.IRQ_ENABLE, 0)
    raw.sq[3] = raw.sq[2]
    raw.w(Reg.SQ_TAIL, 4)
    assert raw.dev.run(1e7) is False
    assert raw.r(Reg.IRQ_STATUS) == IRQ_DONE
    raw.w(Reg.IRQ_ACK, IRQ_DONE)
    # Ring wrap: the phase bit toggles on the second pass.
    raw.w(Reg.IRQ_ENABLE, IRQ_DONE | IRQ_ERROR)
    raw.tail, raw.head = 4, 4
    raw.w(Reg.CQ_HEAD, 4)
    for _ in range(6):
        c = raw.submit(opcode=Opcode.NOP)
    assert c["phase"] == 0 and raw.r(Reg.CQ_TAIL) == 2


def test_perf_counters_latch_and_clear(drv):
    raw = RawHost(drv.device)
    raw.submit(opcode=Opcode.NOP)
    raw.submit(opcode=Opcode.NOP)
    assert raw.r(perf_offset("JOBS")) == 2 and raw.r(perf_offset("JOBS") + 4) == 0
    assert raw.r(perf_offset("BYTES_RD")) == 2 * 64 and raw.r(perf_offset("BYTES_WR")) == 2 * 32
    raw.w(Reg.PERF_CLEAR, 1)
    assert all(raw.r(perf_offset(p)) == 0 for p in PERF_COUNTERS)


def _attend_ok(raw: RawHost, rng) -> None:
    """A good LOAD_KV + ATTEND after an error: the unit still computes exact attention."""
    n, d, m = 20, 8, 3
    K, V, Q = rand(rng, n, d), rand(rng, n, d), rand(rng, m, d)
    ka, va, qa = raw.buf(K), raw.buf(V), raw.buf(Q)
    oa = raw.buf(np.zeros((m, d), np.float32))
    assert raw.submit(opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka, addr_b=va)["status"] == 0
    c = raw.submit(opcode=Opcode.ATTEND, n=n, d=d, m=m, addr_a=qa, addr_b=oa)
    assert c["status"] == 0 and c["queries"] == m
    out = raw.dev.view(oa, np.float32, m * d).reshape(m, d)
    assert_exact_close(out, Q, K, V)


def _trigger_all_errors() -> dict[str, int]:
    from a3sim.device import Device

    dev = Device.open()
    raw = RawHost(dev)
    rng = np.random.default_rng(0)
    n, d = 20, 8
    K, V = rand(rng, n, d), rand(rng, n, d)
    ka, va = raw.buf(K), raw.buf(V)
    qa = raw.buf(rand(rng, 4, d))
    oa = raw.buf(np.zeros((400, d), np.float32))
    seen: dict[str, int] = {}

    def expect(name: str, **fields) -> None:
        c = raw.submit(**fields)
        seen[name] = int(c["status"])
        assert c["status"] == Status[name], (name, int(c["status"]))
        st = raw.r(Reg.STATUS)
        assert st & STATUS_ERROR and (st >> 8) & 0xFF == Status[name]
        _attend_ok(raw, rng)

    expect("NO_KV", opcode=Opcode.ATTEND, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("BAD_OPCODE", opcode=9)
    expect("BAD_SHAPE", opcode=Opcode.LOAD_KV, n=0, d=d, addr_a=ka, addr_b=va)
    expect("N_TOO_LARGE", opcode=Opcode.LOAD_KV, n=321, d=d, addr_a=ka, addr_b=va)
    expect("D_TOO_LARGE", opcode=Opcode.LOAD_KV, n=n, d=65, addr_a=ka, addr_b=va)
    expect("BAD_ALIGN", opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka + 2, addr_b=va)
    assert raw.submit(opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka, addr_b=va)["status"] == 0
    expect("KV_MISMATCH", opcode=Opcode.ATTEND, n=n + 1, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("M_TOO_LARGE", opcode=Opcode.ATTEND, n=n, d=d, m=257, addr_a=qa, addr_b=oa)
    expect("BAD_MODE", opcode=Opcode.ATTEND, mode=5, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("BAD_PARAM", opcode=Opcode.ATTEND, mode=Mode.POST_ONLY, T=1.5, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("BAD_PARAM", opcode=Opcode.ATTEND, mode=Mode.POST_ONLY, T=np.nan, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("NO_SORTED_TABLE", opcode=Opcode.ATTEND, mode=Mode.APPROX, M=10, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    # M must fit the 32-bit iteration counter (CAP_ITER_BITS), in every mode.
    expect("BAD_ITERATIONS", opcode=Opcode.ATTEND, mode=Mode.APPROX, M=1 << 32, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("BAD_ITERATIONS", opcode=Opcode.ATTEND, mode=Mode.EXACT, M=2**64 - 1, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    # A sorted-key table whose row index points outside K is refused (it would steer the pointers
    # out of the banks), and approx mode then still has no table.
    assert raw.submit(opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka, addr_b=va)["status"] == 0
    table = np.zeros(2 * n * d, np.uint32)
    table[n * d + 5] = 0x7FFFFFF0
    expect("BAD_TABLE", opcode=Opcode.LOAD_SORTED, n=n, d=d, addr_a=raw.buf(table))
    assert raw.submit(opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka, addr_b=va)["status"] == 0
    expect("NO_SORTED_TABLE", opcode=Opcode.ATTEND, mode=Mode.APPROX, M=10, n=n, d=d, m=1, addr_a=qa, addr_b=oa)
    expect("DMA_FAULT", opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=dev.dram_size - 100, addr_b=va)
    expect("DMA_FAULT", opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka, addr_b=1 << 40)
    # An error response from the target (fault injection: an uncorrectable error in V's 2nd burst).
    dev.set_fault("fi_dma_error_address", va + 300)
    expect("DMA_ERROR", opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=ka, addr_b=va)
    dev.set_fault("fi_dma_error_address", -1)
    bad = K.copy()
    bad[3, 2] = np.nan
    expect("NONFINITE", opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=raw.buf(bad), addr_b=va)
    # Scores that overflow float32 in the dot product.
    big = raw.buf(np.full((n, d), 1e20, np.float32))
    assert raw.submit(opcode=Opcode.LOAD_KV, n=n, d=d, addr_a=big, addr_b=va)["status"] == 0
    expect(
        "NONFINITE", opcode=Opcode.ATTEND, n=n, d=d, m=1, addr_a=big, addr_b=oa, flags=FLAG_ROW_STATS, addr_c=oa + 4096
    )
    # Completion queue overflow: the host stops advancing CQ_HEAD. 7 completions fill the
    # 8-entry ring (one slot stays empty); the 8th descriptor cannot complete.
    raw.w(Reg.IRQ_ACK, 3)
    for batch in (raw.entries - 1, 1):
        for _ in range(batch):
            raw.sq[raw.tail] = np.zeros(1, DESCRIPTOR_DTYPE)[0]
            raw.tail = (raw.tail + 1) % raw.entries
        raw.w(Reg.SQ_TAIL, raw.tail)
        raw.dev.run(1e9)
    assert raw.r(Reg.IRQ_STATUS) & IRQ_ERROR
    assert (raw.r(Reg.STATUS) >> 8) & 0xFF == Status.CQ_OVERFLOW
    assert raw.r(perf_offset("ERRORS")) > 0
    seen["CQ_OVERFLOW"] = Status.CQ_OVERFLOW
    raw.head = raw.r(Reg.CQ_TAIL)
    raw.w(Reg.CQ_HEAD, raw.head)
    raw.w(Reg.IRQ_ACK, 3)
    _attend_ok(raw, rng)
    # Queue misconfiguration: a tail beyond the queue.
    raw.w(Reg.SQ_TAIL, 1000)
    raw.dev.run(1e9)
    assert (raw.r(Reg.STATUS) >> 8) & 0xFF == Status.QUEUE_CONFIG
    seen["QUEUE_CONFIG"] = Status.QUEUE_CONFIG
    raw2 = RawHost(dev)  # re-program the queues: the unit works again
    _attend_ok(raw2, rng)
    return seen


def test_every_error_code_and_the_unit_keeps_working():
    seen = in_fork(_trigger_all_errors)
    assert set(seen) == {s.name for s in Status} - {"OK"}


def test_errors_through_the_driver(drv):
    """Device errors become typed exceptions, and the driver stays usable after each."""
    rng = np.random.default_rng(1)
    K = np.full((8, 4), 1e20, np.float32)
    with pytest.raises(E.DeviceNonFiniteError) as ei:
        drv.attention(np.full(4, 1e20, np.float32), K, K)
    assert ei.value.name == "NONFINITE" and ei.value.code == Status.NONFINITE
    Q, K, V = rand(rng, 2, 4), rand(rng, 8, 4), rand(rng, 8, 4)
    out, _ = drv.attention(Q, K, V)
    assert_exact_close(out, Q, K, V)


def test_busy_bit_and_status_while_running(drv):
    raw = RawHost(drv.device)
    rng = np.random.default_rng(2)
    n, d = 320, 64
    ka, va = raw.buf(rand(rng, n, d)), raw.buf(rand(rng, n, d))
    raw.sq[0] = np.zeros(1, DESCRIPTOR_DTYPE)[0]
    raw.sq[0]["opcode"], raw.sq[0]["n"], raw.sq[0]["d"] = Opcode.LOAD_KV, n, d
    raw.sq[0]["addr_a"], raw.sq[0]["addr_b"], raw.sq[0]["flags"] = ka, va, FLAG_IRQ
    raw.w(Reg.SQ_TAIL, 1)
    # Stop 1 us after the doorbell, in the middle of the ~6.6 us K/V transfer.
    raw.dev.run(raw.dev.host_now_ns() - raw.dev.now_ns() + 1000.0)
    assert raw.r(Reg.STATUS) & STATUS_BUSY
    assert raw.dev.run(1e9)
    assert not raw.r(Reg.STATUS) & STATUS_BUSY
