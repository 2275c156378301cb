"""Summary plots of a sweep: chosen metrics against the axes, one PNG per plot (matplotlib)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .spec import PlotSpec

#: Plotted when the spec names no plot (those the table has values for).
DEFAULT_METRICS = ("sim_latency_us", "throughput_qps", "dma_GBps", "metric", "energy_pj")


def default_x(df: pd.DataFrame, axes: Sequence[str]) -> str | None:
    """The varying axis with the most distinct values, numeric axes first."""
    best, key = None, None
    for a in axes:
        if a not in df:
            continue
        n = df[a].astype(str).nunique()
        if n < 2:
            continue
        numeric = pd.api.types.is_numeric_dtype(df[a])
        k = (numeric, n)
        if key is None or k > key:
            best, key = a, k
    return best


def plot_one(df: pd.DataFrame, spec: PlotSpec, axes: Sequence[str], folder: Path, title: str) -> Path | None:
    """One plot: mean of ``spec.y`` over repetitions against ``spec.x``, a line per ``by`` group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"]
    if spec.y not in ok or ok[spec.y].isna().all():
        return None
    x = spec.x or default_x(ok, axes)
    if x is None:
        return None
    by = (
        list(spec.by)
        if spec.by is not None
        else [a for a in axes if a != x and a in ok and ok[a].astype(str).nunique() > 1]
    )
    data = ok[[x, *by, spec.y]].copy()
    for c in (x, *by):
        data[c] = data[c].map(lambda v: "none" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
    numeric_x = pd.api.types.is_numeric_dtype(data[x])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    groups = data.groupby(by, dropna=False, sort=True) if by else [((), data)]
    cats = list(dict.fromkeys(data[x].astype(str))) if not numeric_x else None  # order of the points
    nlines = 0
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        mean = g.groupby(x, sort=True)[spec.y].mean()
        xs = mean.index.to_numpy() if numeric_x else np.array([cats.index(str(v)) for v in mean.index])
        order = np.argsort(xs, kind="stable")
        label = ", ".join(f"{_short(b)}={_fmt(v)}" for b, v in zip(by, key)) or None
        ax.plot(xs[order], mean.to_numpy()[order], "o-", label=label)
        nlines += 1
    if spec.logx and numeric_x:
        ax.set_xscale("log")
    if spec.logy:
        ax.set_yscale("log")
    if not numeric_x:
        ax.set_xticks(range(len(cats)), cats)
    elif data[x].nunique() <= 12:  # label the swept values themselves
        from matplotlib.ticker import NullLocator

        ticks = sorted(data[x].unique())
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ticks, [_fmt(float(v)) for v in ticks])
    ax.set_xlabel(x)
    ax.set_ylabel(spec.y)
    ax.set_title(f"{title}: {spec.y} against {x}", fontsize=10)
    ax.grid(alpha=0.3)
    if by and nlines <= 16:
        ax.legend(fontsize=7)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(spec.y)}_vs_{_slug(x)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary_plots(
    df: pd.DataFrame, axes: Sequence[str], plots: Sequence[PlotSpec], folder: Path, title: str
) -> list[Path]:
    """The spec's plots (or one per default metric), written under ``folder``."""
    specs = list(plots) or [PlotSpec(y=m) for m in DEFAULT_METRICS]
    out = []
    for s in specs:
        p = plot_one(df, s, axes, folder, title)
        if p is not None:
            out.append(p)
    return out


def _short(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else name


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", s).strip("_")
