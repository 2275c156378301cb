"""Calibration of presets on our tasks: ``calibrated-1.6`` loses <= 1.6 and ``calibrated-9`` <= 9
percentage points of task accuracy, the paper's loss figures for its conservative and aggressive
presets (the paper's presets themselves, M = n/2, T = 0.05 and M = n/8, T = 0.1, keep those names).

    a3sim calibrate [--quick] [--out docs/calibration.md]

For every (M_frac, T) of a grid, each task runs through the simulated A3 in approx mode; its loss
is exact accuracy minus approx accuracy (percentage points), and its gain is the modelled compute
throughput gain over base A3 on the same calls (``docs/spec.md`` 3.6 cycles). A preset is the setting with
the largest geometric-mean gain whose worst loss over the tasks stays within its bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .nn.attention import A3Attention, NumpyAttention
from .presets import BOUNDS
from .presets import PAPER_PRESETS as _PAPER

if TYPE_CHECKING:
    from .driver import A3Driver

__all__ = ["BOUNDS", "PAPER_PRESETS", "M_FRACS", "TS", "Point", "sweep", "choose", "report", "calibrate"]
M_FRACS = (0.0625, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.5, 2.0)
TS = (0.0, 1e-3, 1e-2, 3e-2, 0.05, 0.1, 0.2, 0.3)
#: The paper's presets (docs/spec.md 3.4), reported beside the calibrated ones: (M_frac, T).
PAPER_PRESETS = {name: (p["M_frac"], p["T"]) for name, p in _PAPER.items()}


def _tasks(quick: bool) -> dict[str, Callable[[Any], float]]:
    from .nn import memn2n
    from .tasks import wordnet

    lim = 200 if quick else None
    return {
        "memn2n-qa2": lambda be: memn2n.evaluate(2, be, limit=lim),
        "memn2n-qa3": lambda be: memn2n.evaluate(3, be, limit=lim),
        "wordnet-senses": lambda be: wordnet.sense_matching(be, limit=80 if quick else None, dim=64).metrics[
            "accuracy"
        ],
        "wordnet-retrieval": lambda be: wordnet.definition_retrieval(be, dim=64, limit=100 if quick else None).metrics[
            "top1"
        ],
    }


@dataclass
class Point:
    M_frac: float
    T: float
    loss: dict[str, float]
    gain: dict[str, float]
    candidates: dict[str, float]

    @property
    def worst_loss(self) -> float:
        return max(self.loss.values())

    @property
    def mean_gain(self) -> float:
        return float(math.exp(np.mean([math.log(g) for g in self.gain.values()])))


def sweep(
    driver: A3Driver | None = None,
    *,
    quick: bool = False,
    m_fracs: Sequence[float] = M_FRACS,
    ts: Sequence[float] = TS,
    progress: bool = True,
) -> tuple[dict[str, float], list[Point]]:
    """Exact accuracies per task, and one Point per grid setting."""
    from rich.progress import Progress

    from .driver import A3Driver

    drv = driver or A3Driver()
    tasks = _tasks(quick)
    exact = {name: fn(A3Attention(drv, mode="exact")) for name, fn in tasks.items()}
    host = {name: fn(NumpyAttention()) for name, fn in tasks.items()}
    for name in tasks:  # the device's exact mode answers like the host
        assert abs(exact[name] - host[name]) < 1e-12, (name, exact[name], host[name])
    points = []
    grid = [(f, t) for f in m_fracs for t in ts]
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("calibrating", total=len(grid))
        for f, t in grid:
            loss, gain, cand = {}, {}, {}
            for name, fn in tasks.items():
                be = A3Attention(drv, mode="approx", preset={"M_frac": f, "T": t})
                acc = fn(be)
                tot = be.total()
                loss[name] = 100.0 * (exact[name] - acc)
                gain[name] = tot.gain
                cand[name] = tot.candidates / max(1, tot.queries)
            points.append(Point(f, t, loss, gain, cand))
            bar.advance(job)
    return exact, points


def choose(points: Sequence[Point], bounds: dict[str, float] = BOUNDS) -> dict[str, Point | None]:
    """Per preset, the point with the best mean gain whose worst loss is within the bound."""
    out: dict[str, Point | None] = {}
    for name, bound in bounds.items():
        ok = [p for p in points if p.worst_loss <= bound]
        out[name] = max(ok, key=lambda p: (p.mean_gain, -p.worst_loss)) if ok else None
    return out


def _table_head(title: str, columns: list[str]) -> list[str]:
    """A Markdown section heading and the head of its table."""
    return ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def report(
    exact: dict[str, float], points: Sequence[Point], chosen: dict[str, Point | None], *, command: str, seconds: float
) -> str:
    tasks = list(exact)
    lines = [
        "# Calibration of the approximation presets",
        "",
        f"Produced by `{command}` in {seconds:.0f} s (simulated A3, default hardware configuration).",
        "Loss = exact accuracy - approx accuracy, in percentage points; gain = modelled compute",
        "throughput gain over base A3 on the same calls (cycles of docs/spec.md 3.6); C/q = mean candidates",
        "per query. The presets take the largest geometric-mean gain whose worst loss over the tasks",
        "stays within the paper's loss figures: "
        + ", ".join(f"{name} <= {bound:g}" for name, bound in BOUNDS.items())
        + " points.",
        "Candidate selection runs with the min-side skip (spec 3.2 rule 3, the device default).",
        "",
        "## Exact accuracy (device exact mode = host numpy, checked)",
        "",
        "| task | accuracy |",
        "|---|---|",
    ]
    lines += [f"| {t} | {exact[t]:.4f} |" for t in tasks]
    lines += _table_head(
        "Chosen presets", ["preset", "M_frac", "T", "worst loss", "mean gain"] + [f"{t} loss / gain" for t in tasks]
    )
    for name, p in chosen.items():
        if p is None:
            lines.append(f"| {name} | - | - | no setting met the bound | - |" + " - |" * len(tasks))
            continue
        lines.append(
            f"| {name} | {p.M_frac:g} | {p.T:g} | {p.worst_loss:.2f} | {p.mean_gain:.2f}x | "
            + " | ".join(f"{p.loss[t]:.2f} / {p.gain[t]:.2f}x" for t in tasks)
            + " |"
        )
    by = {(p.M_frac, p.T): p for p in points}
    paper = [(name, by[ft]) for name, ft in PAPER_PRESETS.items() if ft in by]
    if paper:
        lines += [
            "",
            "The paper's presets (spec 3.4) on the same tasks, from the sweep below:",
            "",
            "| preset | M_frac | T | worst loss | mean gain | " + " | ".join(f"{t} loss / gain" for t in tasks) + " |",
            "|---|---|---|---|---|" + "---|" * len(tasks),
        ]
        for name, p in paper:
            lines.append(
                f"| {name} | {p.M_frac:g} | {p.T:g} | {p.worst_loss:.2f} | {p.mean_gain:.2f}x | "
                + " | ".join(f"{p.loss[t]:.2f} / {p.gain[t]:.2f}x" for t in tasks)
                + " |"
            )
    lines += [
        "",
        "## Reading the table",
        "",
        "Throughput is set by the slowest pipeline stage (docs/spec.md 3.6). Candidate selection takes",
        "M + 4 cycles per query against n + 9 for each of base A3's three modules (docs/spec.md 3.6),",
        "so the gain is at most (n + 9) / (M + 4) whatever |C| and |SEL| are:",
        "at n = 320 about 1.16x at M = 0.875 n, 2.0x at M = n/2, 3.9x at M = n/4. The paper's 2.6-7x needs M",
        "below n/2; on these tasks (short memories: MemN2N n ~ 15-50, WordNet senses n ~ 10; retrieval",
        "n = 300) that costs more accuracy than the 1.6-point bound allows, so the calibrated presets",
        "sit at the low end. On peaked synthetic inputs (planted keys) M = n/4 keeps the planted key and",
        "gives 3.9x (tests/test_approx_device.py::test_peaked_workload_gains_throughput).",
    ]
    lines += _table_head(
        "Full sweep", ["M_frac", "T", "worst loss", "mean gain"] + [f"{t} loss / gain / C/q" for t in tasks]
    )
    for p in points:
        lines.append(
            f"| {p.M_frac:g} | {p.T:g} | {p.worst_loss:.2f} | {p.mean_gain:.2f}x | "
            + " | ".join(f"{p.loss[t]:.2f} / {p.gain[t]:.2f}x / {p.candidates[t]:.1f}" for t in tasks)
            + " |"
        )
    return "\n".join(lines) + "\n"


def calibrate(
    out: Path | None = None,
    *,
    quick: bool = False,
    driver: A3Driver | None = None,
    progress: bool = True,
    command: str = "a3sim calibrate",
) -> dict[str, Point | None]:
    """Run the sweep, choose the presets, write the Markdown report (if ``out``) and return them."""
    t0 = time.perf_counter()
    exact, points = sweep(driver, quick=quick, progress=progress)
    chosen = choose(points)
    text = report(exact, points, chosen, command=command, seconds=time.perf_counter() - t0)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return chosen
