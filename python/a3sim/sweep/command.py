"""``a3sim sweep SPEC``: argument parsing only; the work is :func:`a3sim.sweep.run_sweep`."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the ``a3sim`` parser's subparsers."""
    s = sub.add_parser(
        "sweep",
        help="run a design-space sweep (TOML spec) on Dask or local processes",
        description="Runs every point of a sweep spec in a fresh process, writes one row of "
        "metrics per point to OUT/results.parquet as points finish, and plots. "
        "See docs/sweeps.md.",
    )
    s.add_argument("spec", help="the sweep specification (TOML)")
    s.add_argument("--out", help="output folder (default: the spec's [sweep] out)")
    s.add_argument(
        "--executor",
        choices=["dask", "processes"],
        default="dask",
        help="dask (default): a LocalCluster, or the cluster at --scheduler; processes: a local pool without Dask",
    )
    s.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    s.add_argument("--workers", type=int, help="local workers (default: the cores of this machine)")
    s.add_argument("--resume", action="store_true", help="keep the finished points of OUT, run the rest")
    s.add_argument("--overwrite", action="store_true", help="discard the results already in OUT")
    s.add_argument("--timeout", type=float, help="seconds per point (default: the spec's timeout_s)")
    s.add_argument("--dry-run", action="store_true", help="print the points and exit")
    s.add_argument("--no-plots", action="store_true")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--no-dashboard", action="store_true", help="do not serve the Dask dashboard")
    s.set_defaults(fn=command)
    return s


def command(args: argparse.Namespace) -> int:
    """Exit status: 0 when every point succeeded, 1 when some failed, 130 when interrupted."""
    from .run import print_summary, run_sweep
    from .spec import varying_axes
    from .specfile import load_spec

    spec = load_spec(args.spec)
    if args.dry_run:
        from rich.console import Console
        from rich.table import Table

        points = spec.points()
        axes = varying_axes(points)
        t = Table(title=f"{spec.name}: {len(points)} points")
        for c in ("index", "rep", "point_id", *axes):
            t.add_column(c)
        for p in points:
            par = p.params()
            t.add_row(str(p.index), str(p.rep), p.point_id, *(str(par.get(a)) for a in axes))
        Console(width=max(160, Console().width)).print(t)
        return 0
    if args.scheduler and args.executor != "dask":
        from ..errors import A3InputError

        raise A3InputError("--scheduler needs --executor dask")
    _sigterm_interrupts()
    res = run_sweep(
        spec,
        out=args.out,
        executor=args.executor,
        scheduler=args.scheduler,
        workers=args.workers,
        resume=args.resume,
        overwrite=args.overwrite,
        timeout_s=args.timeout,
        progress=not args.no_progress,
        plots=not args.no_plots,
        dashboard=not args.no_dashboard,
    )
    print_summary(res)
    if res.interrupted:
        return 130
    return 0 if res.ok else 1


def _sigterm_interrupts() -> None:
    """SIGTERM (what batch systems and `kill` send) stops the sweep like Ctrl-C: finished points kept."""
    import signal
    import threading

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)
