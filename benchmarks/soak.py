"""Soak: many small offloads and many load/close cycles in one process, with the resident set size
(RSS) measured at the start, in the middle and at the end (issue 13).

    .venv/bin/python benchmarks/soak.py                          # tracing off, defaults below
    .venv/bin/python benchmarks/soak.py --trace --max-rows 16384  # tracing on, retention bound
    .venv/bin/python -m pytest -p no:cacheprovider -m soak tests/test_soak.py -s   # both, checked

Phase 1: ``--offloads`` (100,000) exact attention calls of 2 queries over 16 keys (d = 8), each
checked against numpy every 1,000 calls. Phase 2: ``--cycles`` (10,000) load/close cycles of a
32-key context with one call on it. RSS is read from /proc/self/status after a warm-up (start), at
the half of phase 1 (middle), at the end of phase 1 and at the end of phase 2 (end). Prints one
JSON line; docs/robustness.md records the figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import gc
import json
import time

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def reference(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    S = Q.astype(np.float64) @ K.T.astype(np.float64)
    P = np.exp(S - S.max(axis=1, keepdims=True))
    return (P / P.sum(axis=1, keepdims=True)) @ V.astype(np.float64)


def soak(offloads: int, cycles: int, trace: bool, max_rows: int | None) -> dict:
    from a3sim import A3Driver

    config = {"trace_max_rows": max_rows} if max_rows else None
    drv = A3Driver(config=config)
    drv.trace.enabled = trace
    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal(s).astype(np.float32) for s in ((2, 8), (16, 8), (16, 8)))
    ref = reference(Q, K, V)
    for _ in range(2000):  # warm-up: arena, caches, numpy and cppyy wrappers
        drv.attention(Q, K, V)
    gc.collect()
    out = {
        "offloads": offloads,
        "cycles": cycles,
        "trace": trace,
        "trace_max_rows": int(drv.device.cfg("trace_max_rows")),
        "rss_start_mb": rss_mb(),
    }
    t0 = time.perf_counter()
    wrong = 0
    for i in range(offloads):
        o, _ = drv.attention(Q, K, V)
        if i % 1000 == 0 and not np.allclose(o, ref, rtol=1e-5, atol=1e-6):
            wrong += 1
        if i == offloads // 2:
            gc.collect()
            out["rss_middle_mb"] = rss_mb()
    gc.collect()
    out["rss_after_offloads_mb"] = rss_mb()
    out["offload_seconds"] = round(time.perf_counter() - t0, 1)
    K2, V2 = (rng.standard_normal((32, 8)).astype(np.float32) for _ in range(2))
    ref2 = reference(Q, K2, V2)
    t1 = time.perf_counter()
    for i in range(cycles):
        ctx = drv.load(K2, V2)
        o, _ = drv.attention(Q, ctx)
        ctx.close()
        if i % 1000 == 0 and not np.allclose(o, ref2, rtol=1e-5, atol=1e-6):
            wrong += 1
    gc.collect()
    out["rss_end_mb"] = rss_mb()
    out["cycle_seconds"] = round(time.perf_counter() - t1, 1)
    out["wrong_results"] = wrong
    out["trace_rows_held"] = {k: drv.trace.count(k) for k in ("txn", "phase", "job")}
    out["trace_rows_dropped"] = int(drv.device.api.trace_dropped())
    out["dram_in_use_bytes"] = drv.device.allocator.used
    for k in list(out):
        if k.endswith("_mb"):
            out[k] = round(out[k], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offloads", type=int, default=100_000)
    ap.add_argument("--cycles", type=int, default=10_000)
    ap.add_argument("--trace", action="store_true", help="record bus transactions too")
    ap.add_argument("--max-rows", type=int, default=None, help="trace_max_rows configuration entry")
    a = ap.parse_args()
    print(json.dumps(soak(a.offloads, a.cycles, a.trace, a.max_rows)))


if __name__ == "__main__":
    main()
