"""The banked DRAM policy seen from Python (docs/memory-model.md): typed statistics that agree with
the DRAM burst trace, every resolved parameter with a source, no window of a trace above the peak
bandwidth, and the rule that a DRAM access moves whole bursts. Each case runs in a fresh process
(its own platform and configuration). The analytic checks of the timing itself are C++ tests
(tests/cpp/test_dram_banked.cpp)."""

from __future__ import annotations

import json

import pytest

from conftest import in_fresh_process

RUN = """
import json, numpy as np
from a3sim import A3Driver
from a3sim.memory import dram_config, dram_stats, dram_spec
drv = A3Driver(config=dram_config({preset!r}, units={units}))
rng = np.random.default_rng(5)
K = rng.standard_normal((320, 64)).astype(np.float32)
V = rng.standard_normal((320, 64)).astype(np.float32)
Q = (0.1 * rng.standard_normal((300, 64))).astype(np.float32)
out, rec = drv.attention(Q, K, V)
ref = np.exp(Q.astype(np.float64) @ K.T.astype(np.float64))
ref = (ref / ref.sum(1, keepdims=True)) @ V
d = drv.trace.dram_bursts()
t = drv.trace.transactions()
s = dram_stats(drv.device)
sp = dram_spec(drv.device)
win = 200.0
# bytes per window: each burst's bytes spread over its data interval [t_data, t_done)
edges = np.arange(0.0, d.t_done_ns.max() + win, win)
per = np.zeros(len(edges))
for a, b, n in zip(d.t_data_ns.values, d.t_done_ns.values, d.bytes.values):
    i0, i1 = int(a // win), int((b - 1e-9) // win)
    for i in range(i0, i1 + 1):
        lo, hi = max(a, edges[i]), min(b, edges[i] + win)
        per[i] += n * (hi - lo) / (b - a)
dram_t = t[(t.target == "dram") & (t.status == "ok")]
print(json.dumps(dict(
    err=float(np.abs(out - ref).max()),
    stats=s.as_dict(), units=s.units,
    kinds={{k: int(v) for k, v in d.kind.value_counts().items()}},
    burst_bytes=int(sp["burst_bytes"]), peak=sp.peak_gbps,
    sources={{k: p.source for k, p in sp.params.items()}},
    max_window_gbps=float(per.max() / win),
    trace_bytes=int(d.bytes.sum()),
    txn_bursts=int(((dram_t.address.astype(np.int64) + dram_t.bytes - 1) // int(sp["burst_bytes"])
                    - dram_t.address.astype(np.int64) // int(sp["burst_bytes"]) + 1).sum()),
    small=int((dram_t.bytes < int(sp["burst_bytes"])).sum()),
    txn_bytes=int(dram_t.bytes.sum()),
    latencies=[float(x) for x in np.percentile(d.latency_ns, [50, 95])],
)))
"""


def run(preset: str, units: int = 1) -> dict:
    out = in_fresh_process(RUN.format(preset=preset, units=units))
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("preset", ["ddr4-3200", "lpddr4-4266", "hbm2-stack"])
def test_banked_dram_stats_trace_and_peak(preset):
    r = run(preset)
    assert r["err"] < 1e-5  # function does not depend on timing
    s = r["stats"]
    # Statistics agree with the burst trace.
    assert s["bursts"] == sum(r["kinds"].values())
    assert (s["row_hits"], s["row_misses"], s["row_conflicts"]) == (
        r["kinds"]["hit"],
        r["kinds"]["miss"],
        r["kinds"]["conflict"],
    )
    assert s["bytes_read"] + s["bytes_written"] == r["trace_bytes"] == r["burst_bytes"] * s["bursts"]
    # Every transaction was split into the bursts it touches; short ones cost a whole burst.
    assert s["bursts"] == r["txn_bursts"]
    assert s["bytes_read"] + s["bytes_written"] >= r["txn_bytes"] + r["small"]
    # No window of the trace carries more than the peak bandwidth.
    assert r["max_window_gbps"] <= r["peak"] * (1 + 1e-9)
    assert 0 < s["achieved_gbps"] <= s["peak_gbps"] == pytest.approx(r["peak"])
    # A DMA stream is mostly row hits with this mapping.
    assert s["row_hits"] / s["bursts"] > 0.8
    # Units are typed, percentiles are ordered.
    assert r["units"]["latency_p95_ns"] == "ns" and r["units"]["achieved_gbps"] == "GB/s"
    assert s["latency_p50_ns"] <= s["latency_p95_ns"] <= s["latency_p99_ns"] <= s["latency_max_ns"]
    # Every timing value names its source.
    for k in (
        "tCK",
        "tRCD",
        "tCL",
        "tRP",
        "tRAS",
        "tCCD_S",
        "tCCD_L",
        "tBURST",
        "tWR",
        "tWTR_S",
        "tRRD_S",
        "tFAW",
        "tREFI",
        "tRFC",
    ):
        assert r["sources"][k].startswith("["), k
    assert s["refreshes"] >= 1 and s["refresh_ns"] > 0


def test_bad_dram_config_is_a_config_error():
    out = in_fresh_process(
        """
        from a3sim import A3Driver
        from a3sim.errors import ConfigError
        from a3sim.memory import dram_config
        for bad in ({"dram_preset": 9}, {"dram_channels": 3}, {"dram_timing": 2}):
            try:
                A3Driver(config=bad)
            except ConfigError as e:
                print("ok", e)
        try:
            dram_config("ddr9")
        except ConfigError as e:
            print("ok", e)
        """
    )
    assert out.count("ok") == 4
