"""The ``a3sim`` command line: runs workloads and reports; all logic lives in :mod:`a3sim.report`."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from .report import demo

    demo(Path(args.out), quick=args.quick, progress=not args.no_progress)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .driver import A3Driver
    from .report import print_table, run

    drv = A3Driver(config=args.config)
    kwargs = {}
    if args.limit is not None:
        kwargs["limit"] = args.limit
    if args.workload == "memn2n":
        kwargs["task"] = args.task
    res = run(args.workload, drv, mode=args.mode, preset=args.preset, M=args.M, T=args.T, **kwargs)
    if args.json:
        print(json.dumps(res.as_dict(), default=str))
    else:
        print_table([res], title=f"a3sim run {args.workload}")
    if args.trace:
        out = Path(args.trace)
        drv.trace.to_parquet(out)
        drv.trace.to_perfetto(out / "trace.perfetto.json")
        if not args.json:
            print(f"traces written to {out}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate

    cmd = "a3sim calibrate" + (" --quick" if args.quick else "") + (f" --out {args.out}" if args.out else "")
    chosen = calibrate(Path(args.out) if args.out else None, quick=args.quick, progress=not args.no_progress,
                       command=cmd)
    for name, p in chosen.items():
        if p is None:
            print(f"{name}: no setting met the bound")
        else:
            print(f"{name}: M_frac={p.M_frac:g} T={p.T:g} worst loss {p.worst_loss:.2f} points, "
                  f"mean gain {p.mean_gain:.2f}x over base A3")
    if args.out:
        print(f"report written to {args.out}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from .device import Device

    dev = Device.open(args.config)
    if args.json:
        print(json.dumps({k: {"value": e.value, "default": e.default, "unit": e.unit, "source": e.source}
                          for k, e in dev.config.items()}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title="a3sim hardware configuration")
    for c in ("key", "value", "default", "unit", "source"):
        t.add_column(c)
    for k, e in dev.config.items():
        t.add_row(k, f"{e.value:g}", f"{e.default:g}", e.unit, e.source)
    Console().print(t)
    return 0


def _cmd_paper(args: argparse.Namespace) -> int:
    from .paper import paper

    paper(Path(args.out), quick=args.quick, progress=not args.no_progress, bert_limit=args.bert_limit,
          bert_sweep_limit=args.sweep_limit)
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(prog="a3sim", description="SystemC/TLM model of the A3 attention accelerator")
    sub = ap.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="the main job: real workloads in three modes, table, traces, plots")
    d.add_argument("--out", default="out", help="output folder (default: out)")
    d.add_argument("--quick", action="store_true", help="a reduced run (for tests)")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(fn=_cmd_demo)

    r = sub.add_parser("run", help="run one workload through the simulated A3")
    r.add_argument("workload", choices=["minilm", "memn2n", "wordnet", "synthetic"])
    r.add_argument("--mode", default="exact", choices=["exact", "approx", "post_only"])
    r.add_argument("--preset", choices=["conservative", "aggressive"])
    r.add_argument("--M", type=int, help="candidate-selection iterations")
    r.add_argument("--T", type=float, help="post-scoring threshold in [0, 1]")
    r.add_argument("--task", type=int, default=2, help="bAbI task for memn2n (1, 2 or 3)")
    r.add_argument("--limit", type=int, help="number of questions / lemmas to run")
    r.add_argument("--config", help="hardware config: a TOML file or key=value;key=value")
    r.add_argument("--trace", help="write Parquet and Perfetto traces to this folder")
    r.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    r.set_defaults(fn=_cmd_run)

    k = sub.add_parser("calibrate", help="sweep M and T on real tasks and choose the presets")
    k.add_argument("--out", help="write the Markdown report here (e.g. docs/calibration.md)")
    k.add_argument("--quick", action="store_true", help="fewer questions per task")
    k.add_argument("--no-progress", action="store_true")
    k.set_defaults(fn=_cmd_calibrate)

    c = sub.add_parser("config", help="print the hardware configuration with sources")
    c.add_argument("--config", help="overrides: a TOML file or key=value;key=value")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=_cmd_config)

    pp = sub.add_parser("paper", help="the paper's three workloads at their sizes, beside its figures")
    pp.add_argument("--out", default="docs/paper-comparison.md", help="Markdown report (plots beside it)")
    pp.add_argument("--quick", action="store_true", help="a small run (under 3 minutes)")
    pp.add_argument("--bert-limit", type=int, help="SQuAD paragraphs for exact and presets (default: all)")
    pp.add_argument("--sweep-limit", type=int, help="SQuAD paragraphs for the M and T sweeps")
    pp.add_argument("--no-progress", action="store_true")
    pp.set_defaults(fn=_cmd_paper)

    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except Exception as exc:  # typed a3sim errors carry messages that say what to fix
        from .errors import A3Error

        if isinstance(exc, A3Error):
            print(f"a3sim: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
