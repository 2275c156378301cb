"""K/V beyond the SRAM banks streamed from DRAM (docs/memory-model.md section 9, docs/timing-model.md
section 6.6): one softmax over all n rows that matches numpy and the host's tiling; the traffic
each path causes, against the byte counts that follow from the shapes; the stages' timing against
the pipeline formula (ample memory) and the channel's bandwidth (DDR4-class memory), and no row
consumed before its burst arrived; the errors a user can provoke."""

from __future__ import annotations

import json

import numpy as np
import pytest

from a3sim import errors as E
from a3sim.protocol import FLAG_STREAM, Opcode
from a3sim.streaming import compare_overflow
from conftest import assert_exact_close, in_fork, in_fresh_process, rand

N_MAX = 320


def test_streaming_is_one_softmax_over_all_rows(drv):
    rng = np.random.default_rng(5)
    n, d, m = 700, 32, 20
    K, V = rand(rng, n, d), rand(rng, n, d)
    Q = (0.25 * rand(rng, m, d)).astype(np.float32)
    out_s, rec_s = drv.attention(Q, K, V, overflow="stream")
    out_t, rec_t = drv.attention(Q, K, V)  # default: tiles merged on the host
    assert_exact_close(out_s, Q, K, V)  # numpy softmax attention, directly
    assert np.abs(out_s - out_t).max() < 1e-5
    assert (rec_s.tiles, len(rec_s.jobs)) == (1, 2)  # one LOAD_KV of all n rows, one ATTEND
    assert (rec_t.tiles, len(rec_t.jobs)) == (3, 6)
    # A context loaded for streaming stays resident: the next call sends only its ATTEND.
    with drv.load(K, V, overflow="stream") as ctx:
        o1, r1 = drv.attention(Q, ctx)
        o2, r2 = drv.attention(Q[:3], ctx)
        assert len(r1.jobs) == 2 and len(r2.jobs) == 1
        assert np.array_equal(o1, out_s) and np.array_equal(o2, out_s[:3])
    # n <= n_max: streaming has nothing to stream, the call is the plain one.
    o, r = drv.attention(Q, K[:100], V[:100], overflow="stream")
    assert r.tiles == 1 and np.array_equal(o, drv.attention(Q, K[:100], V[:100])[0])


def test_traffic_of_tiling_and_streaming():
    """DMA bytes by stream: tiling reads K and V once (and the queries once per tile); streaming
    reads the bank rows once and the streamed rows again for every query."""
    m, n, d = 6, 700, 32
    df = compare_overflow(m, n, d)
    row = d * 4
    tile, stream = df.loc["tile"], df.loc["stream"]
    assert tile.bytes_K == tile.bytes_V == n * row
    assert stream.bytes_K == stream.bytes_V == N_MAX * row + m * (n - N_MAX) * row
    assert (tile.bytes_Q, stream.bytes_Q) == (3 * m * row, m * row)  # 3 tiles of 234/233 rows
    assert tile.max_err < 1e-5 and stream.max_err < 1e-5
    # The DRAM moved what the DMA asked for (whole 64-byte lines; all transfers here are whole lines
    # but the 24-byte row stats and 32-byte completions), and its data bus was busy for that time.
    for path in ("tile", "stream"):
        r = df.loc[path]
        dma = sum(int(r[f"bytes_{s}"]) for s in ("K", "V", "Q", "out", "descriptor"))
        # one ATTEND per tile writes m x 24 B of row stats (256-byte aligned), every job a completion
        lines = int(r.tiles) * (-(-m * 24 // 64) * 64) + int(r.jobs) * 64
        assert r.dram_bytes == dma + lines
        assert abs(r.dram_busy_ns - r.dram_bytes / 25.6) < 1e-6 * r.dram_bytes


TIMING = """
import json, numpy as np
from a3sim import A3Driver
drv = A3Driver(config={cfg!r})
r = np.random.default_rng(1)
n, d, m = {n}, {d}, {m}
K, V = (r.standard_normal((n, d)).astype(np.float32) for _ in range(2))
Q = (0.1 * r.standard_normal((m, d))).astype(np.float32)
drv.trace.clear()
out, rec = drv.attention(Q, K, V, overflow="stream")
att = int(rec.jobs[-1])
t = drv.trace.transactions(); t = t[t.job == att]
ph = drv.trace.jobs(); ph = ph[ph.job == att]
end = lambda p: float(ph[ph.phase == p].t_end_ns.max())
print(json.dumps(dict(compute=rec.compute_cycles, cycle_ns=1000.0 / drv.device.cfg("clock_mhz"),
    k_bytes=int(t[t.stream == "K"].bytes.sum()), v_bytes=int(t[t.stream == "V"].bytes.sum()),
    k_last=float(t[t.stream == "K"].t_end_ns.max()), v_last=float(t[t.stream == "V"].t_end_ns.max()),
    k_first=float(t[t.stream == "K"].t_start_ns.min()),
    dot_start=float(ph[ph.phase == "dot_product"].t_start_ns.min()),
    dot_end=end("dot_product"), out_end=end("output"))))
"""


def timing(cfg: dict, n: int = 500, d: int = 64, m: int = 10) -> dict:
    return json.loads(in_fresh_process(TIMING.format(cfg=cfg, n=n, d=d, m=m)).strip().splitlines()[-1])


def test_stream_timing_ample_memory_is_the_pipeline_formula():
    # Bus, DRAM and prefetch depth faster than one row per cycle per stream: no stall at all, the
    # job takes the exact pipeline's 3(n + 9) + (m - 1)(n + 9) cycles (docs/spec.md 2).
    n, m = 500, 10
    r = timing({"dram_bandwidth_gbps": 10000, "stream_depth": 64, "bus_grant_ns": 0.5}, n=n, m=m)
    assert r["compute"] == 3 * (n + 9) + (m - 1) * (n + 9)


def test_stream_timing_is_bound_by_the_channel():
    # DDR4-3200 (25.6 B/ns) delivers far less than the 2 x 256 B/cycle the two stages could take:
    # the job lasts as long as the channel needs for the streamed bytes, within the pipeline's fill.
    n, m, d = 500, 10, 64
    r = timing({}, n=n, m=m, d=d)
    streamed = 2 * (m * (n - N_MAX)) * d * 4
    assert r["k_bytes"] + r["v_bytes"] == streamed
    channel_ns = streamed / 25.6
    compute_ns = r["compute"] * r["cycle_ns"]
    assert channel_ns <= compute_ns <= channel_ns + 3 * (n + 9) * r["cycle_ns"]
    # No row is consumed before it arrives: the dot-product stage ends after the last K burst (its
    # last row, then L_dot = 9 cycles), the output stage after the last V burst (L_div + L_mac = 9).
    assert r["dot_end"] >= r["k_last"] + 9 * r["cycle_ns"]
    assert r["out_end"] >= r["v_last"] + 9 * r["cycle_ns"]
    assert r["k_first"] >= r["dot_start"]  # the prefetcher starts with the stage, not before


def test_streaming_errors(drv):
    rng = np.random.default_rng(6)
    K, V, Q = rand(rng, 400, 16), rand(rng, 400, 16), rand(rng, 2, 16)
    with pytest.raises(E.ParameterError, match="exact mode only"):
        drv.attention(Q, K, V, mode="approx", overflow="stream")
    with pytest.raises(E.ParameterError, match="overflow must be one of"):
        drv.attention(Q, K, V, overflow="spill")
    with drv.load(K, V, overflow="stream") as ctx:
        with pytest.raises(E.ParameterError, match="exact calls only"):
            drv.attention(Q, ctx, mode="approx")
        with pytest.raises(E.ParameterError):
            drv.attention(Q, ctx, overflow="tile")
        assert_exact_close(drv.attention(Q, ctx)[0], Q, K, V)  # the driver stays usable


def _beyond_dram() -> dict:
    from a3sim.device import Device
    from test_host_integration import RawHost

    raw = RawHost(Device.open())
    rng = np.random.default_rng(7)
    ka = raw.buf(rand(rng, 400, 16))
    n = (1 << 30) // 64  # 1 GiB of K at d = 16: beyond the 1 GiB DRAM from ka on
    c = raw.submit(opcode=Opcode.LOAD_KV, flags=FLAG_STREAM, n=n, d=16, addr_a=ka, addr_b=ka)
    return {"status": int(c["status"]), "detail": int(c["detail"]), "n": n}


def test_streamed_kv_beyond_the_dram_is_n_too_large():
    r = in_fork(_beyond_dram)
    assert r["status"] == 4 and r["detail"] == r["n"]  # N_TOO_LARGE, detail n


ODD = """
import json, numpy as np
from a3sim import A3Driver, errors as E
try:
    A3Driver(config={"stream_line_bytes": 100, "stream_depth": 3})
    refused = False
except E.ConfigError:
    refused = True  # a 256-byte row can touch 4 lines of 100 B: 3 could wait for each other
drv = A3Driver(config={"stream_line_bytes": 100, "stream_depth": 4})
r = np.random.default_rng(4)
errs, kbytes = [], []
for d in (1, 7, 24, 64):  # rows of 4 .. 256 B over 100-byte lines: rows straddle lines
    n, m = 523, 5
    K, V = (r.standard_normal((n, d)).astype(np.float32) for _ in range(2))
    Q = (0.1 * r.standard_normal((m, d))).astype(np.float32)
    out, rec = drv.attention(Q, K, V, overflow="stream")
    S = Q.astype(np.float64) @ K.T.astype(np.float64)
    P = np.exp(S - S.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
    t = drv.trace.transactions(); t = t[(t.job == rec.jobs[-1]) & (t.stream == "K")]
    errs.append(float(np.abs(out - P @ V).max())); kbytes.append([int(t.bytes.sum()), int(t.bytes.max())])
print(json.dumps(dict(refused=refused, errs=errs, kbytes=kbytes)))
"""


def test_streaming_with_rows_straddling_lines():
    r = json.loads(in_fresh_process(ODD).strip().splitlines()[-1])
    assert r["refused"]
    assert max(r["errs"]) < 1e-5
    for d, (total, largest) in zip((1, 7, 24, 64), r["kbytes"]):
        assert total == 5 * (523 - N_MAX) * d * 4 and largest <= 100  # the streamed K, in lines of 100 B
