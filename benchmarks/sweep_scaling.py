"""Sweep throughput: points per second on two workers against one, on a sweep of short points.

    .venv/bin/python benchmarks/sweep_scaling.py [--points 16] [--reps 3] [--executor dask processes]
                                                 [--json benchmarks/sweep_scaling.json]

Each point is a short synthetic run (exact mode, n = 64, m = 16; one DRAM latency per point), so
its time is mostly the start of its own process (Python, cppyy, the model library, elaboration):
what a sweep of many small points costs. For every repetition and executor, one worker and two
workers run the same points one after the other; the clock runs from the first submission to the
last result (the cluster's start is not counted: it happens once per sweep). The figure is the
median over repetitions of points/s with two workers over points/s with one (target >= 1.8x on a
2-core machine), beside the machine's own parallelism at the time (`ceiling`: two CPU-bound processes
side by side against one after the other). docs/sweeps.md section 7 reports both.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path


def points(n: int) -> list[dict]:
    from a3sim.sweep import parse_spec

    spec = parse_spec(
        {
            "base": {"workload": "synthetic", "mode": "exact", "options": {"n": 64, "m": 16}},
            "grid": {"config": {"dram_latency_ns": [30.0 + i for i in range(n)]}},
        }
    )
    return [p.payload() for p in spec.points()]


def rate(kind: str, workers: int, payloads: list[dict]) -> float:
    """Points per second of one run of ``payloads`` on ``workers`` workers (start-up excluded)."""
    from a3sim.sweep import make_executor

    ex = make_executor(kind, workers=workers, dashboard=False)
    try:
        t0 = time.perf_counter()
        rows = list(ex.run(payloads, timeout_s=600))
        dt = time.perf_counter() - t0
    finally:
        ex.close()
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"a point failed: {bad[0]['error']}")
    return len(rows) / dt


_SPIN = "s = 0\nfor i in range(12_000_000):\n    s += i\n"


def ceiling() -> float:
    """The machine's parallelism right now: two CPU-bound processes (each in a session of its own,
    like the points) one after the other, over the same two side by side."""
    import subprocess

    def spin(n: int) -> float:
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", _SPIN], start_new_session=True) for _ in range(n)]
        for p in procs:
            p.wait()
        return time.perf_counter() - t0

    seq = spin(1) + spin(1)
    return seq / spin(2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--executor", nargs="+", default=["dask", "processes"], choices=["dask", "processes"])
    ap.add_argument("--json", default=str(Path(__file__).with_name("sweep_scaling.json")))
    args = ap.parse_args()
    payloads = points(args.points)
    results: dict[str, dict] = {}
    for kind in args.executor:
        one, two, ratios, ceilings = [], [], [], []
        for r in range(args.reps):
            a = rate(kind, 1, payloads)
            b = rate(kind, 2, payloads)
            c = ceiling()
            one.append(a)
            two.append(b)
            ratios.append(b / a)
            ceilings.append(c)
            print(
                f"{kind} rep {r + 1}: 1 worker {a:.3f} points/s, 2 workers {b:.3f} points/s, {b / a:.2f}x; "
                f"machine {c:.2f}x",
                flush=True,
            )
        try:
            load = list(os.getloadavg())
        except OSError:
            load = None
        results[kind] = {
            "points": args.points,
            "reps": args.reps,
            "one_worker_pps": one,
            "two_workers_pps": two,
            "ratios": ratios,
            "median_ratio": statistics.median(ratios),
            "median_one_worker_pps": statistics.median(one),
            "median_two_workers_pps": statistics.median(two),
            "machine_ceilings": ceilings,
            "median_machine_ceiling": statistics.median(ceilings),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_average_at_end": load,
        }
        print(
            f"{kind}: median {statistics.median(ratios):.2f}x (target >= 1.8x); machine: "
            f"{statistics.median(ceilings):.2f}x",
            flush=True,
        )
    path = Path(args.json)
    # Executors not run this time keep their previous entry (each entry has its own time and load).
    old = json.loads(path.read_text()).get("results", {}) if path.exists() else {}
    doc = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "results": {**old, **results},
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written to {path}")
    return 0 if all(r["median_ratio"] >= 1.8 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
