"""Probes behind the figures of docs/performance.md that are not benchmark targets.

    .venv/bin/python benchmarks/probes.py minilm-split [--forwards N]
    .venv/bin/python benchmarks/probes.py layer [--calls N] [--config JSON]
    .venv/bin/python benchmarks/probes.py trace-growth [--n N] [--calls N] [--trace on|off] [--config JSON]
    .venv/bin/python benchmarks/probes.py first-calls
    .venv/bin/python benchmarks/probes.py startup-split

- minilm-split: one MiniLM forward (128 tokens) with the attention offloaded and one with numpy's,
  alternately; medians of the whole forward and of the time inside the attention backend.
- layer: one layer's 12 heads x 128 tokens (d = 32) through ``attention_batch``, median per call.
- trace-growth: exact calls of n keys (64 queries, tiled beyond the SRAM) in a row, each call's
  time with the trace table sizes after it (where the tables stand explains the call's speed).
- first-calls: time of the first and the second call of native functions through cppyy.
- startup-split: ``import a3sim``, ``import cppyy``, loading the library, ``A3Driver()``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


class _Timed:
    """An attention backend that adds up the time spent inside another."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, 0.0

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        out = self.inner(*args, **kwargs)
        self.seconds += time.perf_counter() - t
        return out


def minilm_split(forwards: int) -> None:
    import a3sim
    from a3sim.nn.attention import A3Attention, NumpyAttention
    from a3sim.nn.minilm import MiniLM
    from run import minilm_ids

    drv = a3sim.A3Driver()
    drv.trace.enabled = True
    model = MiniLM()
    ids = minilm_ids(model)
    sim, ref = _Timed(A3Attention(drv, mode="exact")), _Timed(NumpyAttention())
    model.forward(ids, attention=sim)
    model.forward(ids, attention=ref)
    rows = []
    for _ in range(forwards):
        sim.seconds = ref.seconds = 0.0
        t0 = time.perf_counter()
        model.forward(ids, attention=sim)
        t1 = time.perf_counter()
        model.forward(ids, attention=ref)
        t2 = time.perf_counter()
        rows.append((t1 - t0, sim.seconds, t2 - t1, ref.seconds))
    fs, a_s, fr, a_r = (statistics.median(r[i] for r in rows) * 1e3 for i in range(4))
    print(
        f"offloaded forward {fs:.2f} ms (attention {a_s:.2f}, rest {fs - a_s:.2f}) | "
        f"numpy forward {fr:.2f} ms (attention {a_r:.2f}, rest {fr - a_r:.2f})"
    )


def layer(calls: int, config: dict) -> None:
    import numpy as np

    import a3sim

    drv = a3sim.A3Driver(config)
    drv.trace.enabled = True
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((12, 128, 32)).astype(np.float32) * 0.2
    K = rng.standard_normal((12, 128, 32)).astype(np.float32)
    V = rng.standard_normal((12, 128, 32)).astype(np.float32)
    for _ in range(20):
        drv.attention_batch(Q, K, V, sets=False)
    ts = []
    for _ in range(calls):
        t = time.perf_counter()
        drv.attention_batch(Q, K, V, sets=False)
        ts.append(time.perf_counter() - t)
    print(f"layer of 12 heads x 128 tokens: {statistics.median(ts) * 1e6:.0f} us per call (median of {calls})")


def trace_growth(n: int, calls: int, trace: bool, config: dict) -> None:
    import a3sim
    from run import planted

    drv = a3sim.A3Driver(config)
    drv.trace.enabled = trace
    api = drv.device.native
    Q, K, V = planted(n, 64, 64, seed=4)
    ctx = drv.load(K, V)
    for i in range(calls):
        t = time.perf_counter()
        drv.attention(Q, ctx)
        dt = time.perf_counter() - t
        print(
            f"{i:3d} {dt * 1e3:7.1f} ms  transactions {int(api.txn_count()):>9,}  "
            f"DRAM bursts {int(api.dram_count()):>9,}  dropped {int(api.trace_dropped()):>10,}"
        )


def first_calls() -> None:
    from a3sim import _native

    api = _native.api()
    for name in ("txn_layout", "phase_layout", "job_layout", "dram_layout", "error_table", "initiator_names"):
        f = getattr(api, name)
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        f()
        t2 = time.perf_counter()
        print(f"{name:16s} first call {(t1 - t0) * 1e3:.2f} ms, second {(t2 - t1) * 1e3:.3f} ms")


def startup_split() -> None:
    t0 = time.perf_counter()
    import a3sim

    t1 = time.perf_counter()
    import cppyy  # noqa: F401

    from a3sim import _native

    t2 = time.perf_counter()
    _native.api()
    t3 = time.perf_counter()
    a3sim.A3Driver()
    t4 = time.perf_counter()
    print(
        f"import a3sim {t1 - t0:.3f} s, import cppyy {t2 - t1:.3f} s, library + header {t3 - t2:.3f} s, "
        f"A3Driver() {t4 - t3:.3f} s, total {t4 - t0:.3f} s"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="probe", required=True)
    p = sub.add_parser("minilm-split")
    p.add_argument("--forwards", type=int, default=30)
    p = sub.add_parser("layer")
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--config", default="{}", help="configuration entries as JSON")
    p = sub.add_parser("trace-growth")
    p.add_argument("--n", type=int, default=65536)
    p.add_argument("--calls", type=int, default=14)
    p.add_argument("--trace", choices=["on", "off"], default="on")
    p.add_argument("--config", default="{}", help="configuration entries as JSON")
    sub.add_parser("first-calls")
    sub.add_parser("startup-split")
    a = ap.parse_args(argv)
    if a.probe == "minilm-split":
        minilm_split(a.forwards)
    elif a.probe == "layer":
        layer(a.calls, json.loads(a.config))
    elif a.probe == "trace-growth":
        trace_growth(a.n, a.calls, a.trace == "on", json.loads(a.config))
    elif a.probe == "first-calls":
        first_calls()
    else:
        startup_split()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
