"""Workload runs and reports: real networks through the simulated A3, with the figures the paper
reports (task accuracy, modelled throughput gain over base A3, modelled speedup over a CPU).

Everything here is plain functions over the driver and the numpy networks; the CLI (``a3sim``)
only parses arguments and calls them.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .nn.attention import A3Attention, AttentionBackend, NumpyAttention, softmax_attention

WORKLOADS = ("minilm", "memn2n", "wordnet", "synthetic")
MODES = (("exact", None), ("approx", "conservative"), ("approx", "aggressive"))

#: Sample text for MiniLM: sentences of several lengths, one of them long.
SAMPLE_TEXT = [
    "The accelerator approximates attention by looking only at the keys that matter.",
    "Mary moved to the bathroom.",
    "John went to the hallway and picked up the football there.",
    "A memory network answers questions about a story by attending over its sentences.",
    "Transformers compute a softmax over every key for every query, which is quadratic in length.",
    "The cat sat on the mat.",
    "Where is the apple? It is in the kitchen, on the table next to the window.",
    "Sorting each column of the key matrix once lets the hardware find large products greedily.",
    "Energy efficiency matters as much as raw throughput for inference in data centres.",
    "She sells sea shells by the sea shore.",
    "In 2020 the paper was presented at the International Symposium on High-Performance Computer "
    "Architecture, where it described a test chip built in a 40 nm process with a pipelined datapath "
    "that handles candidate selection, dot products, exponentiation and the weighted sum of values.",
    "Short one.",
    "Bank conflicts and DRAM bandwidth limit how fast keys and values can reach the datapath.",
    "Daniel journeyed to the office; Sandra travelled to the garden.",
    "The quick brown fox jumps over the lazy dog.",
    "Attention weights that are nearly zero contribute almost nothing to the output.",
]


class CpuTimed:
    """Wraps a backend; for every call also times exact numpy attention on the same arrays, so that
    the modelled A3 time can be set against this CPU's time for the same work."""

    def __init__(self, inner: AttentionBackend) -> None:
        self.inner = inner
        self.cpu_seconds = 0.0
        self.calls = 0

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        t0 = time.perf_counter()
        softmax_attention(Q, K, V)
        self.cpu_seconds += time.perf_counter() - t0
        self.calls += 1
        return self.inner(Q, K, V, layer=layer)


@dataclass
class RunResult:
    """One workload run in one mode. Times in simulated ns unless named ``*_s`` (host seconds)."""

    workload: str
    mode: str
    preset: str | None
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
    return res


# ---- workloads ---------------------------------------------------------------------------------------
_cache: dict[str, Any] = {}


def _minilm():
    if "minilm" not in _cache:
        from .nn.minilm import MiniLM

        _cache["minilm"] = MiniLM()
    return _cache["minilm"]


def run_minilm(backend: A3Attention, sentences: Sequence[str] | None = None) -> tuple[str, float, float, dict]:
    """Embeds the sample text; metric: mean cosine to the host's exact embeddings."""
    model = _minilm()
    sents = list(sentences or SAMPLE_TEXT)
    key = ("minilm-exact", tuple(sents))
    if key not in _cache:
        _cache[key] = model.encode(sents, attention=NumpyAttention())
    ref = _cache[key]
    timed = CpuTimed(backend)
    emb = model.encode(sents, attention=timed)
    cos = (emb.astype(np.float64) * ref).sum(axis=1)
    return "cosine", float(cos.mean()), 1.0, {"timed": timed, "min_cosine": float(cos.min()), "sentences": len(sents)}


def run_memn2n(backend: A3Attention, task: int = 2, limit: int | None = None) -> tuple[str, float, float, dict]:
    """MemN2N on a bAbI task; metric: test accuracy (exact-on-host accuracy for reference)."""
    from .nn import memn2n

    key = ("memn2n-exact", task, limit)
    if key not in _cache:
        _cache[key] = memn2n.evaluate(task, NumpyAttention(), limit=limit)
    timed = CpuTimed(backend)
    acc = memn2n.evaluate(task, timed, limit=limit)
    return "accuracy", acc, _cache[key], {"timed": timed, "task": task}


def run_wordnet(backend: A3Attention, limit: int | None = 120) -> tuple[str, float, float, dict]:
    """WordNet sense matching on MiniLM embeddings projected to d=64; metric: accuracy."""
    from .tasks import wordnet

    key = ("wordnet-exact", limit)
    if key not in _cache:
        _cache[key] = wordnet.sense_matching(NumpyAttention(), limit=limit, dim=64).metrics["accuracy"]
    timed = CpuTimed(backend)
    r = wordnet.sense_matching(timed, limit=limit, dim=64)
    return "accuracy", r.metrics["accuracy"], _cache[key], {"timed": timed}


def run_synthetic(backend: A3Attention, n: int = 320, d: int = 64, m: int = 1024, alpha: float = 8.0
                  ) -> tuple[str, float, float, dict]:
    """Planted keys; metric: fraction of queries whose output is nearest the planted value."""
    from .tasks import synthetic

    timed = CpuTimed(backend)
    r = synthetic.run_planted(timed, n=n, d=d, m=m, alpha=alpha)
    ref = synthetic.run_planted(NumpyAttention(), n=n, d=d, m=m, alpha=alpha)
    return "planted_hits", r.hits, ref.hits, {"timed": timed}


RUNNERS: dict[str, Callable[..., tuple[str, float, float, dict]]] = {
    "minilm": run_minilm, "memn2n": run_memn2n, "wordnet": run_wordnet, "synthetic": run_synthetic,
}


def run(workload: str, driver: Any = None, *, mode: str = "exact", preset: str | None = None,
        M: int | None = None, T: float | None = None, layers: dict | None = None, **kwargs: Any) -> RunResult:
    """Run one workload through the simulated A3 in one mode and summarise it."""
    if workload not in RUNNERS:
        raise ValueError(f"unknown workload {workload!r}; choose from {', '.join(RUNNERS)}")
    if mode != "exact" and preset is None and M is None and T is None:
        preset = "conservative"
    backend = A3Attention(driver, mode=mode, preset=preset, M=M, T=T, layers=layers)
    drv = backend.driver
    job0 = drv.trace.job_base + drv.trace.count("job")
    t0 = time.perf_counter()
    name, metric, exact, extra = RUNNERS[workload](backend, **kwargs)
    res = RunResult(workload=workload, mode=mode, preset=preset, metric_name=name, metric=metric,
                    metric_exact=exact, loss=(exact - metric) if exact is not None else None,
                    params={"M": M, "T": T, **{k: v for k, v in kwargs.items()}})
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
        rows.append({
            "workload": r.workload, "mode": r.mode if r.preset is None else f"{r.mode}/{r.preset}",
            "metric": r.metric_name, "value": r.metric, "exact_on_host": r.metric_exact, "loss": r.loss,
            "queries": r.queries, "keys_per_query": r.mean_keys, "candidates_per_query": r.mean_candidates,
            "selected_per_query": r.mean_selected, "sim_latency_us": r.latency_ns / 1e3,
            "sim_compute_us": r.compute_ns / 1e3, "gain_vs_base_A3": r.gain,
            "dma_read_MB": r.bytes_read / 1e6, "dma_written_MB": r.bytes_written / 1e6,
            "cpu_numpy_attention_ms": r.cpu_attention_s * 1e3, "speedup_vs_cpu": r.speedup_vs_cpu,
            "wall_s": r.wall_s,
        })
    return pd.DataFrame(rows)


def print_table(results: Sequence[RunResult], title: str = "a3sim") -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in ("workload", "mode", "metric", "loss", "keys/q", "C/q", "SEL/q", "sim time", "gain vs base A3",
                "DMA read", "DMA written", "CPU numpy attn", "A3 vs CPU"):
        t.add_column(col, justify="right" if col not in ("workload", "mode") else "left")
    for r in results:
        t.add_row(
            r.workload, r.preset or r.mode,
            f"{r.metric_name} {r.metric:.4f}", "" if r.loss is None else f"{r.loss:+.4f}",
            f"{r.mean_keys:.1f}", f"{r.mean_candidates:.1f}", f"{r.mean_selected:.1f}",
            f"{r.latency_ns / 1e3:,.1f} us", f"{r.gain:.2f}x", f"{r.bytes_read / 1e6:.2f} MB",
            f"{r.bytes_written / 1e6:.2f} MB", f"{r.cpu_attention_s * 1e3:.1f} ms", f"{r.speedup_vs_cpu:.1f}x",
        )
    Console(width=max(170, Console().width)).print(t)


def write_traces(driver: Any, results: Sequence[RunResult], folder: Path, max_transactions: int = 50_000) -> list[Path]:
    """Parquet tables of all runs, and one Perfetto JSON per run (its jobs only)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = list(driver.trace.to_parquet(folder).values())
    paths.append(driver.trace.to_perfetto(folder / "trace.perfetto.json", max_transactions=max_transactions))
    return paths


def plot(results: Sequence[RunResult], driver: Any, folder: Path) -> list[Path]:
    """PNG plots: latency breakdown per run (phases) and task loss against throughput gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    jobs = driver.trace.jobs()
    labels, stacks = [], []
    # Busy phases of the unit (the queue phase is waiting, not work, and is left out).
    shown = ("fetch", "dma_in", "sort", "candidate_selection", "dot_product", "exp_output", "dma_out",
             "completion", "irq")
    for r in results:
        sel = jobs[(jobs.job >= r.jobs[0]) & (jobs.job < r.jobs[1])]
        by = sel.groupby("phase", observed=False).duration_ns.sum()
        vals = np.array([by.get(p, 0.0) for p in shown])
        stacks.append(100.0 * vals / vals.sum() if vals.sum() > 0 else vals)
        labels.append(f"{r.workload}\n{r.preset or r.mode}")
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 4.8))
    bottom = np.zeros(len(labels))
    for i, p in enumerate(shown):
        vals = np.array([s[i] for s in stacks])
        if vals.sum() > 0:
            ax.bar(labels, vals, bottom=bottom, label=p)
            bottom += vals
    ax.set_ylabel("share of the unit's busy time (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Where the simulated A3 spends its time, per workload and mode\n"
                 "(phase durations summed over jobs; pipelined compute stages overlap)")
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
            ax.annotate(r.preset or r.mode, (r.gain, 100 * (r.loss or 0.0)), fontsize=7)
    ax.axhline(1.6, ls=":", c="gray")
    ax.axhline(9.0, ls=":", c="gray")
    ax.set_xlabel("modelled throughput gain over base A3 (x)")
    ax.set_ylabel("task loss vs exact on the host (points; MiniLM: 100 x (1 - cosine))")
    ax.set_title("Accuracy against speed")
    ax.legend()
    fig.tight_layout()
    p2 = folder / "accuracy_vs_gain.png"
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    return [p1, p2]


def demo(out: Path, *, quick: bool = False, driver: Any = None, progress: bool = True,
         workloads: Sequence[str] = ("minilm", "memn2n", "wordnet", "synthetic"),
         paper_limit: int | None = 20) -> list[RunResult]:
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
    kwargs = {"minilm": {"sentences": SAMPLE_TEXT[:4]} if quick else {},
              "memn2n": {"task": 2, "limit": 100 if quick else None},
              "wordnet": {"limit": 20 if quick else 120},
              "synthetic": {"m": 128 if quick else 1024}}
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
    files: list[Path] = []
    if paper_limit and not quick:
        # The paper's three workloads, a few inputs each (the full study is `a3sim paper`).
        from .paper import Profile, print_summary, run_study, study_as_dict

        st = run_study(Profile("demo", memn2n_limit=paper_limit, kv_limit=10 * paper_limit,
                               bert_limit=max(2, paper_limit // 4), bert_sweep_limit=max(2, paper_limit // 4)),
                       driver=drv, progress=progress, presets_only=True)
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
