"""Overlap (config overlap = 1, docs/memory-model.md section 8): while an ATTEND computes, the
unit fetches the next descriptors with their K/V and queries into second banks, and writes the
previous job's outputs and completion from the second output buffer. The outputs and the traffic
stay the same; each later job's fetch and query DMA and each earlier job's output DMA and
completion move under a compute, so the call is shorter by exactly their durations; off, jobs stay
strictly sequential. On a memory-network stream (one LOAD_KV and a small ATTEND per item) the time
per item falls from DMA + compute to max(DMA, compute)."""

from __future__ import annotations

import json

import pytest

from conftest import in_fresh_process

RUN = """
import json, numpy as np
from a3sim import A3Driver
drv = A3Driver(config={{"overlap": {on}}})
r = np.random.default_rng(0)
K = r.standard_normal((320, 64)).astype(np.float32)
V = r.standard_normal((320, 64)).astype(np.float32)
Q = (0.125 * r.standard_normal((1024, 64))).astype(np.float32)
out, rec = drv.attention(Q, K, V)
t = drv.trace.transactions(); mine = t[t.job.isin(rec.jobs)]
js = drv.trace.job_summary(); js = js[js.job.isin(rec.jobs)]
ph = drv.trace.jobs(); ph = ph[ph.job.isin(rec.jobs)]
att = js[js.opcode.astype(str) == "attend"].job.tolist()
dur = lambda j, p: float(ph[(ph.job == j) & (ph.phase == p)].duration_ns.sum())
span = lambda j, p: [float(ph[(ph.job == j) & (ph.phase == p)].t_start_ns.min()),
                     float(ph[(ph.job == j) & (ph.phase == p)].t_end_ns.max())]
load = js[js.opcode.astype(str) == "load_kv"].job.tolist()
print(json.dumps(dict(lat=rec.latency_ns, area=rec.area_mm2, out=out.tobytes().hex()[:4000], sum=float(np.abs(out).sum()),
    rd=rec.bytes_read, wr=rec.bytes_written,
    per_job=[int(x) for x in js.bytes_rd], per_trace=[int(mine[(mine.job == j) & (mine.op == "read")].bytes.sum()) for j in js.job],
    hidden_in=sum(dur(j, "fetch") + dur(j, "dma_in") for j in att[1:]),
    hidden_out=sum(dur(j, "dma_out") + dur(j, "completion") for j in att[:-1]) + dur(load[0], "completion"),
    dma_in=[span(j, "dma_in") for j in att], dma_out=[span(j, "dma_out") for j in att],
    compute=[[span(j, "dot_product")[0], span(j, "output")[1]] for j in att])))
"""


def run(on: int) -> dict:
    return json.loads(in_fresh_process(RUN.format(on=on)).strip().splitlines()[-1])


def test_overlap_hides_the_next_jobs_query_dma_and_the_output_dma():
    off, on = run(0), run(1)
    assert on["out"] == off["out"] and on["sum"] == off["sum"]  # same outputs, bit for bit
    assert (on["rd"], on["wr"]) == (off["rd"], off["wr"])  # same traffic
    assert on["per_job"] == on["per_trace"] == off["per_job"]  # bytes charged to their own job
    # Double-buffered key, value and sorted-key SRAMs (Table I: 0.350 + 0.350 + 0.919 mm2) count twice.
    assert off["area"] == pytest.approx(2.082) and on["area"] == pytest.approx(2.082 + 1.619)
    # The call is shorter by the fetch + query DMA of the 2nd to 4th ATTEND (2,676.5 ns each), the
    # output DMA + completion of the 1st to 3rd, and the LOAD_KV's completion (under the 1st fetch).
    assert abs(off["hidden_in"] - 3 * (59.5 + 2617.0)) < 1e-6
    assert abs((off["lat"] - on["lat"]) - (off["hidden_in"] + off["hidden_out"])) < 1e-6
    # On: each later job's query DMA lies inside the previous job's compute, each earlier job's
    # output DMA inside the next job's compute; off: after it.
    for k in range(1, 4):
        assert on["compute"][k - 1][0] <= on["dma_in"][k][0] and on["dma_in"][k][1] <= on["compute"][k - 1][1]
        assert on["compute"][k][0] <= on["dma_out"][k - 1][0] and on["dma_out"][k - 1][1] <= on["compute"][k][1]
        assert off["dma_in"][k][0] >= off["compute"][k - 1][1]
        assert off["dma_out"][k - 1][1] <= off["compute"][k][0]


STREAM = """
import json, numpy as np
from a3sim import A3Driver
drv = A3Driver(config={{"overlap": {on}}})
r = np.random.default_rng(3)
B, n, d, m = {B}, {n}, {d}, {m}
K, V = (r.standard_normal((B, n, d)).astype(np.float32) for _ in range(2))
Q = (0.1 * r.standard_normal((B, m, d))).astype(np.float32)
out, rec = drv.attention_batch(Q, K, V)  # per item: LOAD_KV, then one ATTEND of m queries
S = np.einsum("bmd,bnd->bmn", Q.astype(np.float64), K.astype(np.float64))
P = np.exp(S - S.max(-1, keepdims=True)); P /= P.sum(-1, keepdims=True)
ph = drv.trace.jobs(); ph = ph[ph.job.isin(rec.jobs)]
js = drv.trace.job_summary(); js = js[js.job.isin(rec.jobs)]
att = js[js.opcode.astype(str) == "attend"].sort_values("job")
print(json.dumps(dict(err=float(np.abs(out - np.einsum("bmn,bnd->bmd", P, V)).max()),
    period=float(np.median(np.diff(att.t_end_ns.values)[2:-2])),  # steady state: one item per period
    dma=float(ph[ph.phase.isin(["fetch", "dma_in", "dma_out", "completion"])].duration_ns.sum()) / B,
    compute=float(att.compute_cycles.sum()) / B, bytes=(rec.bytes_read + rec.bytes_written) / B)))
"""


def stream(on: int, B: int, n: int, d: int, m: int) -> dict:
    return json.loads(in_fresh_process(STREAM.format(on=on, B=B, n=n, d=d, m=m)).strip().splitlines()[-1])


@pytest.mark.parametrize(
    "n, d, m",
    [(320, 64, 16), (320, 64, 64), (50, 20, 1)],
    ids=["balanced", "compute-bound", "babi-memn2n"],
)
def test_memory_network_stream_approaches_max_of_dma_and_compute(n, d, m):
    """DMA and compute per item from the sequential run's own phase times (fetch, DMA in and out,
    completion; the pipeline's makespan): off, an item takes their sum; on, their maximum at most,
    and no less than the compute or the channel's time for the item's bytes (25.6 B/ns)."""
    off, on = stream(0, 12, n, d, m), stream(1, 12, n, d, m)
    assert off["err"] < 1e-5 and on["err"] < 1e-5
    D, C = off["dma"], off["compute"]  # 1 cycle = 1 ns
    assert abs(off["period"] - (D + C)) <= 0.001 * (D + C)
    assert max(C, off["bytes"] / 25.6) <= on["period"] <= max(D, C)
    if C >= D:  # compute-bound: the DMA disappears entirely
        assert on["period"] == C
    else:
        assert on["period"] <= 0.85 * (D + C)


MIXED = """
import hashlib, json, numpy as np
from a3sim import A3Driver, errors as E
drv = A3Driver(config={{"overlap": {on}}})
r = np.random.default_rng(11)
h = hashlib.sha256()
for it in range(18):
    n, d, m, B = int(r.integers(5, 700)), int(r.integers(1, 65)), int(r.integers(1, 300)), int(r.integers(1, 4))
    mode = ("exact", "approx", "post_only")[it % 3]
    K, V = (r.standard_normal((B, n, d)).astype(np.float32) for _ in range(2))
    Q = (0.3 * r.standard_normal((B, m, d))).astype(np.float32)
    kw = dict(mode=mode, overflow="stream" if mode == "exact" and it % 2 else "tile")
    if it % 4 == 0:
        with drv.load(K[0], V[0], overflow=kw["overflow"]) as ctx:
            for q in (Q[0], Q[0][:3]):
                out, rec = drv.attention(q, ctx, **kw)
                h.update(out.tobytes())
    else:
        out, rec = drv.attention_batch(Q, K, V, **kw)
        h.update(out.tobytes())
    h.update(np.asarray(rec.n_selected).tobytes())
# A hung descriptor (BUSY stuck) under overlap: the driver's soft reset recovers the unit.
drv.device.set_fault("fi_stuck_busy", 1)
try:
    drv.attention_batch(Q, K, V)
    hung = False
except E.DeviceTimeoutError:
    hung = True
out, _ = drv.attention_batch(Q, K, V)
print(json.dumps(dict(hash=h.hexdigest(), hung=hung, after=out.tobytes().hex()[:64])))
"""


def test_overlap_changes_no_result():
    """Mixed calls (every mode, batches, contexts, tiling and streaming): bit-identical outputs and
    selections with and without overlap, and a hung unit recovers under overlap as without."""
    off = json.loads(in_fresh_process(MIXED.format(on=0)).strip().splitlines()[-1])
    on = json.loads(in_fresh_process(MIXED.format(on=1)).strip().splitlines()[-1])
    assert on == off and on["hung"]
