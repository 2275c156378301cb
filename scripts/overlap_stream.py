"""Overlap (config overlap = 1) on memory-network streams of jobs: per item one LOAD_KV of its
memory and one ATTEND of a small query batch (docs/memory-model.md section 8).

Prints, per shape, the steady-state time per item without and with overlap, next to the item's own
DMA and compute times from the sequential run (their sum and maximum); then the attention latency
of bAbI task 1 through the trained MemN2N (3 hops, d = 20, up to 50 memories, one question per
story) both ways.

    .venv/bin/python scripts/overlap_stream.py
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from a3sim import A3Driver
from a3sim.nn import memn2n
from a3sim.nn.attention import A3Attention

SHAPES = [("balanced", 320, 64, 16), ("compute-bound", 320, 64, 64), ("bAbI MemN2N shape", 50, 20, 1)]


def per_item(on: int, n: int, d: int, m: int, B: int = 12) -> tuple[float, float, float]:
    """Steady-state ns per item, and the item's DMA and compute ns (1 cycle = 1 ns)."""
    drv = A3Driver(config={"overlap": on})
    r = np.random.default_rng(3)
    K, V = (r.standard_normal((B, n, d)).astype(np.float32) for _ in range(2))
    Q = (0.1 * r.standard_normal((B, m, d))).astype(np.float32)
    _, rec = drv.attention_batch(Q, K, V)
    ph = drv.trace.jobs()
    ph = ph[ph.job.isin(rec.jobs)]
    js = drv.trace.job_summary()
    js = js[js.job.isin(rec.jobs)]
    att = js[js.opcode.astype(str) == "attend"].sort_values("job")
    period = float(np.median(np.diff(att.t_end_ns.values)[2:-2]))
    dma = float(ph[ph.phase.isin(["fetch", "dma_in", "dma_out", "completion"])].duration_ns.sum()) / B
    drv.close()
    return period, dma, float(att.compute_cycles.sum()) / B


def child(on: int) -> None:
    """One platform per process: everything of one overlap setting, as JSON on stdout."""
    out = {"shapes": [per_item(on, n, d, m) for _, n, d, m in SHAPES]}
    backend = A3Attention(A3Driver(config={"overlap": on}))
    acc = memn2n.evaluate(1, attention=backend, limit=200)
    st = list(backend.stats.values())
    out["babi"] = (acc, sum(s.latency_ns for s in st), sum(s.heads for s in st), sum(s.calls for s in st))
    print(json.dumps(out))


def run(on: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(on)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> None:
    res = {on: run(on) for on in (0, 1)}
    print("| stream (n, d, m) | DMA | compute | sum | max | overlap = 0 | overlap = 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, (name, n, d, m) in enumerate(SHAPES):
        off, dma, comp = res[0]["shapes"][k]
        on = res[1]["shapes"][k][0]
        print(
            f"| {name} ({n}, {d}, {m}) | {dma:,.1f} | {comp:,.0f} | {dma + comp:,.1f} | {max(dma, comp):,.1f} "
            f"| {off:,.1f} | {on:,.1f} |"
        )
    print()
    b0, b1 = res[0]["babi"], res[1]["babi"]
    print("| bAbI task 1, MemN2N, 200 questions | overlap = 0 | overlap = 1 |")
    print("|---|---:|---:|")
    print(f"| accuracy | {b0[0]:.3f} | {b1[0]:.3f} |")
    print(f"| attention latency, all calls (ns) | {b0[1]:,.0f} | {b1[1]:,.0f} |")
    print(f"| per head (story x hop) (ns) | {b0[1] / b0[2]:,.1f} | {b1[1] / b1[2]:,.1f} |")
    print(f"| calls, heads | {b0[3]}, {b0[2]} | {b1[3]}, {b1[2]} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        main()
