"""Several units (a3sim.multi_unit): heads spread over the units give the same outputs as numpy,
the units' jobs overlap in time and contend for the DRAM port (arbitration waits traced), fixed
priority spares the first unit, and traffic analysis of the run adds up. Each case runs in a
fresh process (the unit count is a platform parameter)."""

from __future__ import annotations

import json

from conftest import in_fresh_process

RUN = """
import json, numpy as np
from a3sim.multi_unit import MultiUnitDriver
from a3sim.memory import dram_config, dram_stats
from a3sim import analysis as A
mu = MultiUnitDriver(units={units}, config=dram_config("ddr4-3200", bus_arbitration={arb}))
rng = np.random.default_rng(3)
B, m, n, d = 8, 96, 160, 64
Q = (0.1 * rng.standard_normal((B, m, d))).astype(np.float32)
K = rng.standard_normal((B, n, d)).astype(np.float32)
V = rng.standard_normal((B, n, d)).astype(np.float32)
out, rec = mu.attention_batch(Q, K, V)
S = np.einsum("bmd,bnd->bmn", Q.astype(np.float64), K.astype(np.float64))
P = np.exp(S - S.max(-1, keepdims=True)); P /= P.sum(-1, keepdims=True)
js = mu.trace.job_summary()
js = js[js.job.isin(rec.jobs)]
span = js.groupby("unit").agg(t0=("t_start_ns", "min"), t1=("t_end_ns", "max"))
w = A.arbitration_waits(mu.trace)
bw = A.bandwidth(mu.trace, 500.0, by="initiator")
d = mu.trace.dram_bursts()
print(json.dumps(dict(
    err=float(np.abs(out - P @ V).max()),
    spans=span.values.tolist(),
    waits={{r.initiator: [r.transactions, r.waited, r.total_wait_ns] for r in w.itertuples()}},
    bw_total=float(bw["total"].sum() * 500.0), dram_bytes=int(d.bytes.sum()),
    max_bw=float(bw["total"].max()), peak=dram_stats(mu.device).peak_gbps,
    makespan=rec.makespan_ns, units_used=sorted(int(u) for u in js.unit.unique()),
    own_jobs=all(set(js[js.job.isin(r.jobs)].unit) == {{k}} for k, r in rec.per_unit.items()),
    jobs=len(rec.jobs), distinct_jobs=len(set(rec.jobs.tolist())),
)))
"""


def run(units: int, arb: int) -> dict:
    return json.loads(in_fresh_process(RUN.format(units=units, arb=arb)).strip().splitlines()[-1])


def test_heads_spread_over_units_overlap_and_contend():
    r = run(4, 0)
    assert r["err"] < 1e-5
    assert r["units_used"] == [0, 1, 2, 3]
    # Each unit's record holds its own jobs only (the units' rows interleave in the trace), and
    # the whole call counts each job once: 8 heads, a LOAD_KV and an ATTEND each.
    assert r["own_jobs"] and r["jobs"] == r["distinct_jobs"] == 16
    spans = r["spans"]
    # Every unit's work overlaps every other's (all doorbells rung before the simulation ran).
    for a0, a1 in spans:
        for b0, b1 in spans:
            assert a0 < b1 and b0 < a1
    # The DMA engines contended for the DRAM port: some transactions waited, none of the host's.
    dma = {k: v for k, v in r["waits"].items() if k.endswith(".dma")}
    assert sum(v[1] for v in dma.values()) > 0
    assert r["waits"].get("host", [0, 0, 0.0])[1] == 0
    # Bandwidth over time accounts for every DRAM byte and stays under the peak.
    assert abs(r["bw_total"] - r["dram_bytes"]) < 1e-6 * r["dram_bytes"]
    assert r["max_bw"] <= r["peak"] * (1 + 1e-9)


def test_fixed_priority_spares_unit_0():
    r = run(4, 1)
    assert r["err"] < 1e-5
    w = r["waits"]
    assert w["a3_0.dma"][1] == 0  # the highest-priority DMA never waits for a lower one
    assert sum(w[f"a3_{k}.dma"][1] for k in (1, 2, 3)) > 0


SAT = """
import json, numpy as np
from a3sim.multi_unit import MultiUnitDriver
from a3sim.memory import dram_config, dram_stats, reset_dram_stats
mu = MultiUnitDriver(units={units}, config=dram_config("ddr4-3200"))
rng = np.random.default_rng(0)
B, m, n, d = 16, 32, 320, 64          # K/V-heavy heads: 168 KB of DMA against 11 us of compute each
Q = (0.1 * rng.standard_normal((B, m, d))).astype(np.float32)
K = rng.standard_normal((B, n, d)).astype(np.float32)
V = rng.standard_normal((B, n, d)).astype(np.float32)
mu.trace.clear(); reset_dram_stats(mu.device)
out, rec = mu.attention_batch(Q, K, V)
s = dram_stats(mu.device)
js = mu.trace.job_summary()
lk = js[js.opcode.astype(str) == "load_kv"]
print(json.dumps(dict(gbps=(s.bytes_read + s.bytes_written) / rec.makespan_ns, peak=s.peak_gbps,
                      load_kv_us=float((lk.t_end_ns - lk.t_start_ns).mean() / 1e3), makespan=rec.makespan_ns)))
"""


def test_units_saturate_one_ddr4_channel():
    """N = 1, 2, 4, 8 units on one DDR4-3200 channel: total bandwidth rises towards the peak and
    levels off, while each job's DMA takes longer (measured: 9.6, 15.5, 19.6, 20.9 GB/s of 25.6;
    LOAD_KV 6.9, 9.6, 17.5, 42.9 us)."""
    r = {n: json.loads(in_fresh_process(SAT.format(units=n)).strip().splitlines()[-1]) for n in (1, 2, 4, 8)}
    bw = [r[n]["gbps"] for n in (1, 2, 4, 8)]
    assert all(b2 > b1 for b1, b2 in zip(bw, bw[1:]))  # more units, more bandwidth...
    assert bw[3] >= 0.75 * r[8]["peak"] and bw[3] <= r[8]["peak"]  # ...up to near the peak
    assert bw[3] - bw[2] < bw[1] - bw[0]  # and it levels off
    lat = [r[n]["load_kv_us"] for n in (1, 2, 4, 8)]
    assert all(l2 > l1 for l1, l2 in zip(lat, lat[1:])) and lat[3] > 4 * lat[0]
    assert r[8]["makespan"] < r[1]["makespan"]
