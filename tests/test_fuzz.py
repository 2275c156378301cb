"""Fuzzing the device with hypothesis (issue 13): random MMIO sequences (any bus address, any value,
any access shape) and random descriptors. Whatever the sequence, the process does not crash, the
kernel keeps running, every register answer and every completion record is success or a documented
code (docs/descriptors.md section 8, TLM error responses for the bus), and afterwards the unit,
re-programmed, computes exact attention.

Two profiles: the fast one (``test_fuzz_fast``, 40 sequences) runs in ``make test``; the long one
(10,000 sequences) is behind the ``fuzz_long`` marker:

    .venv/bin/python -m pytest -p no:cacheprovider -m fuzz_long tests/test_fuzz.py -s

It prints the figure recorded in docs/robustness.md (sequences tried, failures). Each profile runs
in one forked child (conftest.in_fork): the session's platform is untouched."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a3sim.protocol import (
    COMPLETION_DTYPE,
    CTRL_SOFT_RESET,
    DESCRIPTOR_DTYPE,
    MMIO_BASE,
    PERF_COUNTERS,
    Flag,
    Reg,
    Status,
    completion_ok,
    perf_offset,
)
from conftest import in_fork

TLM_STATUSES = {1, -1, -2, -3, -4, -5}  # OK and the five error responses
CODES = {s.value for s in Status}
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
OFFSETS = st.one_of(
    st.sampled_from([int(r) for r in Reg] + [perf_offset(p) + k for p in PERF_COUNTERS for k in (0, 4)]),
    st.integers(0, 0xFFF),
)


class Fixture:
    """Buffers the fuzzed descriptors may point at (valid, misaligned or anywhere)."""

    def __init__(self, dev) -> None:
        self.dev = dev
        self.ring = dev.alloc(64 * 16 + 32 * 16)
        self.bufs = [dev.alloc(256 * 1024).address for _ in range(4)]
        rng = np.random.default_rng(0)
        for a in self.bufs:
            dev.view(a, np.float32, 64 * 1024)[:] = rng.standard_normal(64 * 1024).astype(np.float32)
        # A K/V pair of 20 x 8 and its sorted-key table (descriptors.md section 2), so that
        # sequences get past NO_KV / NO_SORTED_TABLE and reach the later checks and the compute.
        K = dev.view(self.bufs[0], np.float32, 20 * 8).reshape(20, 8)
        order = np.argsort(-K.T, axis=1, kind="stable")
        self.table = dev.alloc(2 * 20 * 8 * 4).address
        dev.view(self.table, np.float32, 160)[:] = np.take_along_axis(K.T, order, axis=1).ravel()
        dev.view(self.table + 640, np.uint32, 160)[:] = order.astype(np.uint32).ravel()
        self.sq = dev.view(self.ring.address, DESCRIPTOR_DTYPE, 16)
        self.cq = dev.view(self.ring.address + 64 * 16, COMPLETION_DTYPE, 16)

    def away(self, address: int) -> int:
        """Addresses that host writes or device output DMA (at most 64 KiB + 6 KiB + bitmaps) would
        scribble over the rings with are moved 1 MiB up: a record found in the completion ring is
        then one the device wrote, and must carry a good check word."""
        lo, hi = self.ring.address - 0x12000, self.ring.address + self.ring.size
        return address + 0x100000 if lo <= address < hi else address

    def program(self) -> None:
        """Soft reset (waiting out a busy unit) and the queues of a 16-entry ring."""
        w = lambda r, v: self.dev.write_reg(0, r, v)  # noqa: E731
        w(Reg.IRQ_ENABLE, 0)  # the line falls: run() below simulates instead of returning at once
        w(Reg.CTRL, CTRL_SOFT_RESET)
        # A job may run for simulated minutes (M = 2^32 - 1 iterations x 256 queries ~ 1100 s):
        # run until it ends (the simulation runs dry), however long that is in simulated time.
        for _ in range(10):
            if not self.dev.read_reg(0, Reg.STATUS) & 1:
                break
            self.dev.run(float("inf"))
        w(Reg.CTRL, CTRL_SOFT_RESET)
        assert not self.dev.read_reg(0, Reg.STATUS) & 1
        self.cq[:] = np.zeros(1, COMPLETION_DTYPE)
        for r, v in (
            (Reg.SQ_BASE_LO, self.ring.address),
            (Reg.SQ_BASE_HI, 0),
            (Reg.SQ_SIZE, 16),
            (Reg.CQ_BASE_LO, self.ring.address + 64 * 16),
            (Reg.CQ_BASE_HI, 0),
            (Reg.CQ_SIZE, 16),
            (Reg.IRQ_ENABLE, 3),
            (Reg.IRQ_ACK, 3),
            (Reg.CTRL, 1),
        ):
            w(r, v)


def mostly(common: st.SearchStrategy, rare: st.SearchStrategy, in_16: int = 2) -> st.SearchStrategy:
    """``common`` in about 16 - in_16 of 16 draws, ``rare`` in the others (hypothesis' one_of does
    not weigh repeated branches, and draws that shrink to 0 pick ``common``)."""
    return st.tuples(st.integers(0, 15), common, rare).map(lambda t: t[2] if t[0] >= 16 - in_16 else t[1])


def often(values: list, rare: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly one of ``values`` (so that sequences get past validation), sometimes ``rare``."""
    return mostly(st.sampled_from(values), rare, 4)


def addresses(fx_bufs: list[int]) -> st.SearchStrategy[int]:
    good = st.sampled_from(fx_bufs)
    rare = st.one_of(good.map(lambda a: a + 2), st.integers(0, 2**31), U64, st.just((1 << 30) - 100))
    return mostly(good, rare, 1)


def descriptors(fx_bufs: list[int]) -> st.SearchStrategy[dict]:
    addr = addresses(fx_bufs)
    return st.fixed_dictionaries(
        {
            "opcode": often([0, 1, 1, 2, 2, 2, 3], st.integers(0, 255)),
            "mode": often([0, 1, 2], st.integers(0, 255)),
            "flags": st.integers(0, 0xFFFF),
            "tag": U32,
            "n": often([20, 20, 20, 0, 320, 321, 400], U32),
            "d": often([8, 8, 8, 0, 64, 65], U32),
            "m": often([1, 4, 4, 0, 256, 257], U32),
            "T": st.one_of(st.floats(0, 1, width=32), st.floats(width=32)),
            "M": often([0, 1, 100, 2**32 - 1, 2**32], U64),
            "addr_a": addr,
            "addr_b": addr,
            "addr_c": addr,
            "addr_d": addr,
        }
    )


def valid_loads(fx_bufs: list[int], table: int) -> st.SearchStrategy[dict]:
    """A good LOAD_KV of the 20 x 8 K/V, a good LOAD_SORTED of its table, or a good streamed
    LOAD_KV of 400 x 8 (n beyond CAP_N_MAX, flag STREAM), after which ATTENDs reach the checks of
    streamed K/V (STREAM_MODE)."""
    kv = {"opcode": 1, "n": 20, "d": 8, "addr_a": fx_bufs[0], "addr_b": fx_bufs[1], "flags": 1}
    srt = {"opcode": 3, "n": 20, "d": 8, "addr_a": table, "flags": 1}
    streamed = {
        "opcode": 1,
        "n": 400,
        "d": 8,
        "addr_a": fx_bufs[0],
        "addr_b": fx_bufs[1],
        "flags": 1 | int(Flag.STREAM),
    }
    return st.sampled_from([kv, kv, srt, streamed])


def streamed_attends(fx_bufs: list[int]) -> st.SearchStrategy[dict]:
    """An ATTEND of 400 x 8 (the streamed load's shape) in any mode: exact ones stream K/V, the
    others must end in STREAM_MODE (or NO_KV / KV_MISMATCH when no streamed load precedes)."""
    return st.fixed_dictionaries(
        {
            "opcode": st.just(2),
            "mode": st.sampled_from([0, 1, 2]),
            "flags": st.sampled_from([0, 1]),
            "n": st.just(400),
            "d": st.just(8),
            "m": st.sampled_from([1, 4]),
            "T": st.just(0.05),
            "M": st.sampled_from([0, 100]),
            "addr_a": st.just(fx_bufs[2]),
            "addr_b": st.just(fx_bufs[3]),
            "addr_c": st.just(fx_bufs[2] + 128 * 1024),
            "addr_d": st.just(fx_bufs[3] + 128 * 1024),
        }
    )


def operations(fx_bufs: list[int], table: int = 0) -> st.SearchStrategy[list[tuple]]:
    mmio_addr = st.one_of(OFFSETS.map(lambda o: MMIO_BASE + o), U64)
    op = st.one_of(
        st.tuples(st.just("write"), mmio_addr, U32),
        st.tuples(st.just("read"), mmio_addr),
        st.tuples(st.just("run"), st.floats(0, 1e6)),
        st.tuples(st.just("desc"), descriptors(fx_bufs)),
        st.tuples(st.just("desc"), descriptors(fx_bufs)),
        st.tuples(st.just("desc"), valid_loads(fx_bufs, table)),
        st.tuples(st.just("desc"), streamed_attends(fx_bufs)),
        # Any access shape a host could issue (legal initiator; the targets must answer by the rules).
        st.tuples(
            st.just("bus"),
            st.booleans(),
            st.one_of(mmio_addr, st.integers((1 << 30) - 4096, 1 << 30)),
            st.integers(1, 512),
            st.integers(1, 512),
            U32,
        ),
    )
    return st.lists(op, min_size=1, max_size=25)


def ack_and_run(dev, max_ns: float) -> None:
    """As host software does: acknowledge what interrupted last, then simulate on (while a line
    stays high after its delivery, run() returns at once)."""
    dev.api.mmio_write(MMIO_BASE + Reg.IRQ_ACK, 3)
    dev.run(max_ns)


def run_sequence(fx: Fixture, ops: list[tuple], seen: set[int]) -> None:
    dev, api = fx.dev, fx.dev.api
    fx.program()
    tail = 0
    for op in ops:
        kind = op[0]
        if kind == "write":
            assert int(api.mmio_write(fx.away(op[1]), op[2])) in TLM_STATUSES
        elif kind == "read":
            v = int(api.mmio_read(op[1]))
            assert 0 <= v < 2**32 or v in TLM_STATUSES
        elif kind == "run":
            ack_and_run(dev, op[1])
        elif kind == "desc":
            d = np.zeros(1, DESCRIPTOR_DTYPE)[0]
            for k, v in op[1].items():
                d[k] = fx.away(v) if k in ("addr_b", "addr_c", "addr_d") else v
            fx.sq[tail] = d
            tail = (tail + 1) % 16
            assert int(api.mmio_write(MMIO_BASE + Reg.SQ_TAIL, tail)) in TLM_STATUSES
            ack_and_run(dev, 1e5)
            code = (dev.read_reg(0, Reg.STATUS) >> 8) & 0xFF
            assert code in CODES
            seen.add(code)
        else:
            _, write, address, nbytes, width, be = op
            assert (
                int(api.host_transaction(write, fx.away(address) if write else address, 0, nbytes, width, be, False))
                in TLM_STATUSES
            )
    ack_and_run(dev, 1e8)
    status = dev.read_reg(0, Reg.STATUS)
    assert (status >> 8) & 0xFF in CODES
    seen.add((status >> 8) & 0xFF)
    for rec in fx.cq[fx.cq["phase"] != 0]:
        assert rec["status"] in CODES and completion_ok(rec), rec
        seen.add(int(rec["status"]))


def check_computes(fx: Fixture) -> None:
    """After the sequence: wait out a job still running (RawHost expects an idle unit, as a driver
    does), re-program, and a LOAD_KV + ATTEND gives exact attention."""
    from test_host_integration import RawHost, _attend_ok

    fx.program()
    _attend_ok(RawHost(fx.dev), np.random.default_rng(1))


def fuzz(examples: int, seed: int | None) -> tuple[int, list[str]]:
    from a3sim.device import Device

    dev = Device.open()
    dev.api.trace_enable(False)
    fx = Fixture(dev)
    count = 0
    seen: set[int] = set()

    kv = ("desc", {"opcode": 1, "n": 20, "d": 8, "addr_a": fx.bufs[0], "addr_b": fx.bufs[1], "flags": 1})
    srt = ("desc", {"opcode": 3, "n": 20, "d": 8, "addr_a": fx.table, "flags": 1})

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    # Two sequences in three start from loaded K/V (and table), so that random descriptors
    # reach the checks and the compute behind NO_KV.
    @given(ops=operations(fx.bufs, fx.table), preload=st.sampled_from([(), (kv,), (kv, srt)]))
    def one(ops, preload):
        nonlocal count
        count += 1
        run_sequence(fx, list(preload) + ops, seen)
        if count % 10 == 1:
            check_computes(fx)
            dev.unit_state[0].owner = None

    one()
    check_computes(fx)
    # The fuzzed traffic is legal TLM (any shape, but a proper initiator): on a platform with the
    # protocol checkers (the test suite's), the targets answered it by the rules.
    assert dev.protocol_report()["violations"] == 0, dev.protocol_report()["messages"]
    return count, sorted(Status(c).name for c in seen)


def test_fuzz_fast():
    tried, codes = in_fork(lambda: fuzz(40, seed=0), timeout=600)
    assert tried >= 40 and len(codes) >= 5, codes


@pytest.mark.fuzz_long
def test_fuzz_long():
    tried, codes = in_fork(lambda: fuzz(10_000, seed=None), timeout=36_000)
    print(f"\nfuzz_long: {tried} sequences tried, 0 failures; status codes seen ({len(codes)}): {', '.join(codes)}")
    assert tried >= 10_000
