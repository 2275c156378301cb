"""a3sim benchmarks: speed figures, each a ratio measured side by side in one run.

    make bench                      # or: .venv/bin/python benchmarks/run.py [--reps N] [--json PATH]

Every figure is the median of several repetitions, and the simulator and its reference are
timed alternately in the same loop, so that machine noise hits both alike. Results are printed as
a table and written as JSON (benchmarks/results.json by default). docs/performance.md explains the
figures and what limits them.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np


def numpy_exact(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Exact attention in numpy, float32, as a user would write it."""
    S = Q @ K.T
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S @ V


def side_by_side(a: Callable[[], object], b: Callable[[], object], reps: int, inner: int = 1) -> tuple[float, float]:
    """Median seconds of a() and of b(), timed alternately (each sample averages `inner` calls)."""
    a(), b()  # warm up
    ta, tb = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            a()
        t1 = time.perf_counter()
        for _ in range(inner):
            b()
        t2 = time.perf_counter()
        ta.append((t1 - t0) / inner)
        tb.append((t2 - t1) / inner)
    return statistics.median(ta), statistics.median(tb)


def planted(n: int, d: int, m: int, seed: int = 0, alpha: float = 8.0):
    """Keys ~ N(0, I) normalised; each query is alpha * a planted key + noise (a peaked workload)."""
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((n, d)).astype(np.float32)
    K /= np.linalg.norm(K, axis=1, keepdims=True)
    V = rng.standard_normal((n, d)).astype(np.float32)
    idx = rng.integers(0, n, m)
    Q = (alpha * K[idx] + rng.standard_normal((m, d)).astype(np.float32) / np.sqrt(d)).astype(np.float32)
    return Q, K, V


def bench_exact_resident(drv, reps: int) -> dict:
    Q, K, V = planted(320, 64, 1024, seed=1)
    ctx = drv.load(K, V)
    sim, ref = side_by_side(lambda: drv.attention(Q, ctx), lambda: numpy_exact(Q, K, V), reps)
    ctx.close()
    return {"name": "exact, 1024 queries, n=320, d=64, K/V resident", "sim_s": sim, "ref_s": ref,
            "ratio": sim / ref, "target": 2.0, "unit": "x numpy exact"}


def bench_approx_resident(drv, reps: int) -> dict:
    Q, K, V = planted(320, 64, 1024, seed=2)
    ctx = drv.load(K, V)
    sim, ref = side_by_side(lambda: drv.attention(Q, ctx, mode="approx", preset="conservative", sets=False),
                            lambda: numpy_exact(Q, K, V), reps)
    _, rec = drv.attention(Q, ctx, mode="approx", preset="conservative", sets=False)
    ctx.close()
    return {"name": "approx (conservative), 1024 queries, n=320, d=64, K/V resident", "sim_s": sim, "ref_s": ref,
            "ratio": sim / ref, "target": 2.0, "unit": "x numpy exact",
            "mean_candidates": float(rec.n_candidates.mean()), "M": rec.M}


def bench_tiny(drv, reps: int) -> dict:
    rng = np.random.default_rng(3)
    q = rng.standard_normal(32).astype(np.float32)
    K = rng.standard_normal((16, 32)).astype(np.float32)
    V = rng.standard_normal((16, 32)).astype(np.float32)
    sim, ref = side_by_side(lambda: drv.attention(q, K, V), lambda: numpy_exact(q[None], K, V), reps, inner=200)
    return {"name": "tiny offload, n=16, d=32, one query, end to end", "sim_s": sim, "ref_s": ref,
            "ratio": sim / ref, "sim_us": sim * 1e6, "target_us": 50.0, "unit": "x numpy exact"}


def bench_startup(reps: int) -> dict:
    code_sim = ("import time; t=time.perf_counter(); import a3sim; a3sim.A3Driver(); "
                "print(time.perf_counter()-t)")
    code_ref = "import time; t=time.perf_counter(); import numpy, pandas; print(time.perf_counter()-t)"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")

    def run(code: str) -> float:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    sims, refs = [], []
    for _ in range(reps):
        sims.append(run(code_sim))
        refs.append(run(code_ref))
    sim, ref = statistics.median(sims), statistics.median(refs)
    return {"name": "import a3sim + platform ready, fresh process", "sim_s": sim, "ref_s": ref,
            "ratio": sim / ref, "target_s": 1.5, "unit": "x import numpy+pandas"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9, help="repetitions per figure (median is reported)")
    ap.add_argument("--json", type=Path, default=Path(__file__).with_name("results.json"))
    ap.add_argument("--only", nargs="*", help="names of benchmarks to run: exact approx tiny startup")
    args = ap.parse_args(argv)
    from a3sim import A3Driver

    drv = A3Driver()
    drv.trace.enabled = True
    wanted = set(args.only or ["exact", "approx", "tiny", "startup"])
    results = []
    if "exact" in wanted:
        results.append(bench_exact_resident(drv, args.reps))
    if "approx" in wanted:
        results.append(bench_approx_resident(drv, args.reps))
    if "tiny" in wanted:
        results.append(bench_tiny(drv, args.reps))
    if "startup" in wanted:
        results.append(bench_startup(max(3, args.reps // 2)))

    from rich.console import Console
    from rich.table import Table

    table = Table(title="a3sim benchmarks (median of repetitions, timed side by side)")
    for col in ("benchmark", "simulator", "reference", "ratio", "target", "met"):
        table.add_column(col)
    for r in results:
        if "target_us" in r:
            target, met = f"<= {r['target_us']:.0f} us", r["sim_us"] <= r["target_us"]
            sim = f"{r['sim_us']:.1f} us"
        elif "target_s" in r:
            target, met = f"<= {r['target_s']} s", r["sim_s"] <= r["target_s"]
            sim = f"{r['sim_s']:.3f} s"
        else:
            target, met = f"<= {r['target']}x", r["ratio"] <= r["target"]
            sim = f"{r['sim_s'] * 1e3:.2f} ms"
        r["met"] = bool(met)
        ref = f"{r['ref_s'] * 1e3:.3f} ms"
        table.add_row(r["name"], sim, ref, f"{r['ratio']:.2f} {r['unit']}", target, "yes" if met else "NO")
    Console().print(table)
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "reps": args.reps}
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
