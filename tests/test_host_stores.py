"""Timed host stores (config host_stores = 1, docs/memory-model.md section 7): the host's writes of
queries, K/V and descriptors become cache-line writes on the bus, before the device reads them;
with the default backdoor (0) the host puts no traffic on the DRAM."""

from __future__ import annotations

import json

from conftest import in_fresh_process

RUN = """
import json, numpy as np
from a3sim import A3Driver
drv = A3Driver(config={{"host_stores": {on}, "dram_timing": 1}})
r = np.random.default_rng(2)
m, n, d = 50, 70, 16
q, K, V = (r.standard_normal(s).astype(np.float32) for s in ((m, d), (n, d), (n, d)))
drv.trace.clear()
h0 = drv.device.host_now_ns()
out, rec = drv.attention(q, K, V)
ph = drv.trace.jobs()
irq_ns = float(ph[ph.phase == "irq"].t_end_ns.max())
S = q.astype(np.float64) @ K.T; P = np.exp(S - S.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
t = drv.trace.transactions()
host = t[(t.initiator == "host") & (t.target == "dram")]
dma = t[t.initiator == "a3_0.dma"]
first_read = {{s: float(dma[dma.stream == s].t_start_ns.min()) for s in ("Q", "K", "V", "descriptor")}}
last_store = {{s: float(host[host.stream == s].t_end_ns.max()) if (host.stream == s).any() else None
              for s in ("Q", "K", "V", "descriptor")}}
print(json.dumps(dict(err=float(np.abs(out - P @ V).max()),
                      bytes={{s: int(host[host.stream == s].bytes.sum()) for s in ("Q", "K", "V", "descriptor")}},
                      lines=sorted(set(host.bytes.tolist())), writes=bool((host.op == "write").all()),
                      first_read=first_read, last_store=last_store, host_ns=drv.device.host_now_ns() - h0,
                      store_ns=rec.host_store_ns, latency=rec.latency_ns, e2e=rec.end_to_end_ns, irq_ns=irq_ns,
                      store_span=float(host.t_end_ns.max() - host.t_start_ns.min()) if len(host) else 0.0,
                      first_store=float(host.t_start_ns.min()) if len(host) else 0.0)))
"""


def run(on: int) -> dict:
    return json.loads(in_fresh_process(RUN.format(on=on)).strip().splitlines()[-1])


def test_timed_host_stores_precede_the_device_reads():
    r = run(1)
    assert r["err"] < 1e-5
    # Whole 64-byte lines of every array the host wrote (d = 16 floats = 64 B per row).
    assert r["bytes"] == {"Q": 50 * 64, "K": 70 * 64, "V": 70 * 64, "descriptor": 2 * 64}
    assert r["lines"] == [64] and r["writes"]
    for s in ("Q", "K", "V", "descriptor"):
        assert r["last_store"][s] <= r["first_read"][s]
    off = run(0)
    assert off["bytes"] == {"Q": 0, "K": 0, "V": 0, "descriptor": 0}
    # The stores cost host time, and the record shows it: the host's stores run back to back from
    # the first line to the last (the trace's span), the doorbell follows them, and latency_ns runs
    # from the doorbell, so end_to_end_ns = host_store_ns + latency_ns spans first store to interrupt.
    assert r["host_ns"] > off["host_ns"]
    assert r["store_ns"] > 192 * 1.0  # at least one host_store_issue_ns per line
    assert abs(r["store_ns"] - r["store_span"]) < 1e-6
    assert abs(r["e2e"] - (r["store_ns"] + r["latency"])) < 1e-9
    assert abs(r["e2e"] - (r["irq_ns"] - r["first_store"])) < 1e-6
    assert off["store_ns"] == 0.0 and off["e2e"] == off["latency"]
