"""The ``a3sim`` command line (also ``python -m a3sim``): runs workloads and reports; all logic
lives in :mod:`a3sim.report` and :mod:`a3sim.calibrate`.

Every mistake a user can make prints one line on stderr (``a3sim: error: ...``) and exits with
status 2; outputs are checked before a simulation starts, so that no result is lost to a path
that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .presets import MODES, PRESET_NAMES, WORKLOADS

#: bAbI tasks of workloads/babi (a3sim.nn.memn2n.TASKS); the default task.
MEMN2N_TASKS = (1, 2, 3)
DEFAULT_TASK = 2
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake on the command line (printed as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (no usage block), status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"a3sim: error: {message} (see {self.prog} --help)\n")


def _whole(low: int):
    """An argparse type: a whole number of at least ``low``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        return v

    parse.__name__ = "whole_number"
    return parse


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def _writable_folder(path: Path, what: str) -> Path:
    """Create ``path`` (a folder) if needed and check that a file can be written in it."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} exists and is not a folder; name a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".a3sim-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    return path


def _writable_file(path: Path, what: str) -> Path:
    """Check that ``path`` (a file) can be written, creating its folder if needed."""
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder; name a file")
    _writable_folder(path.parent, f"the folder of {what}")
    return path


def _cmd_demo(args: argparse.Namespace) -> int:
    from .driver import A3Driver
    from .report import demo

    out = _writable_folder(Path(args.out), "output folder")
    demo(out, quick=args.quick, progress=not args.no_progress, driver=A3Driver(config=args.config))
    return 0


def _preset_arg(args: argparse.Namespace) -> Any:
    """--preset, or with --M-frac a custom preset dict (T from --T, else from the named preset)."""
    if args.M_frac is None:
        return args.preset
    from .presets import DEFAULT_PRESET, PRESETS

    if args.M is not None:
        raise UsageError("give --M or --M-frac, not both")
    return {"M_frac": args.M_frac, "T": PRESETS[args.preset or DEFAULT_PRESET]["T"]}


def _cmd_run(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .driver import A3Driver
    from .report import print_table, run

    if args.mode == "exact" and (args.preset or args.M is not None or args.T is not None or args.M_frac is not None):
        raise UsageError("--preset, --M, --M-frac and --T apply to --mode approx or post_only, not to exact")
    if args.task is not None and args.workload != "memn2n":
        raise UsageError(f"--task applies to memn2n only; {args.workload} has no tasks")
    trace = _writable_folder(Path(args.trace), "trace folder") if args.trace else None
    drv = A3Driver(config=args.config)
    kwargs: dict[str, Any] = {}
    if args.limit is not None:
        kwargs["limit"] = args.limit
    if args.workload == "memn2n":
        kwargs["task"] = args.task if args.task is not None else DEFAULT_TASK
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, disable=args.no_progress or args.json, transient=True) as bar:
        job = bar.add_task(f"simulating {args.workload}", total=None)

        def on_call(calls: int) -> None:
            bar.update(job, description=f"simulating {args.workload}: {calls} offload(s)")

        res = run(args.workload, drv, mode=args.mode, preset=_preset_arg(args), M=args.M, T=args.T,
                  on_call=on_call, **kwargs)  # fmt: skip
    if args.json:
        print(json.dumps(res.as_dict(), default=str))
    else:
        print_table([res], title=f"a3sim run {args.workload}")
    if trace is not None:
        drv.trace.to_parquet(trace)
        drv.trace.to_perfetto(trace / "trace.perfetto.json")
        from .memstudy import write_dram_traces  # Ramulator 1/2 and DRAMSys request traces

        write_dram_traces(drv.trace, trace)
        if not args.json:
            print(f"traces written to {trace}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate
    from .driver import A3Driver

    out = _writable_file(Path(args.out), "report") if args.out else None
    cmd = "a3sim calibrate" + (" --quick" if args.quick else "") + (f" --out {args.out}" if args.out else "")
    chosen = calibrate(out, quick=args.quick, progress=not args.no_progress, command=cmd,
                       driver=A3Driver(config=args.config))  # fmt: skip
    for name, p in chosen.items():
        if p is None:
            print(f"{name}: no setting met the bound")
        else:
            print(
                f"{name}: M_frac={p.M_frac:g} T={p.T:g} worst loss {p.worst_loss:.2f} points, "
                f"mean gain {p.mean_gain:.2f}x over base A3"
            )
    if out is not None:
        print(f"report written to {out}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from .blas import model_blas
    from .device import Device

    dev = Device.open(args.config)
    blas = model_blas()
    if args.json:
        table = {k: {"value": e.value, "default": e.default, "unit": e.unit, "source": e.source}
                 for k, e in dev.config.items()}  # fmt: skip
        print(json.dumps({**table, "blas": blas.as_dict()}, indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="a3sim hardware configuration")
    for c in ("key", "value", "default", "unit", "source"):
        t.add_column(c)
    for k, e in dev.config.items():
        # Sources start with [paper], [spec x.y], [ours]: text, not console markup.
        t.add_row(escape(k), f"{e.value:g}", f"{e.default:g}", escape(e.unit), escape(e.source))
    Console().print(t)
    note = " (a generic fallback: slow)" if blas.generic else ""
    print(
        f"BLAS of the functional model: {blas.library} {blas.version} ({blas.origin}), kernel "
        f"{blas.corename}{note}, {blas.threads} thread(s)"
    )
    return 0


def _cmd_paper(args: argparse.Namespace) -> int:
    from .paper import paper

    paper(
        Path(args.out),
        quick=args.quick,
        progress=not args.no_progress,
        bert_limit=args.bert_limit,
        bert_sweep_limit=args.sweep_limit,
    )
    return 0


_CONFIG_HELP = "hardware config: a TOML file or key=value;key=value (docs/configuration.md)"


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    ap = _Parser(prog="a3sim", description="SystemC/TLM model of the A3 attention accelerator")
    ap.add_argument("--version", action="version", version=f"a3sim {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    d = sub.add_parser("demo", help="the main job: real workloads in three modes, table, traces, plots")
    d.add_argument("--out", default="out", help="output folder (default: out)")
    d.add_argument("--quick", action="store_true", help="a reduced run (for tests)")
    d.add_argument("--config", help=_CONFIG_HELP)
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(fn=_cmd_demo)

    r = sub.add_parser("run", help="run one workload through the simulated A3")
    r.add_argument("workload", choices=WORKLOADS)
    r.add_argument("--mode", default="exact", choices=MODES)
    r.add_argument("--preset", choices=PRESET_NAMES)
    r.add_argument("--M", type=_whole(0), help="candidate-selection iterations (absolute)")
    r.add_argument("--M-frac", dest="M_frac", type=_non_negative_float,
                   help="candidate-selection iterations as a fraction of n (as the presets give M)")  # fmt: skip
    r.add_argument("--T", type=float, help="post-scoring threshold in [0, 1]")
    r.add_argument("--task", type=int, choices=MEMN2N_TASKS, help=f"bAbI task for memn2n (default {DEFAULT_TASK})")
    r.add_argument("--limit", type=_whole(1), help="number of questions / lemmas / sentences / queries")
    r.add_argument("--config", help=_CONFIG_HELP)
    r.add_argument("--trace", help="write Parquet, Perfetto and DRAM (Ramulator, DRAMSys) traces to this folder")
    r.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    r.add_argument("--no-progress", action="store_true", help="no progress display")
    r.set_defaults(fn=_cmd_run)

    k = sub.add_parser("calibrate", help="sweep M and T on real tasks and choose the presets")
    k.add_argument("--out", help="write the Markdown report here (e.g. docs/calibration.md)")
    k.add_argument("--quick", action="store_true", help="fewer questions per task")
    k.add_argument("--config", help=_CONFIG_HELP)
    k.add_argument("--no-progress", action="store_true", help="no progress bar")
    k.set_defaults(fn=_cmd_calibrate)

    c = sub.add_parser("config", help="print the hardware configuration with sources")
    c.add_argument("--config", help="overrides: a TOML file or key=value;key=value")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=_cmd_config)
    from .memstudy import register as _register_mem  # a3sim mem, a3sim mem-study

    _register_mem(sub)
    from .sweep.command import register as register_sweep  # a3sim sweep SPEC (docs/sweeps.md)

    register_sweep(sub)

    pp = sub.add_parser("paper", help="the paper's three workloads at their sizes, beside its figures")
    pp.add_argument("--out", default="docs/paper-comparison.md", help="Markdown report (plots beside it)")
    pp.add_argument("--quick", action="store_true", help="a small run (under 3 minutes)")
    pp.add_argument("--bert-limit", type=_whole(1), help="SQuAD paragraphs for exact and presets (default: all)")
    pp.add_argument("--sweep-limit", type=_whole(1), help="SQuAD paragraphs for the M and T sweeps")
    pp.add_argument("--no-progress", action="store_true")
    pp.set_defaults(fn=_cmd_paper)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except Exception as exc:  # typed a3sim errors carry messages that say what to fix
        from .errors import A3Error

        if isinstance(exc, (A3Error, UsageError)):
            msg = " ".join(str(exc).split())  # one line
            print(f"a3sim: error: {msg}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
