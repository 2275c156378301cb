"""``a3sim mem``: a workload run on a chosen DRAM preset and unit count, with the memory report,
its plots and the DRAM traces; ``a3sim mem-study``: the sweep of docs/memory-study.md (one fresh
process per platform configuration, since SystemC elaborates once per process).

The CLI only registers these commands (:func:`register`); everything is callable from Python:

    from a3sim.memstudy import mem_run, write_dram_traces
    rep = mem_run("minilm", dram="ddr4-3200", units=4, mode="exact", out="out/mem")
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import analysis as A
from .memory import DRAM_PRESETS, dram_config, dram_spec, dram_stats, reset_dram_stats
from .presets import MODES, PRESET_NAMES, WORKLOADS


def write_dram_traces(trace: Any, folder: str | Path, *, line_bytes: int = 64, clock_mhz: float = 1600.0) -> list[Path]:
    """The DRAM request traces of a run: ``dram.ramulator1.trace``, ``dram.ramulator2.trace`` and
    ``dram.dramsys.stl`` (docs/trace-schema.md section 7) in ``folder``."""
    folder = Path(folder)
    paths = [
        trace.to_ramulator(folder / "dram.ramulator1.trace", line_bytes=line_bytes),
        trace.to_ramulator2(folder / "dram.ramulator2.trace", line_bytes=line_bytes),
    ]
    paths += trace.to_dramsys(folder / "dram.dramsys.stl", clock_mhz=clock_mhz, line_bytes=line_bytes, split=True)
    return paths


def _driver(dram: str, units: int, arbitration: str, extra: dict[str, float] | None = None) -> Any:
    cfg = dram_config(dram, units=units, bus_arbitration=0 if arbitration == "round-robin" else 1, **(extra or {}))
    if units > 1:
        from .multi_unit import MultiUnitDriver

        return MultiUnitDriver(units=units, config=cfg)
    from .driver import A3Driver

    return A3Driver(config=cfg)


def mem_run(
    workload: str,
    *,
    dram: str = "ddr4-3200",
    units: int = 1,
    mode: str = "exact",
    preset: str | None = None,
    arbitration: str = "round-robin",
    out: str | Path | None = None,
    window_ns: float = 1000.0,
    sentences: int | None = None,
    limit: int | None = None,
    config: dict[str, float] | None = None,
    traces: bool = True,
) -> dict[str, Any]:
    """Run ``workload`` (any of ``a3sim run``'s) on a platform with the DRAM preset ``dram`` and
    ``units`` A3 units; return the memory report as a dict (JSON-ready). With ``out``: PNG plots
    (bandwidth over time, latency histogram, row-buffer outcomes), the DRAM traces (unless
    ``traces=False``) and ``report.json`` in that folder."""
    from .report import SAMPLE_TEXT, run

    drv = _driver(dram, units, arbitration, config)
    dev = drv.device
    drv.trace.clear()
    reset_dram_stats(dev)
    kwargs: dict[str, Any] = {}
    if workload == "minilm" and sentences:
        kwargs["sentences"] = SAMPLE_TEXT[:sentences]
    if limit is not None and workload in ("memn2n", "wordnet"):
        kwargs["limit"] = limit
    t0 = time.perf_counter()
    res = run(workload, drv, mode=mode, preset=preset, **kwargs)
    wall = time.perf_counter() - t0
    s = dram_stats(dev)
    spec = dram_spec(dev)
    js = drv.trace.job_summary()
    att = js[js.opcode.astype(str) == "attend"]
    job_ns = (att.t_end_ns - att.t_start_ns).values
    rb = A.row_buffer(drv.trace, by="stream")
    lat = A.latency_percentiles(drv.trace, (50, 95, 99), by="op")
    waits = A.arbitration_waits(drv.trace)
    streams = A.bytes_by_stream(drv.trace)
    busy = drv.trace.transactions()
    report = {
        "workload": workload,
        "dram": dram,
        "units": units,
        "mode": mode if preset is None else f"{mode}/{preset}",
        "arbitration": arbitration,
        "metric": {res.metric_name: res.metric},
        "attention_latency_us": res.latency_ns / 1e3,
        "sim_span_us": float(busy.t_end_ns.max() - busy.t_start_ns.min()) / 1e3 if len(busy) else 0.0,
        "jobs": int(len(att)),
        "job_mean_us": float(job_ns.mean() / 1e3) if len(job_ns) else 0.0,
        "job_p95_us": float(np.percentile(job_ns, 95) / 1e3) if len(job_ns) else 0.0,
        "peak_gbps": s.peak_gbps,
        "achieved_gbps": s.achieved_gbps,
        "utilisation": s.utilisation,
        "row_hit_rate": s.row_hit_rate,
        "dram_latency_ns": {
            "p50": s.latency_p50_ns,
            "p95": s.latency_p95_ns,
            "p99": s.latency_p99_ns,
            "max": s.latency_max_ns,
        },
        "refresh_ns": s.refresh_ns,
        "dram_stats": s.as_dict(),
        "arbitration_wait_ns": float(waits.total_wait_ns.sum()) if len(waits) else 0.0,
        "tables": {
            "row_buffer_by_stream": rb.to_dict("records"),
            "latency_by_op": lat.to_dict("records"),
            "arbitration": waits.to_dict("records"),
            "bytes_by_stream": streams.to_dict("records"),
        },
        "policy": spec.policy,
        "wall_s": wall,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        bw = A.bandwidth(drv.trace, window_ns, by="initiator")
        report["plots"] = [
            str(p)
            for p in (
                A.plot_bandwidth(
                    bw,
                    out / "bandwidth.png",
                    peak_gbps=s.peak_gbps,
                    title=f"{workload} {report['mode']}: {dram}, {units} unit(s)",
                ),
                A.plot_latency(drv.trace, out / "latency.png", by="op"),
                A.plot_row_buffer(rb, out / "row_buffer.png"),
            )
        ]
        line = int(spec["burst_bytes"]) if "burst_bytes" in spec.params else 64
        if traces:
            report["traces"] = [str(p) for p in write_dram_traces(drv.trace, out, line_bytes=line)]
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def print_report(rep: dict[str, Any]) -> None:
    """The memory report on the terminal (rich tables)."""
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(120, Console().width))
    t = Table(title=f"a3sim mem {rep['workload']} {rep['mode']} on {rep['dram']}, {rep['units']} unit(s)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [
        ("attention latency", f"{rep['attention_latency_us']:,.1f} us"),
        ("ATTEND jobs / mean / p95", f"{rep['jobs']} / {rep['job_mean_us']:.2f} / {rep['job_p95_us']:.2f} us"),
        (
            "DRAM achieved / peak",
            f"{rep['achieved_gbps']:.2f} / {rep['peak_gbps']:.2f} GB/s ({100 * rep['utilisation']:.1f} %)",
        ),
        ("row-buffer hit rate", f"{100 * rep['row_hit_rate']:.1f} %"),
        ("DRAM latency p50 / p95 / p99", "{p50:.0f} / {p95:.0f} / {p99:.0f} ns".format(**rep["dram_latency_ns"])),
        ("refresh", f"{rep['refresh_ns'] / 1e3:.1f} us"),
        ("arbitration wait (sum)", f"{rep['arbitration_wait_ns'] / 1e3:.2f} us"),
    ]
    for r in rows:
        t.add_row(*r)
    con.print(t)
    for name, key in (
        ("bytes by stream", "bytes_by_stream"),
        ("row buffer by stream", "row_buffer_by_stream"),
        ("arbitration waits", "arbitration"),
        ("DRAM latency by op", "latency_by_op"),
    ):
        recs = rep["tables"][key]
        if not recs:
            continue
        tt = Table(title=name)
        for c in recs[0]:
            tt.add_column(str(c), justify="right")
        for r in recs:
            tt.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()])
        con.print(tt)
    for p in rep.get("plots", []) + rep.get("traces", []):
        con.print(f"wrote {p}")


def print_spec(dram: str) -> None:
    """Every parameter of a DRAM preset with its unit and source."""
    from rich.console import Console
    from rich.table import Table

    from .device import Device

    dev = Device.open(dram_config(dram))
    t = Table(title=f"DRAM preset {dram}")
    for c in ("parameter", "value", "unit", "source"):
        t.add_column(c)
    for p in dram_spec(dev).params.values():
        t.add_row(p.name, f"{p.value:g}", p.unit, p.source)
    Console(width=max(140, Console().width)).print(t)


# ---- the study (docs/memory-study.md) ---------------------------------------------------------------
STUDY_DRAMS = ("ddr4-3200", "lpddr4-4266", "hbm2-stack")
STUDY_UNITS = (1, 2, 4, 8)
STUDY_MODES = (("exact", None), ("approx", "conservative"))


def study(
    out: str | Path,
    *,
    workload: str = "minilm",
    drams: Sequence[str] = STUDY_DRAMS,
    units: Sequence[int] = STUDY_UNITS,
    modes: Sequence[tuple[str, str | None]] = STUDY_MODES,
    sentences: int | None = 8,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run every (DRAM preset, units, mode) in its own process (``a3sim mem ... --json``); write
    ``study.json``, ``study.csv`` and the plots into ``out``; return the reports."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for dram in drams:
        for n in units:
            for mode, preset in modes:
                cmd = (
                    [
                        sys.executable,
                        "-m",
                        "a3sim.cli",
                        "mem",
                        workload,
                        "--dram",
                        dram,
                        "--units",
                        str(n),
                        "--mode",
                        mode,
                        "--json",
                    ]
                    + (["--preset", preset] if preset else [])
                    + (["--sentences", str(sentences)] if sentences else [])
                )
                if progress:
                    print(" ".join(cmd[2:]), file=sys.stderr, flush=True)
                env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
                p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
                if p.returncode != 0:
                    raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr}")
                rep = json.loads(p.stdout.strip().splitlines()[-1])
                rep.pop("tables", None)
                rep.pop("dram_stats", None)
                reports.append(rep)
    (out / "study.json").write_text(json.dumps(reports, indent=2))
    import pandas as pd

    df = pd.DataFrame(
        [
            {
                "dram": r["dram"],
                "units": r["units"],
                "mode": r["mode"],
                "attention_latency_us": r["attention_latency_us"],
                "job_mean_us": r["job_mean_us"],
                "achieved_gbps": r["achieved_gbps"],
                "peak_gbps": r["peak_gbps"],
                "utilisation": r["utilisation"],
                "row_hit_rate": r["row_hit_rate"],
                "dram_p95_ns": r["dram_latency_ns"]["p95"],
                "arbitration_wait_us": r["arbitration_wait_ns"] / 1e3,
            }
            for r in reports
        ]
    )
    df.to_csv(out / "study.csv", index=False)
    _study_plots(df, out)
    return reports


def _study_plots(df: Any, out: Path) -> None:
    plt = A._pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (dram, mode), g in df.groupby(["dram", "mode"]):
        g = g.sort_values("units")
        axes[0].plot(g.units, g.attention_latency_us, marker="o", label=f"{dram} {mode}")
        axes[1].plot(g.units, g.achieved_gbps / g.peak_gbps * 100, marker="o", label=f"{dram} {mode}")
    axes[0].set_xlabel("A3 units")
    axes[0].set_ylabel("attention latency (us, simulated)")
    axes[1].set_xlabel("A3 units")
    axes[1].set_ylabel("achieved DRAM bandwidth (% of peak)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(df.units.unique()))
        ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "study.png", dpi=110)
    plt.close(fig)


def study_markdown(reports: Sequence[dict[str, Any]]) -> str:
    """The study's table in Markdown."""
    lines = [
        "| DRAM | units | mode | attention latency (us) | mean ATTEND job (us) | achieved GB/s | % of peak | row hits | DRAM p95 (ns) | arbitration wait (us) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r['dram']} | {r['units']} | {r['mode']} | {r['attention_latency_us']:,.1f} | "
            f"{r['job_mean_us']:.2f} | {r['achieved_gbps']:.2f} | {100 * r['utilisation']:.1f} | "
            f"{100 * r['row_hit_rate']:.1f} % | {r['dram_latency_ns']['p95']:.0f} | "
            f"{r['arbitration_wait_ns'] / 1e3:.2f} |"
        )
    return "\n".join(lines)


# ---- CLI registration ----------------------------------------------------------------------------
def _cmd_mem(args: argparse.Namespace) -> int:
    if args.spec:
        print_spec(args.dram)
        return 0
    if args.workload is None:
        raise SystemExit("a3sim mem: a workload is required (or --spec)")
    rep = mem_run(
        args.workload,
        dram=args.dram,
        units=args.units,
        mode=args.mode,
        preset=args.preset,
        arbitration=args.arbitration,
        out=args.out,
        window_ns=args.window_ns,
        sentences=args.sentences,
        limit=args.limit,
        traces=not args.no_traces,
    )
    if args.json:
        print(json.dumps(rep, default=str))
    else:
        print_report(rep)
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    reps = study(
        args.out,
        sentences=args.sentences,
        units=[int(u) for u in args.units.split(",")],
        drams=args.drams.split(","),
        progress=not args.no_progress,
    )
    print(study_markdown(reps))
    return 0


def register(sub: Any) -> None:
    """Add ``mem`` and ``mem-study`` to the ``a3sim`` subcommands."""
    m = sub.add_parser("mem", help="a workload on a DRAM preset and unit count: memory report, plots, DRAM traces")
    m.add_argument("workload", nargs="?", choices=WORKLOADS)
    m.add_argument("--dram", default="ddr4-3200", choices=["simple", *DRAM_PRESETS])
    m.add_argument("--units", type=int, default=1)
    m.add_argument("--mode", default="exact", choices=MODES)
    m.add_argument("--preset", choices=PRESET_NAMES)
    m.add_argument("--arbitration", default="round-robin", choices=["round-robin", "priority"])
    m.add_argument("--sentences", type=int, help="minilm: number of sample sentences")
    m.add_argument("--limit", type=int, help="memn2n / wordnet: number of questions / lemmas")
    m.add_argument("--window-ns", type=float, default=1000.0, help="bandwidth window of the plot")
    m.add_argument("--out", help="write plots, DRAM traces and report.json to this folder")
    m.add_argument("--json", action="store_true", help="print the report as one JSON object")
    m.add_argument("--no-traces", action="store_true", help="with --out: plots and report only")
    m.add_argument("--spec", action="store_true", help="print the DRAM preset's parameters and sources")
    m.set_defaults(fn=_cmd_mem)
    s = sub.add_parser("mem-study", help="the memory study of docs/memory-study.md (one process per configuration)")
    s.add_argument("--out", default="out/memory-study")
    s.add_argument("--drams", default=",".join(STUDY_DRAMS))
    s.add_argument("--units", default=",".join(map(str, STUDY_UNITS)))
    s.add_argument("--sentences", type=int, default=8)
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(fn=_cmd_study)


__all__ = ["mem_run", "write_dram_traces", "print_report", "print_spec", "study", "study_markdown", "register"]
