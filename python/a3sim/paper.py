"""``a3sim paper``: the paper's three workloads at their sizes, set beside its figures.

Workloads (Ham et al., HPCA 2020, Sec. VI):

* **MemN2N** on all 20 bAbI tasks (1k training sets; models in ``workloads/memn2n/babi20``),
  metric: test accuracy averaged over the tasks;
* **KV-MemN2N** on WikiMovies (KB rebuilt from the released questions, about 186 memories per
  question; :mod:`a3sim.tasks.wikimovies`, :mod:`a3sim.nn.kvmemn2n`), metric: hits@1 (and MAP);
* **BERT-style**: all-MiniLM-L6-v2 encoding SQuAD v1.1 dev paragraphs (n up to 256) for paragraph
  retrieval (:mod:`a3sim.tasks.squad`), metric: top-1 (and MRR@10). Every head of every paragraph
  goes through the device; with the approximation the key sorting of each head is counted,
  amortised over its n queries, as the paper does for self-attention.

Each workload runs through the simulated A3 in every configuration of the paper's figures: exact
(base A3), M = n .. n/8 with T = 0 (Fig. 11a), post-scoring only with T = 1 .. 20 % (Fig. 12a),
and the paper's conservative (M = n/2, T = 5 %) and aggressive (M = n/8, T = 10 %) settings
(Fig. 13a, 14a/b). :func:`a3sim.paper_report.write_report` writes ``docs/paper-comparison.md`` and its
plots.
Energy (Fig. 15a) and Table I come from the device's energy model (docs/energy-model.md); the
report (tables, plots, the explanations) is written by :mod:`a3sim.paper_report`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .paper_setup import (  # noqa: F401 - re-exported: the study's figures and configurations
    AGGRESSIVE,
    CONFIGS,
    CONSERVATIVE,
    M_SWEEP,
    PAPER_ACC,
    PAPER_ENERGY,
    PAPER_METRIC,
    PAPER_SIZE,
    PAPER_THROUGHPUT,
    PRESET_KEYS,
    T_SWEEP,
    Config,
    DeviceAttention,
    LayerCounts,
)


# ------------------------------------------------------------------------------------ workloads
class Workload:
    """A paper workload: ``run(backend)`` returns its metrics (the first is the headline one)."""

    key = ""
    title = ""
    metric = ""
    sort_keys = False

    def run(self, backend: Any, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def n_values(self) -> np.ndarray:
        """n (keys per attention) of every attention of one pass."""
        raise NotImplementedError

    def units(self) -> int:
        """Progress units of one pass."""
        return 1


class MemN2NWorkload(Workload):
    """MemN2N on the 20 bAbI tasks (1k), first ``limit`` test questions per task."""

    key, title, metric = "memn2n", "MemN2N on bAbI (20 tasks, 1k)", "accuracy"

    def __init__(self, limit: int | None = None) -> None:
        from a3sim.nn import memn2n as mn

        self.tasks = list(mn.BABI20_TASKS)
        self.models = {t: mn.load_babi20_model(t) for t in self.tasks}
        self.examples = {t: mn.load_babi20(t, "test")[:limit] for t in self.tasks}

    def units(self) -> int:
        return len(self.tasks)

    def n_values(self) -> np.ndarray:
        return np.concatenate(
            [[min(len(e.memories), self.models[t].memory_size) for e in ex] for t, ex in self.examples.items()]
        ).astype(np.int64)

    def run(self, backend: Any, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        per = {}
        for t in self.tasks:
            per[t] = self.models[t].accuracy(self.examples[t], backend)
            if progress:
                progress(1)
        return {
            "accuracy": float(np.mean(list(per.values()))),
            "per_task": per,
            "questions": int(sum(len(e) for e in self.examples.values())),
        }


class KVWorkload(Workload):
    """KV-MemN2N on the rebuilt WikiMovies KB, first ``limit`` test questions."""

    key, title, metric = "kvmemn2n", "KV-MemN2N on WikiMovies (rebuilt KB)", "hits@1"

    def __init__(self, limit: int | None = None, chunks: int = 10) -> None:
        from a3sim.nn import kvmemn2n as kv

        self.kv = kv
        self.model = kv.load()
        self.enc = kv.encode("test", self.model.vocab, limit)
        self.chunks = max(1, min(chunks, self.enc.size))

    def units(self) -> int:
        return self.chunks

    def n_values(self) -> np.ndarray:
        return np.array([len(m) for m in self.enc.mem], dtype=np.int64)

    def run(self, backend: Any, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        scores: list[np.ndarray] = []
        # Chunks of similar memory counts: each n is one backend call per hop, in one chunk.
        order = np.argsort(self.n_values(), kind="stable")
        for rows in np.array_split(order, self.chunks):
            scores += self.model.scores(self.enc, backend, rows)
            if progress:
                progress(1)
        res = self.kv.evaluate_scores(self.enc, scores, order)
        return {"hits@1": res["hits@1"], "map": res["map"], "questions": res["questions"]}


class BertWorkload(Workload):
    """MiniLM paragraph retrieval on SQuAD v1.1 dev, first ``limit`` paragraphs."""

    key, title, metric = "bert", "MiniLM (BERT-style) on SQuAD v1.1 dev", "top1"
    sort_keys = True

    def __init__(self, limit: int | None = None) -> None:
        from a3sim.tasks import squad

        self.squad = squad
        self.data = squad.load(limit)
        self.q_emb = squad.encode_questions(self.data)
        self._n = squad.token_counts(self.data)

    def units(self) -> int:
        return len(self.data.paragraphs)

    def n_values(self) -> np.ndarray:
        return np.repeat(self._n, 72)  # 6 layers x 12 heads per paragraph

    def run(self, backend: Any, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        p_emb = self.squad.encode_paragraphs(self.data, backend, progress=progress)
        return self.squad.retrieval_metrics(self.q_emb, p_emb, self.data.paragraph_of)


# ------------------------------------------------------------------------------------- the study
@dataclass
class Profile:
    """Sizes of one run. ``None`` = everything."""

    name: str
    memn2n_limit: int | None = None  # test questions per task
    kv_limit: int | None = None  # test questions
    bert_limit: int | None = None  # paragraphs for exact / presets
    bert_sweep_limit: int | None = 200  # paragraphs for the M and T sweeps


PROFILES = {
    "full": Profile("full"),
    "quick": Profile("quick", memn2n_limit=25, kv_limit=200, bert_limit=4, bert_sweep_limit=3),
}


@dataclass
class Row:
    workload: str
    config: str
    subset: str
    metrics: dict[str, Any]
    cycles: int
    sort_cycles: int
    query_latency_ns: float
    queries: int
    layers: dict[int, LayerCounts]
    seconds: float
    energy: float | None = None  # compute energy, the paper's scope (pJ; docs/energy-model.md)
    energy_detail: dict[str, float] = field(default_factory=dict)  # whole-job figures and counts


@dataclass
class Study:
    profile: Profile
    rows: list[Row] = field(default_factory=list)
    n_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def get(self, workload: str, config: str, subset: str = "main") -> Row | None:
        for r in self.rows:
            if r.workload == workload and r.config == config and r.subset == subset:
                return r
        return None


def _n_stats(n: np.ndarray) -> dict[str, float]:
    return {
        "count": int(len(n)),
        "mean": float(n.mean()),
        "min": int(n.min()),
        "p5": float(np.percentile(n, 5)),
        "median": float(np.median(n)),
        "p95": float(np.percentile(n, 95)),
        "max": int(n.max()),
    }


def run_study(
    profile: Profile | str = "full",
    *,
    driver: Any = None,
    progress: bool = True,
    workloads: Sequence[str] = ("memn2n", "kvmemn2n", "bert"),
    presets_only: bool = False,
) -> Study:
    """Run every workload in every configuration (BERT's sweeps on ``bert_sweep_limit``
    paragraphs, its exact and preset runs on ``bert_limit``); ``presets_only``: exact,
    conservative and aggressive only."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .driver import A3Driver

    prof = PROFILES[profile] if isinstance(profile, str) else profile
    drv = driver or A3Driver()
    study = Study(prof)
    plan: list[tuple[str, str, Callable[[], Workload], tuple[Config, ...]]] = []
    all_configs = tuple(c for c in CONFIGS if c.key in PRESET_KEYS) if presets_only else CONFIGS
    if "memn2n" in workloads:
        plan.append(("memn2n", "main", lambda: MemN2NWorkload(prof.memn2n_limit), all_configs))
    if "kvmemn2n" in workloads:
        plan.append(("kvmemn2n", "main", lambda: KVWorkload(prof.kv_limit), all_configs))
    if "bert" in workloads:
        presets = tuple(c for c in CONFIGS if c.key in PRESET_KEYS)
        sweeps = tuple(c for c in CONFIGS if c.key not in PRESET_KEYS or c.key == "exact")
        same = prof.bert_sweep_limit == prof.bert_limit or presets_only
        plan.append(("bert", "main", lambda: BertWorkload(prof.bert_limit), all_configs if same else presets))
        if not same:
            plan.append(("bert", "sweep", lambda: BertWorkload(prof.bert_sweep_limit), sweeps))
    cols = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*cols, disable=not progress) as bar:
        overall = bar.add_task("paper study", total=sum(len(c) for *_, c in plan))
        for wkey, subset, make, configs in plan:
            t0 = time.time()
            bar.update(overall, description=f"loading {wkey} ({subset})")
            w = make()
            n = w.n_values()
            study.n_stats[f"{wkey}/{subset}"] = _n_stats(n)
            if wkey == "kvmemn2n":
                study.extra["kv_n"] = n
                study.extra["kv_desc"] = f"d = {w.model.d}, {w.model.hops} hops"
            for cfg in configs:
                sub = bar.add_task(f"  {wkey} {subset} {cfg.key}", total=w.units())
                bar.update(overall, description=f"{wkey} {subset}: {cfg.key}")
                be = DeviceAttention(drv, cfg, sort_keys=w.sort_keys)
                t1 = time.time()
                metrics = w.run(be, lambda k, s=sub: bar.advance(s, k))
                study.rows.append(
                    Row(
                        wkey,
                        cfg.key,
                        subset,
                        metrics,
                        be.cycles,
                        be.sort_cycles,
                        be.query_latency_ns,
                        be.queries,
                        be.layers,
                        time.time() - t1,
                        be.energy,
                        dict(be.detail),
                    )
                )
                bar.remove_task(sub)
                bar.advance(overall)
            study.seconds[f"{wkey}/{subset}"] = time.time() - t0
    return study


# ------------------------------------------------------------------------------------- reporting


def study_as_dict(study: Study) -> dict[str, Any]:
    return {
        "profile": study.profile.__dict__,
        "n_stats": study.n_stats,
        "seconds": study.seconds,
        "rows": [
            {
                "workload": r.workload,
                "config": r.config,
                "subset": r.subset,
                "metrics": r.metrics,
                "cycles": r.cycles,
                "sort_cycles": r.sort_cycles,
                "query_latency_ns": r.query_latency_ns,
                "queries": r.queries,
                "seconds": round(r.seconds, 1),
                "energy_pj": r.energy,
                "energy_detail": r.energy_detail,
            }
            for r in study.rows
        ],
    }


def paper(
    out: Path = Path("docs/paper-comparison.md"),
    *,
    quick: bool = False,
    progress: bool = True,
    bert_limit: int | None = None,
    bert_sweep_limit: int | None = None,
    driver: Any = None,
    command: str | None = None,
) -> Study:
    """The ``a3sim paper`` command: run the study and write the report."""
    from a3sim.tasks import wikimovies as wm

    prof = PROFILES["quick" if quick else "full"]
    if bert_limit is not None or bert_sweep_limit is not None:
        prof = Profile(
            prof.name,
            prof.memn2n_limit,
            prof.kv_limit,
            bert_limit if bert_limit is not None else prof.bert_limit,
            bert_sweep_limit if bert_sweep_limit is not None else prof.bert_sweep_limit,
        )
    import os

    t0 = time.time()
    load0 = os.getloadavg()[0]
    study = run_study(prof, driver=driver, progress=progress)
    study.extra["loadavg"] = (load0, os.getloadavg()[0])
    study.extra["cpus"] = os.cpu_count()
    src: dict[str, int] = {}
    wm.build_memories("test", prof.kv_limit, sources=src)
    total = max(1, sum(src.values()))
    study.extra["kv_sources"] = ", ".join(f"{k} match {v / total * 100:.0f} %" for k, v in src.items())
    study.seconds["total"] = time.time() - t0
    if command is None:
        command = "a3sim paper" + (" --quick" if quick else "")
        command += f" --bert-limit {bert_limit}" if bert_limit is not None else ""
        command += f" --sweep-limit {bert_sweep_limit}" if bert_sweep_limit is not None else ""
    from .paper_report import write_report

    files = write_report(study, Path(out), command=command)
    if progress:
        print(f"paper study: {study.seconds['total'] / 60:.1f} min; wrote " + ", ".join(str(f) for f in files))
    return study
