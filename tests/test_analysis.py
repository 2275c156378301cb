"""Traffic analysis (a3sim.analysis) against the trace it reads and independent arithmetic:
windows add up to the bytes, bytes by stream match the analytic DMA bytes, the row-buffer table
matches the DRAM statistics, latency percentiles match numpy's, and the plots are PNG files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from a3sim import analysis as A
from conftest import in_fresh_process, rand


def test_spread_conserves_amounts():
    rng = np.random.default_rng(0)
    t0 = rng.uniform(0, 1000, 500)
    t1 = t0 + rng.uniform(0, 300, 500)
    v = rng.uniform(1, 10, 500)
    for w in (7.0, 100.0, 2000.0):
        out = A.spread(t0, t1, v, w)
        assert out.sum() == pytest.approx(v.sum())
    # One interval [50, 250) of 200 units over windows of 100: 50, 100, 50.
    np.testing.assert_allclose(A.spread(np.array([50.0]), np.array([250.0]), np.array([200.0]), 100.0), [50, 100, 50])
    with pytest.raises(ValueError):
        A.spread(t0, t1, v, 0)


def test_bus_tables_of_a_call(drv, tmp_path):
    rng = np.random.default_rng(7)
    drv.trace.clear()
    m, n, d = 100, 200, 32
    _, rec = drv.attention(rand(rng, m, d), rand(rng, n, d), rand(rng, n, d))
    t = drv.trace.transactions()
    bw = A.bandwidth(drv.trace, 250.0, by="target", source="bus")
    assert bw["total"].sum() * 250.0 == pytest.approx(t.bytes.sum())
    by = A.bytes_by_stream(drv.trace).set_index(["stream", "op"])
    assert by.loc[("K", "read"), "bus_bytes"] == by.loc[("V", "read"), "bus_bytes"] == n * d * 4
    assert by.loc[("Q", "read"), "bus_bytes"] == m * d * 4
    assert by.loc[("out", "write"), "bus_bytes"] == m * d * 4
    assert by.loc[("stats", "write"), "bus_bytes"] == m * 24
    # DRAM side: whole 64-byte lines (simple policy): 24 B x 100 = 2400 B of stats move 2432 B.
    assert by.loc[("stats", "write"), "dram_bytes"] == -(-m * 24 // 64) * 64
    lat = A.latency_percentiles(drv.trace, (50, 95), source="bus")
    dma = t[t.initiator == "a3_0.dma"]
    row = lat.set_index("initiator").loc["a3_0.dma"]
    assert row["p95_ns"] == pytest.approx(np.percentile(dma.t_end_ns - dma.t_start_ns, 95))
    w = A.arbitration_waits(drv.trace)
    assert (w.total_wait_ns == 0).all()  # one unit never waits
    p1 = A.plot_bandwidth(A.bandwidth(drv.trace, 250.0), tmp_path / "p" / "bw.png", peak_gbps=25.6)
    p2 = A.plot_latency(drv.trace, tmp_path / "p" / "lat.png")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_row_buffer_matches_dram_stats():
    out = in_fresh_process(
        """
        import json, numpy as np
        from a3sim import A3Driver, analysis as A
        from a3sim.memory import dram_config, dram_stats, reset_dram_stats
        drv = A3Driver(config=dram_config("ddr4-3200", mapping=1))
        drv.trace.clear(); reset_dram_stats(drv.device)
        r = np.random.default_rng(1)
        drv.attention(r.standard_normal((64, 64)).astype(np.float32), r.standard_normal((320, 64)).astype(np.float32),
                      r.standard_normal((320, 64)).astype(np.float32))
        s = dram_stats(drv.device)
        rb = A.row_buffer(drv.trace)
        by = A.row_buffer(drv.trace, by="stream")
        d = drv.trace.dram_bursts()
        lat = A.latency_percentiles(drv.trace, (50, 99), by="op")
        print(json.dumps(dict(stats=[s.row_hits, s.row_misses, s.row_conflicts],
                              table=rb[["hits", "misses", "conflicts"]].values[0].tolist(),
                              by_sum=by[["hits", "misses", "conflicts"]].sum().tolist(),
                              rate=float(rb.hit_rate[0]), srate=s.row_hit_rate,
                              p50=float(lat[lat.op == "read"]["p50_ns"].iloc[0]),
                              np50=float(np.percentile(d[d.op == "read"].latency_ns, 50)))))
        """
    )
    r = json.loads(out.strip().splitlines()[-1])
    assert r["stats"] == r["table"] == r["by_sum"]
    assert r["rate"] == pytest.approx(r["srate"])
    assert r["p50"] == pytest.approx(r["np50"])
