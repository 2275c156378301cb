"""Traffic analysis of a trace: bandwidth over time per initiator and target, bytes by stream,
row-buffer hit rates, latency percentiles and arbitration waits, as pandas tables, and PNG plots.

    from a3sim.analysis import bandwidth, bytes_by_stream, row_buffer, latency_percentiles
    bw = bandwidth(drv.trace, window_ns=1000, by="initiator")    # GB/s per window and initiator
    plot_bandwidth(bw, "bw.png")

Every function takes a :class:`a3sim.trace.Trace` (or the tables it returns). DRAM-side figures
(row hits, DRAM latency, DRAM bandwidth) come from the DRAM burst trace
(``Trace.dram_bursts()``, docs/trace-schema.md section 2b); bus-side figures from the transaction
table. Times in ns, bandwidths in GB/s (= B/ns).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .trace import Trace


def _table(src: Trace | pd.DataFrame, kind: str) -> pd.DataFrame:
    if isinstance(src, pd.DataFrame):
        return src
    return src.dram_bursts() if kind == "dram" else src.transactions()


def spread(
    t0: np.ndarray,
    t1: np.ndarray,
    amount: np.ndarray,
    window_ns: float,
    origin: float = 0.0,
    n_windows: int | None = None,
) -> np.ndarray:
    """Amounts spread uniformly over their intervals [t0, t1) and summed per window of
    ``window_ns`` starting at ``origin``; an interval of zero length counts in the window of t0."""
    if window_ns <= 0:
        raise ValueError(f"window_ns must be positive, got {window_ns}")
    t0 = (np.asarray(t0, dtype=np.float64) - origin) / window_ns
    t1 = (np.asarray(t1, dtype=np.float64) - origin) / window_ns
    amount = np.asarray(amount, dtype=np.float64)
    if n_windows is None:
        n_windows = int(np.floor(t1.max())) + 1 if len(t1) else 0
    out = np.zeros(n_windows)
    i0 = np.floor(t0).astype(np.int64)
    i1 = np.where(t1 > t0, np.ceil(t1).astype(np.int64) - 1, i0)
    one = i0 == i1
    np.add.at(out, i0[one], amount[one])
    for k in np.flatnonzero(~one):  # intervals that cross window edges (few when windows are long)
        a, b, v = t0[k], t1[k], amount[k]
        for w in range(i0[k], i1[k] + 1):
            out[w] += v * (min(b, w + 1) - max(a, w)) / (b - a)
    return out


def bandwidth(
    trace: Trace | pd.DataFrame, window_ns: float = 1000.0, *, by: str = "initiator", source: str = "dram"
) -> pd.DataFrame:
    """Bandwidth over time: one row per window, one column per group (GB/s), plus ``total``.

    ``source="dram"`` uses the DRAM bursts, each burst's bytes spread over its data transfer
    (``by`` = ``initiator``, ``stream``, ``op``, ``channel``); ``source="bus"`` uses the bus
    transactions, bytes spread from issue to completion (``by`` = ``initiator``, ``target``,
    ``stream``, ``op``). The index is the window start in ns."""
    kind = "dram" if source == "dram" else "txn"
    df = _table(trace, kind)
    a, b = ("t_data_ns", "t_done_ns") if kind == "dram" else ("t_start_ns", "t_end_ns")
    if df.empty:
        return pd.DataFrame({"total": []})
    n = int(np.floor(df[b].max() / window_ns)) + 1
    cols = {}
    for name, g in df.groupby(by, observed=True):
        cols[str(name)] = spread(g[a].values, g[b].values, g["bytes"].values, window_ns, n_windows=n) / window_ns
    out = pd.DataFrame(cols, index=pd.Index(np.arange(n) * window_ns, name="t_ns"))
    out["total"] = out.sum(axis=1)
    return out


def bytes_by_stream(trace: Trace | pd.DataFrame) -> pd.DataFrame:
    """Bytes of each stream (K, V, sorted keys, queries, outputs, stats, descriptors, ...) by
    operation, on the bus (transaction bytes) and on the DRAM data bus (whole bursts, when the
    DRAM burst trace is given or available)."""
    t = _table(trace, "txn")
    t = t[t.target.astype(str) == "dram"]
    bus = t.groupby(["stream", "op"], observed=True).bytes.sum().rename("bus_bytes")
    out = bus.to_frame()
    if not isinstance(trace, pd.DataFrame):
        d = trace.dram_bursts()
        if len(d):
            out = out.join(d.groupby(["stream", "op"], observed=True).bytes.sum().rename("dram_bytes"), how="outer")
    return out.fillna(0).astype(np.int64).reset_index()


def row_buffer(trace: Trace | pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Row hits, misses and conflicts of the DRAM bursts and the hit rate, overall or per group
    (``by`` = ``initiator``, ``stream``, ``channel``, ``bank``...)."""
    d = _table(trace, "dram")
    d = d[d.kind.astype(str) != "none"]
    groups = [("all", d)] if by is None else list(d.groupby(by, observed=True))
    rows = []
    for name, g in groups:
        k = g.kind.astype(str).value_counts()
        hits, misses, conflicts = int(k.get("hit", 0)), int(k.get("miss", 0)), int(k.get("conflict", 0))
        n = hits + misses + conflicts
        rows.append(
            {
                "group": str(name),
                "bursts": n,
                "hits": hits,
                "misses": misses,
                "conflicts": conflicts,
                "hit_rate": hits / n if n else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def latency_percentiles(
    trace: Trace | pd.DataFrame, q: Sequence[float] = (50, 95, 99), *, by: str = "initiator", source: str = "dram"
) -> pd.DataFrame:
    """Latency percentiles (ns) per group: DRAM bursts (arrival to end of data) or bus transactions
    (issue to completion), with count, mean and max."""
    kind = "dram" if source == "dram" else "txn"
    df = _table(trace, kind)
    lat = df["latency_ns"] if kind == "dram" else df["t_end_ns"] - df["t_start_ns"]
    df = df.assign(_lat=lat)
    rows = []
    for name, g in df.groupby(by, observed=True):
        v = g["_lat"].values
        row: dict[str, Any] = {by: str(name), "count": len(v), "mean_ns": float(v.mean())}
        for p in q:
            row[f"p{p:g}_ns"] = float(np.percentile(v, p))
        row["max_ns"] = float(v.max())
        rows.append(row)
    return pd.DataFrame(rows)


def arbitration_waits(trace: Trace | pd.DataFrame) -> pd.DataFrame:
    """Waits for the DRAM port's grant per initiator: transactions, how many waited, total, mean,
    p95 and max wait (ns)."""
    t = _table(trace, "txn")
    t = t[t.target.astype(str) == "dram"]
    rows = []
    for name, g in t.groupby("initiator", observed=True):
        w = g.wait_ns.values
        rows.append(
            {
                "initiator": str(name),
                "transactions": len(w),
                "waited": int((w > 0).sum()),
                "total_wait_ns": float(w.sum()),
                "mean_wait_ns": float(w.mean()) if len(w) else 0.0,
                "p95_wait_ns": float(np.percentile(w, 95)) if len(w) else 0.0,
                "max_wait_ns": float(w.max()) if len(w) else 0.0,
            }
        )
    return pd.DataFrame(rows)


# ---- plots -----------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bandwidth(
    bw: pd.DataFrame, path: str | Path, *, peak_gbps: float | None = None, title: str = "DRAM bandwidth over time"
) -> Path:
    """Stacked area of the per-group bandwidth over time, with the peak as a line."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    groups = [c for c in bw.columns if c != "total"]
    x = bw.index.values / 1000.0
    ax.stackplot(x, *[bw[c].values for c in groups], labels=groups, step="post")
    if peak_gbps:
        ax.axhline(peak_gbps, color="k", ls="--", lw=1, label=f"peak {peak_gbps:g} GB/s")
    ax.set_xlabel("simulated time (us)")
    ax.set_ylabel("GB/s")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(
    trace: Trace | pd.DataFrame, path: str | Path, *, by: str = "initiator", title: str = "DRAM burst latency"
) -> Path:
    """Histogram of DRAM burst latency per group (log count)."""
    plt = _pyplot()
    d = _table(trace, "dram")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    hi = float(np.percentile(d.latency_ns, 99.9)) if len(d) else 1.0
    bins = np.linspace(0, max(hi, 1.0), 60)
    for name, g in d.groupby(by, observed=True):
        ax.hist(g.latency_ns.clip(upper=bins[-1]), bins=bins, histtype="step", label=str(name))
    ax.set_yscale("log")
    ax.set_xlabel("latency (ns), arrival to end of data")
    ax.set_ylabel("bursts")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_row_buffer(rb: pd.DataFrame, path: str | Path, *, title: str = "Row-buffer outcomes") -> Path:
    """Stacked bars of hits, misses and conflicts per group of :func:`row_buffer`."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bottom = np.zeros(len(rb))
    for col in ("hits", "misses", "conflicts"):
        ax.bar(rb.group, rb[col], bottom=bottom, label=col)
        bottom += rb[col].values
    ax.set_ylabel("bursts")
    ax.set_title(title)
    ax.legend(fontsize=7)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary_lines(tables: Iterable[tuple[str, pd.DataFrame]]) -> str:
    """Plain-text rendering of named tables (for logs and the CLI)."""
    return "\n\n".join(f"{name}\n{df.to_string(index=False)}" for name, df in tables)


__all__ = [
    "spread",
    "bandwidth",
    "bytes_by_stream",
    "row_buffer",
    "latency_percentiles",
    "arbitration_waits",
    "plot_bandwidth",
    "plot_latency",
    "plot_row_buffer",
    "summary_lines",
]
