"""Running a sweep: expand the spec, skip what is done, run the rest on an executor, keep every
finished row, plot."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import A3Error
from .execute import make_executor
from .plots import summary_plots
from .spec import Point, SweepSpec, varying_axes
from .table import ResultTable


class SweepError(A3Error, RuntimeError):
    """A sweep cannot start (e.g. its output folder holds another run's results)."""


@dataclass
class SweepResult:
    """What :func:`run_sweep` did. ``table`` holds the rows of this spec's points only."""

    folder: Path
    table: pd.DataFrame
    points: list[Point]
    ran: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    executor: str = ""
    dashboard: str | None = None

    @property
    def ok(self) -> bool:
        """Every point of the spec has a successful row."""
        return (
            not self.interrupted and len(self.table) == len(self.points) and bool((self.table["status"] == "ok").all())
        )


def run_sweep(
    spec: SweepSpec,
    *,
    out: str | Path | None = None,
    executor: str = "dask",
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    timeout_s: float | None = None,
    progress: bool = True,
    plots: bool = True,
    dashboard: bool = True,
    console: Any = None,
) -> SweepResult:
    """Run every point of ``spec`` not yet done and return the results.

    Args:
        out: output folder (default ``spec.out``): ``results.parquet``, ``points.jsonl``,
            ``spec.toml`` and ``plots/``.
        executor: ``"dask"`` (a LocalCluster of ``workers`` processes, or the cluster at
            ``scheduler``) or ``"processes"`` (a local pool of ``workers`` point processes).
        resume: keep the folder's rows and run only the points without a successful row (failed,
            crashed, timed-out and new points run again). Without it, a folder that already holds
            results is an error unless ``overwrite``.
        timeout_s: per point (default: the spec's ``timeout_s``).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    t_start = time.perf_counter()
    points = spec.points()
    folder = Path(out) if out is not None else spec.out
    table = ResultTable(folder)
    if table.exists():
        if resume:
            table.load()
        elif overwrite:
            table.reset()
        else:
            raise SweepError(
                f"{folder} already holds sweep results: pass --resume to continue them, "
                "--overwrite to start again, or choose another --out"
            )
    folder.mkdir(parents=True, exist_ok=True)
    if spec.source:
        (folder / "spec.toml").write_text(spec.source)
    done = table.done()
    todo = [p for p in points if p.point_id not in done]
    by_id = {p.point_id: p for p in points}
    timeout = float(timeout_s if timeout_s is not None else spec.timeout_s)
    res = SweepResult(folder=folder, table=pd.DataFrame(), points=points, skipped=len(points) - len(todo))
    counts: Counter[str] = Counter()
    ex = None
    try:
        if todo:
            ex = make_executor(executor, scheduler=scheduler, workers=workers, dashboard=dashboard)
            res.executor, res.dashboard = ex.describe(), ex.dashboard
            console.print(
                f"[bold]a3sim sweep {spec.name}[/]: {len(points)} points, {len(todo)} to run"
                + (f", {res.skipped} already done" if res.skipped else "")
                + f"; {res.executor}",
                soft_wrap=True,
            )
            if res.dashboard:
                console.print(f"Dask dashboard: {res.dashboard}", soft_wrap=True)
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
                task = bar.add_task(spec.name, total=len(todo))
                for row in ex.run([p.payload() for p in todo], timeout):
                    p = by_id[row["point_id"]]
                    table.add({"index": p.index, "rep": p.rep, **p.params(), **row})
                    counts[row["status"]] += 1
                    res.ran += 1
                    bar.update(
                        task,
                        advance=1,
                        description=f"{spec.name}: " + " ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                    )
        else:
            console.print(f"[bold]a3sim sweep {spec.name}[/]: all {len(points)} points already done", soft_wrap=True)
    except KeyboardInterrupt:
        res.interrupted = True
        console.print(
            f"[yellow]interrupted[/]: {res.ran} points finished in this run are saved; "
            "run again with --resume to complete the sweep",
            soft_wrap=True,
        )
    finally:
        if ex is not None:
            ex.close()
        table.close()
    df = pd.read_parquet(table.path)  # what the file holds, with the file's types
    res.table = df[df["point_id"].isin(set(by_id))].reset_index(drop=True)
    res.counts = dict(Counter(res.table["status"])) if len(res.table) else {}
    if plots and not res.interrupted and len(res.table):
        res.plots = summary_plots(res.table, varying_axes(points), spec.plots, folder / "plots", spec.name)
    res.elapsed_s = time.perf_counter() - t_start
    return res


def print_summary(res: SweepResult, console: Any = None) -> None:
    """Counts by status, the errors of the points that failed, and the files written."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(
        title=f"sweep: {len(res.points)} points, ran {res.ran} in {res.elapsed_s:.1f} s"
        + (f", {res.skipped} kept from before" if res.skipped else "")
    )
    t.add_column("status")
    t.add_column("points", justify="right")
    for k, v in sorted(res.counts.items()):
        t.add_row(k, str(v))
    missing = len(res.points) - len(res.table)
    if missing:
        t.add_row("not run", str(missing))
    console.print(t)
    bad = res.table[res.table["status"] != "ok"]
    for _, r in bad.head(10).iterrows():
        first = str(r["error"]).strip().splitlines()[0] if r["error"] else ""
        console.print(f"  point {r['index']} ({r['point_id']}) {r['status']}: {first}", markup=False, soft_wrap=True)
    if len(bad) > 10:
        console.print(f"  ... and {len(bad) - 10} more (see the error column)")
    console.print(f"table: {res.folder / 'results.parquet'}", markup=False, soft_wrap=True)
    for p in res.plots:
        console.print(f"plot:  {p}", markup=False, soft_wrap=True)
