"""A driver loop to profile one benchmark call (docs/performance.md section 4.1).

    .venv/bin/python benchmarks/profile_call.py [--mode exact|approx] [--calls N] [--numpy]
                                                [--config JSON] [--trace on|off]
    perf record -g .venv/bin/python benchmarks/profile_call.py --config '{"sim_threads": 1}'

Runs the `exact` or `approx` figure's call of benchmarks/run.py (1024 queries, n = 320, d = 64,
K/V resident, planted keys) N times and prints the median wall and process CPU time per call.
With --numpy each call is followed by `numpy_exact` at numpy's default threads, as in the
benchmark, so that numpy's BLAS threads are in the state they are in there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import numpy_exact, planted  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the loop; returns the medians (seconds) it prints."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["exact", "approx"], default="exact")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--numpy", action="store_true", help="follow each call with numpy_exact")
    ap.add_argument("--config", default="{}", help="configuration entries as JSON")
    ap.add_argument("--trace", choices=["on", "off"], default="on", help="trace recording (on, as in normal use)")
    a = ap.parse_args(argv)

    import a3sim

    drv = a3sim.A3Driver(json.loads(a.config))
    drv.trace.enabled = a.trace == "on"
    seed = 1 if a.mode == "exact" else 2
    Q, K, V = planted(320, 64, 1024, seed=seed)
    ctx = drv.load(K, V)
    if a.mode == "exact":

        def sim() -> object:
            return drv.attention(Q, ctx)
    else:

        def sim() -> object:
            return drv.attention(Q, ctx, mode="approx", M=160, T=0.05, sets=False)

    sim()
    numpy_exact(Q, K, V)
    wall, cpu, ref = [], [], []
    for _ in range(a.calls):
        c0, t0 = time.process_time(), time.perf_counter()
        sim()
        c1, t1 = time.process_time(), time.perf_counter()
        if a.numpy:
            numpy_exact(Q, K, V)
        ref.append(time.perf_counter() - t1)
        wall.append(t1 - t0)
        cpu.append(c1 - c0)
    ctx.close()
    out = {"sim_s": statistics.median(wall), "sim_cpu_s": statistics.median(cpu)}
    line = f"{a.mode}: simulator {out['sim_s'] * 1e3:.3f} ms wall, {out['sim_cpu_s'] * 1e3:.3f} ms CPU per call"
    if a.numpy:
        out["ref_s"] = statistics.median(ref)
        line += f"; numpy {out['ref_s'] * 1e3:.3f} ms; ratio {out['sim_s'] / out['ref_s']:.2f}"
    print(line)
    return out


if __name__ == "__main__":
    main()
