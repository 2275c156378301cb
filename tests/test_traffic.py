"""DMA traffic: the trace's bytes equal the analytic bytes of each call, and the transaction table
adds up to the call record. Also a protocol check of every recorded transaction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import rand

DESC, COMPL, STATS = 64, 32, 24


def analytic_bytes(m: int, n: int, d: int, q_rows: int, n_max: int, load_kv: bool = True) -> tuple[int, int]:
    """DMA bytes of an exact call with K/V arrays: per tile one LOAD_KV (if loaded) and one ATTEND
    per q_rows queries; each descriptor is read (64 B) and completed (32 B)."""
    tiles = math.ceil(n / n_max)
    chunks = math.ceil(m / q_rows)
    descs = tiles * (chunks + (1 if load_kv else 0))
    rd = descs * DESC + (2 * n * d * 4 if load_kv else 0) + tiles * m * d * 4
    wr = descs * COMPL + tiles * (m * d * 4 + m * STATS)
    return rd, wr


@pytest.mark.parametrize("m,n,d", [(1, 1, 1), (3, 16, 32), (1024, 320, 64), (5, 700, 64), (300, 50, 7)])
def test_bytes_match_analytic_and_trace(drv, m, n, d):
    rng = np.random.default_rng(n * 7 + m)
    _, rec = drv.attention(rand(rng, m, d), rand(rng, n, d), rand(rng, n, d))
    rd, wr = analytic_bytes(m, n, d, drv.q_rows, drv.n_max)
    assert (rec.bytes_read, rec.bytes_written) == (rd, wr)
    t = drv.trace.transactions()
    mine = t[t.job.isin(rec.jobs)]
    assert int(mine[mine.op == "read"].bytes.sum()) == rec.bytes_read
    assert int(mine[mine.op == "write"].bytes.sum()) == rec.bytes_written
    # Per stream.
    by = mine.groupby("stream", observed=True).bytes.sum()
    assert by["K"] == by["V"] == n * d * 4
    assert by["Q"] == math.ceil(n / drv.n_max) * m * d * 4
    assert by["stats"] == math.ceil(n / drv.n_max) * m * STATS
    # Every DMA transaction is at most one burst, and all went to DRAM.
    assert mine.bytes.max() <= drv.device.cfg("burst_bytes")
    assert set(mine.target.astype(str)) == {"dram"}


def test_resident_context_traffic(drv):
    rng = np.random.default_rng(21)
    m, n, d = 64, 320, 64
    ctx = drv.load(rand(rng, n, d), rand(rng, n, d))
    drv.attention(rand(rng, m, d), ctx)
    _, rec = drv.attention(rand(rng, m, d), ctx)
    assert (rec.bytes_read, rec.bytes_written) == analytic_bytes(m, n, d, drv.q_rows, drv.n_max, load_kv=False)
    ctx.close()


def test_perf_counters_agree_with_records(drv):
    rng = np.random.default_rng(22)
    before = drv.perf_counters()
    _, rec = drv.attention(rand(rng, 10, 8), rand(rng, 30, 8), rand(rng, 30, 8))
    after = drv.perf_counters()
    assert after["BYTES_RD"] - before["BYTES_RD"] == rec.bytes_read
    assert after["BYTES_WR"] - before["BYTES_WR"] == rec.bytes_written
    assert after["QUERIES"] - before["QUERIES"] == 10
    assert after["JOBS"] - before["JOBS"] == 2
    assert after["CYC_DOT"] - before["CYC_DOT"] == rec.stage_cycles["dot_product"]


def test_protocol_check_of_all_transactions(drv):
    """STYLE.md's protocol check: every recorded transaction has a response, a length within a
    burst, an address inside its target, and time that never runs backwards."""
    rng = np.random.default_rng(23)
    drv.attention(rand(rng, 40, 64), rand(rng, 400, 64), rand(rng, 400, 64))
    t = drv.trace.transactions()
    assert len(t) > 0
    assert (t.t_end_ns >= t.t_start_ns).all()
    dram = t[t.target == "dram"]
    assert (dram.status == "ok").all()
    assert (dram.address.astype(np.int64) + dram.bytes <= drv.device.dram_size).all()
    assert (dram.bytes > 0).all() and (dram.bytes <= drv.device.cfg("burst_bytes")).all()
    mmio = t[t.stream == "mmio"]
    assert (mmio.bytes == 4).all()
    # Each initiator issues in non-decreasing time order.
    for _, g in t.groupby("initiator", observed=True):
        assert (np.diff(g.t_start_ns.values) >= -1e-9).all()
