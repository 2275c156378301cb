"""The report's files: traces (Parquet, Perfetto) and plots of the runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .presets import BOUNDS, mode_label
from .protocol import PHASES

if TYPE_CHECKING:
    from .driver import A3Driver
    from .report import RunResult


def write_traces(
    driver: A3Driver, results: Sequence[RunResult], folder: Path, max_transactions: int = 50_000
) -> list[Path]:
    """Parquet tables of all runs, and one Perfetto JSON per run (its jobs only)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = list(driver.trace.to_parquet(folder).values())
    paths.append(driver.trace.to_perfetto(folder / "trace.perfetto.json", max_transactions=max_transactions))
    return paths


def plot(results: Sequence[RunResult], driver: A3Driver, folder: Path) -> list[Path]:
    """PNG plots: latency breakdown per run (phases) and task loss against throughput gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    jobs = driver.trace.jobs()
    labels, stacks = [], []
    # Busy phases of the unit (the queue phase is waiting, not work, and is left out).
    shown = tuple(p for p in PHASES if p != "queue")
    for r in results:
        sel = jobs[(jobs.job >= r.jobs[0]) & (jobs.job < r.jobs[1])]
        by = sel.groupby("phase", observed=False).duration_ns.sum()
        vals = np.array([by.get(p, 0.0) for p in shown])
        stacks.append(100.0 * vals / vals.sum() if vals.sum() > 0 else vals)
        labels.append(f"{r.workload}\n{mode_label(r.mode, r.preset)}")
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 4.8))
    bottom = np.zeros(len(labels))
    for i, p in enumerate(shown):
        vals = np.array([s[i] for s in stacks])
        if vals.sum() > 0:
            ax.bar(labels, vals, bottom=bottom, label=p)
            bottom += vals
    ax.set_ylabel("share of the unit's busy time (%)")
    ax.set_ylim(0, 100)
    ax.set_title(
        "Where the simulated A3 spends its time, per workload and mode\n"
        "(phase durations summed over jobs; pipelined compute stages overlap)"
    )
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    p1 = folder / "latency_breakdown.png"
    fig.savefig(p1, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for wl in sorted({r.workload for r in results}):
        rs = [r for r in results if r.workload == wl]
        ax.plot([r.gain for r in rs], [100 * (r.loss or 0.0) for r in rs], "o-", label=wl)
        for r in rs:
            ax.annotate(mode_label(r.mode, r.preset), (r.gain, 100 * (r.loss or 0.0)), fontsize=7)
    for bound in BOUNDS.values():
        ax.axhline(bound, ls=":", c="gray")
    ax.set_xlabel("modelled throughput gain over base A3 (x)")
    ax.set_ylabel("task loss vs exact on the host (points; MiniLM: 100 x (1 - cosine))")
    ax.set_title("Accuracy against speed")
    ax.legend()
    fig.tight_layout()
    p2 = folder / "accuracy_vs_gain.png"
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    return [p1, p2]
