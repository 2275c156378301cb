"""K/V beyond the SRAM banks: host tiling against device streaming, side by side.

For n > n_max the driver either cuts K/V into tiles that the host merges (``overflow="tile"``,
the default) or loads one tile of all n rows with the LOAD_KV flag STREAM, and the unit streams
rows n_max .. n-1 from DRAM for every query (``overflow="stream"``, exact mode;
``docs/memory-model.md`` section 9). :func:`compare_overflow` runs one call both ways on one
platform and reports what each costs: latency, compute, the DMA bytes by stream (from the bus
trace) and the DRAM's bytes and data-bus time (from its statistics).

    python -m a3sim.streaming --m 16 --n 640 --d 64          # the table of docs/memory-model.md
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .config import ConfigLike
from .memory import dram_stats, reset_dram_stats

#: DMA streams reported per path, in this order.
TRAFFIC_STREAMS = ("K", "V", "Q", "out", "stats", "descriptor", "completion")


def _reference(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    S = Q.astype(np.float64) @ K.T.astype(np.float64)
    P = np.exp(S - S.max(axis=1, keepdims=True))
    return (P / P.sum(axis=1, keepdims=True)) @ V.astype(np.float64)


def compare_overflow(m: int, n: int, d: int, *, config: ConfigLike = None, seed: int = 0) -> pd.DataFrame:
    """Run one exact call of m queries against n x d random K/V with ``overflow="tile"`` and with
    ``"stream"``; one row per path: ``latency_ns``, ``compute_ns``, ``jobs``, the DMA bytes of each
    stream of :data:`TRAFFIC_STREAMS` (``bytes_<stream>``), ``dram_bytes`` and ``dram_busy_ns``
    (the DRAM's data-bus time for the call), and ``max_err`` against numpy softmax attention."""
    from .driver import A3Driver

    drv = A3Driver(config=config)
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((n, d)).astype(np.float32)
    V = rng.standard_normal((n, d)).astype(np.float32)
    Q = (rng.standard_normal((m, d)) / np.sqrt(d)).astype(np.float32)
    ref = _reference(Q, K, V)
    rows: list[dict[str, Any]] = []
    for path in ("tile", "stream"):
        drv.trace.clear()
        reset_dram_stats(drv.device)
        out, rec = drv.attention(Q, K, V, overflow=path)
        t = drv.trace.transactions()
        mine = t[t.job.isin(rec.jobs)]
        by_stream = mine.groupby(mine.stream.astype(str)).bytes.sum()
        s = dram_stats(drv.device)
        row: dict[str, Any] = {
            "path": path,
            "tiles": rec.tiles,
            "jobs": len(rec.jobs),
            "latency_ns": rec.latency_ns,
            "compute_ns": rec.compute_ns,
        }
        row.update({f"bytes_{k}": int(by_stream.get(k, 0)) for k in TRAFFIC_STREAMS})
        row.update(
            dram_bytes=int(s.bytes_read + s.bytes_written),
            dram_busy_ns=float(s.data_busy_ns),
            max_err=float(np.abs(out - ref).max()),
        )
        rows.append(row)
    drv.close()
    return pd.DataFrame(rows).set_index("path")


def main(argv: Sequence[str] | None = None) -> int:
    """Print :func:`compare_overflow` as a markdown table."""
    ap = argparse.ArgumentParser(prog="python -m a3sim.streaming", description=__doc__.split("\n\n")[0])
    ap.add_argument("--m", type=int, default=16, help="queries")
    ap.add_argument("--n", type=int, default=640, help="K/V rows (> n_max = 320 to stream)")
    ap.add_argument("--d", type=int, default=64, help="row length")
    ap.add_argument("--config", default=None, help="platform configuration, 'key=value;...'")
    a = ap.parse_args(argv)
    df = compare_overflow(a.m, a.n, a.d, config=a.config)
    print(f"| m = {a.m}, n = {a.n}, d = {a.d} | " + " | ".join(df.index) + " |")
    print("|---|" + "---:|" * len(df.index))
    for col in df.columns:
        cells = [f"{v:,.1f}" if isinstance(v, float) and col != "max_err" else f"{v:.2g}" if col == "max_err"
                 else f"{v:,}" for v in df[col]]  # fmt: skip
        print(f"| {col} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
