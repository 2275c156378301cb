"""Workload runs and reports: real networks through the simulated A3, with the figures the paper
reports (task accuracy, modelled throughput gain over base A3, modelled speedup over a CPU, energy
per query and energy efficiency over base A3 and over the CPU).

Energy against the CPU multiplies the measured numpy time by :data:`a3sim.energy.CPU_POWER_W`, an
assumed power (115 W, the paper's Xeon TDP), not a measurement of this machine.

Everything here is plain functions over the driver and the numpy networks; the CLI (``a3sim``)
only parses arguments and calls them. The workloads themselves are in :mod:`a3sim.runners`, the
trace files and plots in :mod:`a3sim.plots`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import errors as E
from .energy import CPU_POWER_W, Coefficients, cpu_energy_pj
from .nn.attention import A3Attention
from .plots import plot, write_traces
from .presets import DEFAULT_PRESET, REPORT_MODES, mode_label
from .presets import WORKLOADS as PRESET_WORKLOADS
from .runners import RUNNERS, SAMPLE_TEXT, CpuTimed

if TYPE_CHECKING:
    from .driver import A3Driver

__all__ = [
    "MODES",
    "RUNNERS",
    "SAMPLE_TEXT",
    "WORKLOADS",
    "RunResult",
    "demo",
    "plot",
    "print_table",
    "results_table",
    "run",
    "write_traces",
]

WORKLOADS = PRESET_WORKLOADS
#: The main job's (mode, preset) rows.
MODES = REPORT_MODES


@dataclass
class RunResult:
    """One workload run in one mode. Times in simulated ns unless named ``*_s`` (host seconds)."""

    workload: str
    mode: str
    preset: str | dict | None
    metric_name: str
    metric: float
    metric_exact: float | None = None
    loss: float | None = None
    queries: int = 0
    calls: int = 0
    latency_ns: float = 0.0
    compute_ns: float = 0.0
    base_compute_ns: float = 0.0
    gain: float = float("nan")
    bytes_read: int = 0
    bytes_written: int = 0
    mean_candidates: float = float("nan")
    mean_selected: float = float("nan")
    mean_keys: float = float("nan")
    cpu_attention_s: float = 0.0
    speedup_vs_cpu: float = float("nan")
    energy_pj: float = 0.0
    unit_energy_pj: float = 0.0
    energy_per_query_nj: float = float("nan")
    energy_eff_vs_base: float = float("nan")
    unit_energy_eff_vs_base: float = float("nan")
    compute_energy_eff_vs_base: float = float("nan")
    cpu_energy_pj: float = 0.0
    energy_eff_vs_cpu: float = float("nan")
    wall_s: float = 0.0
    jobs: tuple[int, int] = (0, 0)
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summarise(res: RunResult, backend: A3Attention, timed: CpuTimed) -> RunResult:
    t = backend.total()
    res.queries, res.calls = t.queries, t.calls
    res.latency_ns, res.compute_ns, res.base_compute_ns = t.latency_ns, t.compute_ns, t.base_compute_ns
    res.gain = t.gain
    res.bytes_read, res.bytes_written = t.bytes_read, t.bytes_written
    if t.queries:
        res.mean_candidates = t.candidates / t.queries
        res.mean_selected = t.selected / t.queries
        res.mean_keys = t.keys / t.queries
    res.cpu_attention_s = timed.cpu_seconds
    res.speedup_vs_cpu = timed.cpu_seconds / (t.latency_ns * 1e-9) if t.latency_ns else float("nan")
    # Energy (docs/energy-model.md): the device's, base A3's estimate for the same calls, and the
    # CPU's at an assumed power (a3sim.energy.CPU_POWER_W).
    res.energy_pj, res.unit_energy_pj = t.energy_pj, t.unit_energy_pj
    res.energy_per_query_nj = t.energy_pj / t.queries / 1e3 if t.queries else float("nan")
    res.energy_eff_vs_base, res.unit_energy_eff_vs_base = t.energy_gain, t.unit_energy_gain
    res.compute_energy_eff_vs_base = t.compute_energy_gain
    res.cpu_energy_pj = cpu_energy_pj(timed.cpu_seconds)
    res.energy_eff_vs_cpu = res.cpu_energy_pj / t.energy_pj if t.energy_pj else float("nan")
    return res


def run(
    workload: str,
    driver: A3Driver | None = None,
    *,
    mode: str = "exact",
    preset: str | dict | None = None,
    M: int | None = None,
    T: float | None = None,
    layers: dict | None = None,
    on_call: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> RunResult:
    """Run one workload through the simulated A3 in one mode and summarise it. ``on_call(calls)``
    is called after each offload (for a progress display)."""
    if workload not in RUNNERS:
        raise E.ParameterError(f"unknown workload {workload!r}; choose from {', '.join(RUNNERS)}")
    limit = kwargs.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise E.ParameterError(f"limit must be a whole number >= 1, got {limit!r}")
    if mode != "exact" and preset is None and M is None and T is None:
        preset = DEFAULT_PRESET
    backend = A3Attention(driver, mode=mode, preset=preset, M=M, T=T, layers=layers)
    drv = backend.driver
    job0 = drv.trace.job_base + drv.trace.count("job")
    t0 = time.perf_counter()
    name, metric, exact, extra = RUNNERS[workload](backend, on_call=on_call, **kwargs)
    res = RunResult(
        workload=workload,
        mode=mode,
        preset=preset,
        metric_name=name,
        metric=metric,
        metric_exact=exact,
        loss=(exact - metric) if exact is not None else None,
        params={"M": M, "T": T, **{k: v for k, v in kwargs.items()}},
    )
    _summarise(res, backend, extra.pop("timed"))
    res.wall_s = time.perf_counter() - t0
    res.jobs = (job0, drv.trace.job_base + drv.trace.count("job"))
    res.params.update(extra)
    return res


# ---- the main job ------------------------------------------------------------------------------------
def results_table(results: Sequence[RunResult]):
    """A pandas DataFrame of run results (one row per workload and mode)."""
    import pandas as pd

    rows = []
    for r in results:
        rows.append(
            {
                "workload": r.workload,
                "mode": r.mode if r.preset is None else f"{r.mode}/{mode_label('approx', r.preset)}",
                "metric": r.metric_name,
                "value": r.metric,
                "exact_on_host": r.metric_exact,
                "loss": r.loss,
                "queries": r.queries,
                "keys_per_query": r.mean_keys,
                "candidates_per_query": r.mean_candidates,
                "selected_per_query": r.mean_selected,
                "sim_latency_us": r.latency_ns / 1e3,
                "sim_compute_us": r.compute_ns / 1e3,
                "gain_vs_base_A3": r.gain,
                "dma_read_MB": r.bytes_read / 1e6,
                "dma_written_MB": r.bytes_written / 1e6,
                "cpu_numpy_attention_ms": r.cpu_attention_s * 1e3,
                "speedup_vs_cpu": r.speedup_vs_cpu,
                "energy_per_query_nJ": r.energy_per_query_nj,
                "energy_eff_vs_base_A3": r.energy_eff_vs_base,
                "unit_energy_eff_vs_base_A3": r.unit_energy_eff_vs_base,
                "compute_energy_eff_vs_base_A3": r.compute_energy_eff_vs_base,
                "energy_eff_vs_cpu": r.energy_eff_vs_cpu,
                "wall_s": r.wall_s,
            }
        )
    return pd.DataFrame(rows)


def print_table(results: Sequence[RunResult], title: str = "a3sim") -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in (
        "workload",
        "mode",
        "metric",
        "loss",
        "keys/q",
        "C/q",
        "SEL/q",
        "sim time",
        "gain vs base A3",
        "DMA read",
        "DMA written",
        "CPU numpy attn",
        "A3 vs CPU",
        "energy/q",
        "E eff vs base (unit; compute)",
        "E eff vs CPU*",
    ):
        t.add_column(col, justify="right" if col not in ("workload", "mode") else "left")
    for r in results:
        t.add_row(
            r.workload,
            mode_label(r.mode, r.preset),
            f"{r.metric_name} {r.metric:.4f}",
            "" if r.loss is None else f"{r.loss:+.4f}",
            f"{r.mean_keys:.1f}",
            f"{r.mean_candidates:.1f}",
            f"{r.mean_selected:.1f}",
            f"{r.latency_ns / 1e3:,.1f} us",
            f"{r.gain:.2f}x",
            f"{r.bytes_read / 1e6:.2f} MB",
            f"{r.bytes_written / 1e6:.2f} MB",
            f"{r.cpu_attention_s * 1e3:.1f} ms",
            f"{r.speedup_vs_cpu:.1f}x",
            f"{r.energy_per_query_nj:,.1f} nJ",
            f"{r.energy_eff_vs_base:.2f}x ({r.unit_energy_eff_vs_base:.2f}x; {r.compute_energy_eff_vs_base:.2f}x)",
            f"{r.energy_eff_vs_cpu:,.0f}x",
        )
    con = Console(width=max(240, Console().width))
    con.print(t)
    con.print(
        "energy/q: device energy per query (A3 unit, DRAM and bus; docs/energy-model.md). E eff vs base: "
        "base A3's estimated energy for the same calls over this run's, with DRAM and bus (in brackets: "
        "the A3 unit's whole jobs alone; its compute pipeline alone, the scope of the paper's Fig. 15a). "
        f"*CPU: measured numpy time x an ASSUMED {CPU_POWER_W:.0f} W (the paper's "
        "Xeon Gold 6128 TDP), not a measurement of this machine.",
        highlight=False,
        markup=False,
    )


def demo(
    out: Path,
    *,
    quick: bool = False,
    driver: A3Driver | None = None,
    progress: bool = True,
    workloads: Sequence[str] = ("minilm", "memn2n", "wordnet", "synthetic"),
    paper_limit: int | None = 20,
) -> list[RunResult]:
    """The main job: MiniLM on sample text, MemN2N on bAbI qa2, WordNet sense matching and a
    planted-key synthetic workload through the simulated A3 in exact, conservative and aggressive
    modes; table, traces, plots and JSON under ``out``. ``quick`` runs MiniLM and MemN2N only,
    on fewer inputs. Unless ``quick``, ``paper_limit`` also runs the paper's three workloads (:mod:`a3sim.paper`)
    with that many bAbI questions per task (10x as many WikiMovies questions, a quarter as many
    SQuAD paragraphs), exact and with the paper's two presets."""
    from rich.progress import Progress

    from .driver import A3Driver

    drv = driver or A3Driver()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = {
        "minilm": {"sentences": SAMPLE_TEXT[:4]} if quick else {},
        "memn2n": {"task": 2, "limit": 100 if quick else None},
        "wordnet": {"limit": 20 if quick else 120},
        "synthetic": {"m": 128 if quick else 1024},
    }
    results: list[RunResult] = []
    if quick:
        workloads = [w for w in workloads if w in ("minilm", "memn2n")]
    steps = [(w, mode, preset) for w in workloads for mode, preset in MODES]
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("simulating", total=len(steps))
        for w, mode, preset in steps:
            bar.update(task, description=f"{w} {preset or mode}")
            results.append(run(w, drv, mode=mode, preset=preset, **kwargs[w]))
            bar.advance(task)
    print_table(results, title="a3sim: real workloads through the simulated A3")
    print(
        f"A3 unit area: {Coefficients.from_config(drv.device.cfg).area_mm2:.3f} mm2 (paper Table I, 40 nm; "
        "docs/spec.md 3.7)"
    )
    files: list[Path] = []
    if paper_limit and not quick:
        # The paper's three workloads, a few inputs each (the full study is `a3sim paper`).
        from .paper import Profile, run_study, study_as_dict
        from .paper_report import print_summary

        st = run_study(
            Profile(
                "demo",
                memn2n_limit=paper_limit,
                kv_limit=10 * paper_limit,
                bert_limit=max(2, paper_limit // 4),
                bert_sweep_limit=max(2, paper_limit // 4),
            ),
            driver=drv,
            progress=progress,
            presets_only=True,
        )
        print_summary(st, title="the paper's workloads, small inputs (full study: a3sim paper)")
        (out / "paper_workloads.json").write_text(json.dumps(study_as_dict(st), indent=1, default=str))
        files.append(out / "paper_workloads.json")
    files += write_traces(drv, results, out / "traces")
    files += plot(results, drv, out)
    table = results_table(results)
    table.to_csv(out / "results.csv", index=False)
    (out / "results.json").write_text(json.dumps([r.as_dict() for r in results], indent=2, default=str))
    files += [out / "results.csv", out / "results.json"]
    print("wrote:")
    for f in files:
        print(f"  {f}")
    return results
