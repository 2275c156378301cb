"""One test per device status code (docs/descriptors.md sections 8-9): each is provoked at the raw
register/descriptor level, shows up in STATUS.LAST_ERROR (and in the completion record, with its
detail word, where the table says there is one), and the unit then computes exact attention again.
Each runs in a forked child; tests/test_host_integration.py runs them all in one sequence."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim.protocol import (
    DESCRIPTOR_DTYPE,
    FLAG_STREAM,
    IRQ_DONE,
    IRQ_ERROR,
    STATUS_ERROR,
    Mode,
    Opcode,
    Reg,
    Status,
    completion_ok,
)
from conftest import in_fork, rand
from test_host_integration import RawHost, _attend_ok

N, D = 20, 8


class Bench:
    """A RawHost with K, V, queries and an output buffer in DRAM."""

    def __init__(self) -> None:
        from a3sim.device import Device

        self.dev = Device.open()
        self.raw = RawHost(self.dev)
        self.rng = np.random.default_rng(90)
        self.K, self.V = rand(self.rng, N, D), rand(self.rng, N, D)
        self.ka, self.va = self.raw.buf(self.K), self.raw.buf(self.V)
        self.qa = self.raw.buf(rand(self.rng, 4, D))
        self.oa = self.raw.buf(np.zeros((400, D), np.float32))

    def load(self) -> None:
        assert self.raw.submit(opcode=Opcode.LOAD_KV, n=N, d=D, addr_a=self.ka, addr_b=self.va)["status"] == 0

    def attend(self, **kw) -> np.void:
        f = dict(opcode=Opcode.ATTEND, n=N, d=D, m=1, addr_a=self.qa, addr_b=self.oa)
        f.update(kw)
        return self.raw.submit(**f)


def _queue_overflow(b: Bench) -> None:
    raw = b.raw
    raw.w(Reg.IRQ_ACK, 3)
    for batch in (raw.entries - 1, 1):  # 7 records fill the 8-entry ring; the 8th has no room
        for _ in range(batch):
            raw.sq[raw.tail] = np.zeros(1, DESCRIPTOR_DTYPE)[0]
            raw.tail = (raw.tail + 1) % raw.entries
        raw.w(Reg.SQ_TAIL, raw.tail)
        raw.dev.run(1e9)
    raw.head = raw.r(Reg.CQ_TAIL)
    raw.w(Reg.CQ_HEAD, raw.head)


def _queue_config(b: Bench) -> None:
    b.raw.w(Reg.SQ_TAIL, 1000)
    b.raw.dev.run(1e9)


def _completion_write(b: Bench) -> None:
    b.dev.set_fault("fi_dma_error_address", b.raw.cq_blk.address + 32 * b.raw.r(Reg.CQ_TAIL))
    b.raw.sq[b.raw.tail] = np.zeros(1, DESCRIPTOR_DTYPE)[0]
    b.raw.tail = (b.raw.tail + 1) % b.raw.entries
    b.raw.w(Reg.SQ_TAIL, b.raw.tail)
    b.raw.dev.run(1e9)
    b.dev.set_fault("fi_dma_error_address", -1)


def _bad_table(b: Bench) -> np.void:
    b.load()
    table = np.zeros(2 * N * D, np.uint32)
    table[N * D + 5] = 0x7FFFFFF0
    return b.raw.submit(opcode=Opcode.LOAD_SORTED, n=N, d=D, addr_a=b.raw.buf(table))


def _nonfinite(b: Bench) -> np.void:
    bad = b.K.copy()
    bad[3, 2] = np.nan
    return b.raw.submit(opcode=Opcode.LOAD_KV, n=N, d=D, addr_a=b.raw.buf(bad), addr_b=b.va)


def _dma_error(b: Bench) -> np.void:
    b.dev.set_fault("fi_dma_error_address", b.va + 300)
    c = b.raw.submit(opcode=Opcode.LOAD_KV, n=N, d=D, addr_a=b.ka, addr_b=b.va)
    b.dev.set_fault("fi_dma_error_address", -1)
    return c


def _stream_mode(b: Bench) -> np.void:
    """An approx ATTEND against K/V loaded with the STREAM flag beyond n_max (rows stream from DRAM)."""
    n = 330  # CAP_N_MAX + 10
    rng = np.random.default_rng(91)
    ka, va = b.raw.buf(rand(rng, n, D)), b.raw.buf(rand(rng, n, D))
    assert b.raw.submit(opcode=Opcode.LOAD_KV, flags=FLAG_STREAM, n=n, d=D, addr_a=ka, addr_b=va)["status"] == 0
    return b.attend(n=n, mode=Mode.APPROX, M=10)


# name -> (trigger, expected detail or None); a trigger returns the record, or None if there is none.
CASES = {
    "BAD_OPCODE": (lambda b: b.raw.submit(opcode=9), 9),
    "BAD_MODE": (lambda b: (b.load(), b.attend(mode=5))[1], 5),
    "BAD_SHAPE": (lambda b: b.raw.submit(opcode=Opcode.LOAD_KV, n=0, d=D, addr_a=b.ka, addr_b=b.va), 0),
    "N_TOO_LARGE": (lambda b: b.raw.submit(opcode=Opcode.LOAD_KV, n=321, d=D, addr_a=b.ka, addr_b=b.va), 321),
    "D_TOO_LARGE": (lambda b: b.raw.submit(opcode=Opcode.LOAD_KV, n=N, d=65, addr_a=b.ka, addr_b=b.va), 65),
    "M_TOO_LARGE": (lambda b: (b.load(), b.attend(m=257))[1], 257),
    "BAD_PARAM": (lambda b: (b.load(), b.attend(mode=Mode.POST_ONLY, T=1.5))[1], 0x3FC00000),
    "NO_KV": (lambda b: b.attend(), 0),
    "KV_MISMATCH": (lambda b: (b.load(), b.attend(n=N + 1))[1], N + 1),
    "NO_SORTED_TABLE": (lambda b: (b.load(), b.attend(mode=Mode.APPROX, M=10))[1], 0),
    "DMA_FAULT": (
        lambda b: b.raw.submit(opcode=Opcode.LOAD_KV, n=N, d=D, addr_a=b.ka, addr_b=(1 << 30) - 256),
        (1 << 30),
    ),
    "NONFINITE": (_nonfinite, 0),
    "QUEUE_CONFIG": (_queue_config, None),
    "CQ_OVERFLOW": (_queue_overflow, None),
    "BAD_ALIGN": (lambda b: b.raw.submit(opcode=Opcode.LOAD_KV, n=N, d=D, addr_a=b.ka + 2, addr_b=b.va), 0),
    "BAD_TABLE": (_bad_table, 0x7FFFFFF0),
    "DMA_ERROR": (_dma_error, None),
    "BAD_ITERATIONS": (lambda b: (b.load(), b.attend(mode=Mode.APPROX, M=1 << 32))[1], 0xFFFFFFFF),
    "STREAM_MODE": (_stream_mode, int(Mode.APPROX)),
}


def _provoke(name: str) -> dict:
    b = Bench()
    trigger, detail = CASES[name]
    rec = trigger(b)
    st = b.raw.r(Reg.STATUS)
    out = {
        "status_bit": bool(st & STATUS_ERROR),
        "last_error": (st >> 8) & 0xFF,
        "irq_error": bool(b.raw.r(Reg.IRQ_STATUS) & IRQ_ERROR),
    }
    if rec is not None:  # (RawHost.submit has acknowledged the interrupt already)
        assert completion_ok(rec)
        out.update(record=int(rec["status"]), detail=int(rec["detail"]), expected_detail=detail)
    b.raw.w(Reg.IRQ_ACK, IRQ_DONE | IRQ_ERROR)
    if name == "QUEUE_CONFIG":
        b.raw = RawHost(b.dev)  # its recovery: re-program the queues
    _attend_ok(b.raw, b.rng)
    out["computes_after"] = True
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_error_code(name):
    r = in_fork(lambda: _provoke(name))
    code = Status[name]
    assert r["status_bit"] and r["last_error"] == code and r["computes_after"]
    if "record" in r:
        assert r["record"] == code
        if r["expected_detail"] is not None:
            assert r["detail"] == r["expected_detail"] & 0xFFFFFFFF
    else:  # the error-model table: these leave no record, only STATUS and the ERROR interrupt
        assert name in ("QUEUE_CONFIG", "CQ_OVERFLOW") and r["irq_error"]


def test_every_code_has_a_case():
    assert set(CASES) == {s.name for s in Status} - {"OK"}
