"""Overlap (config overlap = 1, docs/memory-model.md section 9): while an ATTEND computes, the
unit fetches the next descriptor and its queries into the second query buffer. The outputs and
the traffic stay the same; each later job's fetch and query DMA move under the previous job's
compute, so the call is shorter by exactly their durations; off, jobs stay strictly sequential."""

from __future__ import annotations

import json

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
print(json.dumps(dict(lat=rec.latency_ns, out=out.tobytes().hex()[:4000], sum=float(np.abs(out).sum()),
    rd=rec.bytes_read, wr=rec.bytes_written,
    per_job=[int(x) for x in js.bytes_rd], per_trace=[int(mine[(mine.job == j) & (mine.op == "read")].bytes.sum()) for j in js.job],
    hidden=sum(dur(j, "fetch") + dur(j, "dma_in") for j in att[1:]),
    dma_in=[span(j, "dma_in") for j in att],
    compute=[[span(j, "dot_product")[0], span(j, "output")[1]] for j in att])))
"""


def run(on: int) -> dict:
    return json.loads(in_fresh_process(RUN.format(on=on)).strip().splitlines()[-1])


def test_overlap_hides_the_next_jobs_query_dma():
    off, on = run(0), run(1)
    assert on["out"] == off["out"] and on["sum"] == off["sum"]  # same outputs, bit for bit
    assert (on["rd"], on["wr"]) == (off["rd"], off["wr"])  # same traffic
    assert on["per_job"] == on["per_trace"] == off["per_job"]  # bytes charged to their own job
    # The call is shorter by the fetch + query DMA of the 2nd to 4th ATTEND (2,676.5 ns each).
    assert abs((off["lat"] - on["lat"]) - off["hidden"]) < 1e-6
    assert abs(off["hidden"] - 3 * (59.5 + 2617.0)) < 1e-6
    # On: each later job's query DMA lies inside the previous job's compute; off: after it.
    for k in range(1, 4):
        assert on["compute"][k - 1][0] <= on["dma_in"][k][0] and on["dma_in"][k][1] <= on["compute"][k - 1][1]
        assert off["dma_in"][k][0] >= off["compute"][k - 1][1]
