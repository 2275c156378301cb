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
(Fig. 13a, 14a/b). :func:`write_report` writes ``docs/paper-comparison.md`` and its plots.
Energy (Fig. 15a) and Table I come from :func:`energy_sections`, which stays empty until the
device's records carry energy.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

# ---------------------------------------------------------------------------------- paper values
#: Accuracy of the paper's workloads (Fig. 11a, 12a, 13a), as fractions.
PAPER_ACC: dict[str, dict[str, float]] = {
    "memn2n": {"exact": .826, "M=n": .827, "M=3/4n": .825, "M=1/2n": .815, "M=1/4n": .780, "M=1/8n": .730,
               "T=1%": .826, "T=2.5%": .826, "T=5%": .826, "T=10%": .825, "T=20%": .826,
               "conservative": .816, "aggressive": .730},
    "kvmemn2n": {"exact": .620, "M=n": .621, "M=3/4n": .620, "M=1/2n": .601, "M=1/4n": .567, "M=1/8n": .545,
                 "T=1%": .621, "T=2.5%": .622, "T=5%": .624, "T=10%": .626, "T=20%": .629,
                 "conservative": .604, "aggressive": .545},
    "bert": {"exact": .888, "M=n": .890, "M=3/4n": .884, "M=1/2n": .889, "M=1/4n": .879, "M=1/8n": .824,
             "T=1%": .889, "T=2.5%": .887, "T=5%": .885, "T=10%": .867, "T=20%": .841,
             "conservative": .875, "aggressive": .805},
}
#: Throughput gain over base A3 (Fig. 14a), conservative / aggressive.
PAPER_THROUGHPUT = {"memn2n": (1.39, 2.62), "kvmemn2n": (2.01, 7.03), "bert": (1.85, 5.69)}
#: Energy efficiency over base A3 (Fig. 15a), conservative / aggressive.
PAPER_ENERGY = {"memn2n": (1.4, 2.99), "kvmemn2n": (2.89, 9.86), "bert": (3.74, 11.65)}
#: The paper's workload sizes (Sec. VI-A): mean n and d.
PAPER_SIZE = {"memn2n": "n mean 20, max 50", "kvmemn2n": "n mean 186", "bert": "n = 320"}
PAPER_METRIC = {"memn2n": "accuracy", "kvmemn2n": "accuracy", "bert": "F1 (QA)"}


@dataclass(frozen=True)
class Config:
    """One device setting of the study."""

    key: str
    mode: str
    preset: dict | None = None  # passed to the driver as a custom preset (M_frac, T)

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"mode": self.mode}
        if self.preset is not None:
            kw["preset"] = dict(self.preset)
        return kw


M_SWEEP = (("M=n", 1.0), ("M=3/4n", 0.75), ("M=1/2n", 0.5), ("M=1/4n", 0.25), ("M=1/8n", 0.125))
T_SWEEP = (("T=1%", 0.01), ("T=2.5%", 0.025), ("T=5%", 0.05), ("T=10%", 0.10), ("T=20%", 0.20))
#: The paper's presets (Sec. VI-B), given as explicit custom presets.
CONSERVATIVE = {"M_frac": 0.5, "T": 0.05}
AGGRESSIVE = {"M_frac": 0.125, "T": 0.10}

CONFIGS: tuple[Config, ...] = (
    (Config("exact", "exact"),)
    + tuple(Config(k, "approx", {"M_frac": f, "T": 0.0}) for k, f in M_SWEEP)
    + tuple(Config(k, "post_only", {"M_frac": 1.0, "T": t}) for k, t in T_SWEEP)
    + (Config("conservative", "approx", CONSERVATIVE), Config("aggressive", "approx", AGGRESSIVE))
)
PRESET_KEYS = ("exact", "conservative", "aggressive")


# ------------------------------------------------------------------------------- device backend
@dataclass
class LayerCounts:
    heads: int = 0
    queries: int = 0
    keys: int = 0
    candidates: int = 0
    selected: int = 0


class DeviceAttention:
    """Attention backend that sends every call to the simulated A3 (``A3Driver.attention_batch``)
    and sums what the records say: compute cycles, first-query latency, |C| and |SEL| per layer.

    ``sort_keys``: count the sorting of each head's keys in the approximate mode, amortised over
    the head's queries (self-attention: K is new for every input, so it cannot be sorted ahead).
    The sort is modelled as the device sorter of docs/timing-model.md 6.4 with one lane per column
    (``n * ceil(log2 n)`` cycles per head), which stands in for the paper's GPU sort.
    """

    def __init__(self, driver: Any, config: Config, *, sort_keys: bool = False) -> None:
        self.driver = driver
        self.config = config
        self.sort_keys = sort_keys
        self.cycles = 0
        self.sort_cycles = 0
        self.latency_ns_sum = 0.0
        self.latency_weight = 0
        self.queries = 0
        self.layers: dict[int, LayerCounts] = {}
        self.energy: float | None = None  # filled when the records carry energy (not yet)
        self._kw = config.kwargs()

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        out, rec = self.driver.attention_batch(Q, K, V, sets=False, **self._kw)
        B, m, _ = Q.shape
        n = K.shape[1]
        self.cycles += rec.compute_cycles
        if self.sort_keys and self.config.mode == "approx":
            self.sort_cycles += B * n * max(1, math.ceil(math.log2(n)))
        self.latency_ns_sum += rec.query_latency_ns * B
        self.latency_weight += B
        self.queries += B * m
        lc = self.layers.setdefault(layer, LayerCounts())
        lc.heads += B
        lc.queries += B * m
        lc.keys += B * m * n
        lc.candidates += int(rec.n_candidates.sum())
        lc.selected += int(rec.n_selected.sum())
        energy = getattr(rec, "energy_pj", None)
        if energy is not None:
            self.energy = (self.energy or 0.0) + float(energy)
        return out.astype(Q.dtype, copy=False)

    @property
    def total_cycles(self) -> int:
        return self.cycles + self.sort_cycles

    @property
    def query_latency_ns(self) -> float:
        return self.latency_ns_sum / self.latency_weight if self.latency_weight else float("nan")


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
        return np.concatenate([[min(len(e.memories), self.models[t].memory_size) for e in ex]
                               for t, ex in self.examples.items()]).astype(np.int64)

    def run(self, backend: Any, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        per = {}
        for t in self.tasks:
            per[t] = self.models[t].accuracy(self.examples[t], backend)
            if progress:
                progress(1)
        return {"accuracy": float(np.mean(list(per.values()))), "per_task": per,
                "questions": int(sum(len(e) for e in self.examples.values()))}


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
    energy: float | None = None


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
    return {"count": int(len(n)), "mean": float(n.mean()), "min": int(n.min()), "p5": float(np.percentile(n, 5)),
            "median": float(np.median(n)), "p95": float(np.percentile(n, 95)), "max": int(n.max())}


def run_study(profile: Profile | str = "full", *, driver: Any = None, progress: bool = True,
              workloads: Sequence[str] = ("memn2n", "kvmemn2n", "bert"), presets_only: bool = False) -> Study:
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
    cols = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn())
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
                study.rows.append(Row(wkey, cfg.key, subset, metrics, be.cycles, be.sort_cycles,
                                      be.query_latency_ns, be.queries, be.layers, time.time() - t1, be.energy))
                bar.remove_task(sub)
                bar.advance(overall)
            study.seconds[f"{wkey}/{subset}"] = time.time() - t0
    return study


# ------------------------------------------------------------------------------------- reporting
NAMES = {"memn2n": "MemN2N", "kvmemn2n": "KV-MemN2N", "bert": "BERT (MiniLM)"}


def _metric(study: Study, w: str, cfg: str, subset: str = "main") -> float | None:
    r = study.get(w, cfg, subset)
    if r is None:
        return None
    key = {"memn2n": "accuracy", "kvmemn2n": "hits@1", "bert": "top1"}[w]
    return float(r.metrics[key])


def _sweep_subset(study: Study, w: str) -> str:
    return "sweep" if study.get(w, "M=n", "sweep") is not None else "main"


def _questions(study: Study, w: str, subset: str) -> int:
    r = study.get(w, "exact", subset)
    return int(r.metrics.get("questions", 0)) if r else 0


def _noise(p: float, n: int) -> float:
    """Two standard errors of an accuracy p measured on n questions (binomial)."""
    return 2.0 * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


def gains(study: Study, w: str, cfg: str, subset: str = "main") -> tuple[float, float]:
    """(throughput gain, latency gain) of a config over base A3 (the exact run) on the same inputs.
    Throughput counts compute cycles plus any key sorting; latency is the first query's
    pipeline latency, averaged over the calls' heads."""
    base, r = study.get(w, "exact", subset), study.get(w, cfg, subset)
    if base is None or r is None:
        return float("nan"), float("nan")
    tp = (base.cycles + base.sort_cycles) / max(1, r.cycles + r.sort_cycles)
    lat = base.query_latency_ns / r.query_latency_ns if r.query_latency_ns else float("nan")
    return tp, lat


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _workloads(study: Study) -> list[str]:
    seen: list[str] = []
    for r in study.rows:
        if r.workload not in seen:
            seen.append(r.workload)
    return seen


def _sweep_table(study: Study, keys: Sequence[str]) -> str:
    ws = _workloads(study)
    header = ["setting"] + [f"{NAMES[w]} {s}" for w in ws for s in ("paper", "ours")]
    rows = []
    for k in ("exact",) + tuple(keys):
        row = [k]
        for w in ws:
            sub = _sweep_subset(study, w)
            row += [_f(PAPER_ACC[w].get(k)), _f(_metric(study, w, k, sub))]
        rows.append(row)
    return _table(header, rows)


def plots(study: Study, folder: Path) -> list[Path]:
    """PNG plots of Fig. 11a, 12a, 13a, 14a/b (paper dashed, ours solid) and the KV n histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    ws = _workloads(study)
    files = []
    for fig_name, keys, xs, xlabel in (
            ("fig11a_accuracy_vs_M.png", [k for k, _ in M_SWEEP], [f for _, f in M_SWEEP], "M / n (T = 0)"),
            ("fig12a_accuracy_vs_T.png", [k for k, _ in T_SWEEP], [t * 100 for _, t in T_SWEEP],
             "T (%), C = all rows")):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for i, w in enumerate(ws):
            sub = _sweep_subset(study, w)
            ex_o, ex_p = _metric(study, w, "exact", sub), PAPER_ACC[w]["exact"]
            ours = [(_metric(study, w, k, sub) or float("nan")) / ex_o for k in keys]
            paper = [PAPER_ACC[w][k] / ex_p for k in keys]
            ax.plot(xs, ours, "o-", color=f"C{i}", label=f"{NAMES[w]} ours")
            ax.plot(xs, paper, "s--", color=f"C{i}", alpha=0.6, label=f"{NAMES[w]} paper")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy / exact accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = folder / fig_name
        fig.savefig(p, dpi=110)
        plt.close(fig)
        files.append(p)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    width = 0.38
    x = np.arange(len(ws))
    for ax, (title, idx) in zip(axes, (("accuracy / exact (Fig. 13a)", None), ("throughput gain (Fig. 14a)", 0),
                                        ("latency gain (Fig. 14b)", 1))):
        for j, preset in enumerate(("conservative", "aggressive")):
            if idx is None:
                ours = [(_metric(study, w, preset) or 0) / _metric(study, w, "exact") for w in ws]
                paper = [PAPER_ACC[w][preset] / PAPER_ACC[w]["exact"] for w in ws]
            else:
                ours = [gains(study, w, preset)[idx] for w in ws]
                paper = [PAPER_THROUGHPUT[w][j] if idx == 0 else float("nan") for w in ws]
            ax.bar(x + (j - 0.5) * width, ours, width * 0.9, color=f"C{j}", label=f"{preset} ours")
            if not all(math.isnan(v) for v in paper):
                ax.scatter(x + (j - 0.5) * width, paper, color="k", marker="_", s=300, zorder=3,
                           label="paper" if j == 0 else None)
        ax.set_xticks(x, [NAMES[w] for w in ws], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    p = folder / "fig13a_14_presets.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    files.append(p)
    if "kv_n" in study.extra:
        fig, ax = plt.subplots(figsize=(6.0, 3.4))
        n = study.extra["kv_n"]
        ax.hist(n, bins=40, color="C2")
        ax.axvline(n.mean(), color="k", ls="--", label=f"mean {n.mean():.1f}")
        ax.axvline(186, color="C3", ls=":", label="paper mean 186")
        ax.set_xlabel("memories per question (n)")
        ax.set_ylabel("questions")
        ax.legend()
        fig.tight_layout()
        p = folder / "kv_n_distribution.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        files.append(p)
    return files


def energy_sections(study: Study) -> str:
    """Fig. 15a (energy efficiency over base A3 and over the host CPU) and Table I (area and power
    per module). Both need the energy model: when the device records carry energy
    (``DeviceAttention.energy``, from a ``CallRecord`` energy field) the figures are computed here;
    until then the section says so and shows only the paper's values."""
    ws = _workloads(study)
    lines = ["## Energy (Fig. 15a) and area/power (Table I)", ""]
    have = all(study.get(w, k) is not None and study.get(w, k).energy is not None
               for w in ws for k in PRESET_KEYS)
    if have:
        rows = []
        for w in ws:
            base = study.get(w, "exact").energy
            rows.append([NAMES[w]] + [f"{PAPER_ENERGY[w][j]:.2f} / {base / study.get(w, p).energy:.2f}"
                                       for j, p in enumerate(("conservative", "aggressive"))])
        lines += [_table(["workload", "conservative paper / ours", "aggressive paper / ours"], rows), ""]
    else:
        lines += ["Not modelled yet: the device's call records carry no energy, so this section lists the "
                  "paper's figures only. It is generated by `a3sim.paper.energy_sections` and fills in "
                  "when the records do.", ""]
        lines += [_table(["workload", "paper conservative", "paper aggressive"],
                         [[NAMES[w], f"{PAPER_ENERGY[w][0]:.2f}", f"{PAPER_ENERGY[w][1]:.2f}"] for w in ws]), ""]
    return "\n".join(lines)


def _explain(study: Study) -> list[str]:
    """Measured reasons where ours differs from the paper by more than the noise."""
    out: list[str] = []
    for w in _workloads(study):
        ex = _metric(study, w, "exact")
        nq = _questions(study, w, "main")
        ns = study.n_stats.get(f"{w}/main", {})
        for j, preset in enumerate(("conservative", "aggressive")):
            acc = _metric(study, w, preset)
            if acc is None or ex is None:
                continue
            loss, ploss = ex - acc, PAPER_ACC[w]["exact"] - PAPER_ACC[w][preset]
            noise = _noise(ex, nq)
            r = study.get(w, preset)
            lc = list(r.layers.values())
            keys = sum(c.keys for c in lc)
            cand = sum(c.candidates for c in lc) / keys if keys else float("nan")
            sel = sum(c.selected for c in lc) / keys if keys else float("nan")
            mn_row = study.get(w, "M=n")
            mn_acc = _metric(study, w, "M=n")
            mn_keys = sum(c.keys for c in mn_row.layers.values()) if mn_row else 0
            mn_c = sum(c.candidates for c in mn_row.layers.values()) / mn_keys if mn_keys else float("nan")
            if abs(loss - ploss) > noise:
                worst = min(r.layers.items(), key=lambda kv: kv[1].selected / max(1, kv[1].keys))
                out.append(
                    f"- {NAMES[w]}, {preset}: loss {loss * 100:.1f} points against the paper's {ploss * 100:.1f} "
                    f"(noise +/- {noise * 100:.1f} on {nq} questions). Measured: |C| = {cand * 100:.1f} % and "
                    f"|SEL| = {sel * 100:.1f} % of the keys on average (n mean {ns.get('mean', float('nan')):.1f}); "
                    f"fewest kept in layer/hop {worst[0]} "
                    f"({worst[1].selected / max(1, worst[1].keys) * 100:.1f} % of keys)."
                    + (f" At M = n with T = 0 the loss is already {(ex - mn_acc) * 100:.1f} points with "
                       f"C = {mn_c * 100:.1f} % of the keys: candidate selection itself drops keys that carry "
                       "weight in this model." if mn_acc is not None and ex - mn_acc > noise / 2 else ""))
            tp = gains(study, w, preset)[0]
            ptp = PAPER_THROUGHPUT[w][j]
            if abs(tp - ptp) / ptp > 0.1:
                base = study.get(w, "exact")
                per_q_base = base.cycles / max(1, base.queries)
                per_q = (r.cycles + r.sort_cycles) / max(1, r.queries)
                out.append(
                    f"- {NAMES[w]}, {preset}: throughput gain {tp:.2f} against the paper's {ptp:.2f}. Measured: "
                    f"{per_q_base:.1f} cycles per query in base A3, {per_q:.1f} with the approximation"
                    + (f" (of which {r.sort_cycles / max(1, r.queries):.1f} key sorting)" if r.sort_cycles else "")
                    + f"; n mean {ns.get('mean', float('nan')):.1f} against the paper's {PAPER_SIZE[w]}; "
                    f"{r.queries / max(1, sum(c.heads for c in r.layers.values())):.1f} queries per K/V load"
                    + (" (one query per memory: every job runs the pipeline's full latency, so the fixed "
                       "per-stage cycles weigh as much as the n-dependent ones)"
                       if r.queries <= sum(c.heads for c in r.layers.values()) else "")
                    + ". The gain follows from the cycle formulas of docs/timing-model.md at the measured n, "
                    "|C| and |SEL|.")
    return out


def write_report(study: Study, path: Path, *, command: str = "a3sim paper") -> list[Path]:
    """Write the Markdown comparison and its plots (in ``<path stem>/`` beside it)."""
    path = Path(path)
    figdir = path.parent / path.stem
    files = plots(study, figdir)
    rel = lambda p: f"{figdir.name}/{p.name}"  # noqa: E731
    ws = _workloads(study)
    prof = study.profile
    L: list[str] = []
    L += ["# The paper's evaluation, reproduced", "",
          f"Generated by `{command}` (profile `{prof.name}`); do not edit by hand. Paper: Ham et al., "
          "\"A^3: Accelerating Attention Mechanisms in Neural Networks with Approximation\", HPCA 2020 "
          "(figure numbers are the paper's). Accuracy is a fraction; gains are over base A3 (the exact "
          "pipeline) on the same inputs, from the simulated device's compute cycles "
          "(`CallRecord.compute_cycles`) and first-query latency (`CallRecord.query_latency_ns`).", ""]
    if "total" in study.seconds:
        load = study.extra.get("loadavg")
        L += [f"Run time: {study.seconds['total'] / 60:.1f} minutes"
              + (f" (load average {load[0]:.1f} at the start, {load[1]:.1f} at the end, on "
                 f"{study.extra.get('cpus')} CPUs)" if load else "") + ".", ""]
    # Workloads
    L += ["## Workloads", ""]
    rows = []
    for w in ws:
        for subset in ("main", "sweep"):
            st = study.n_stats.get(f"{w}/{subset}")
            if st is None:
                continue
            ex = study.get(w, "exact", subset)
            extra = ""
            if w == "kvmemn2n":
                extra = f", MAP {ex.metrics['map']:.3f}"
            elif w == "bert":
                extra = f", MRR@10 {ex.metrics['mrr@10']:.3f} ({ex.metrics['paragraphs']} paragraphs)"
            rows.append([NAMES[w] + (" (sweeps)" if subset == "sweep" else ""), PAPER_SIZE[w],
                         f"mean {st['mean']:.1f}, median {st['median']:.0f}, max {st['max']}",
                         str(_questions(study, w, subset)),
                         f"{_metric(study, w, 'exact', subset):.3f}{extra}",
                         f"{PAPER_ACC[w]['exact']:.3f} ({PAPER_METRIC[w]})",
                         f"{study.seconds.get(f'{w}/{subset}', 0) / 60:.1f}"])
    L += [_table(["workload", "paper n", "our n (per attention)", "questions", "ours exact", "paper exact",
                  "minutes"], rows), ""]
    L += ["- MemN2N: one model per task (3 hops, d = 20, position and temporal encoding, linear start, "
          "random noise), trained in numpy by `scripts/train_babi20.py`; weights in `workloads/memn2n/babi20/`.",
          "- KV-MemN2N: the WikiMovies KB is not in the data we have, so it is rebuilt from the per-relation "
          "question files (`a3sim.tasks.wikimovies`); trained on the dev questions by "
          "`scripts/train_kvmemn2n.py` (numpy, " + study.extra.get("kv_desc", "") + "), evaluated on the test "
          "questions. Its memories: entity match, then word match, then random pairs of the rebuilt KB "
          "(`a3sim.tasks.wikimovies`; the answer plays no part in choosing them). The rebuilt KB holds the "
          "facts the questions were made from, and nothing else about the movies, so the exact figure is not "
          "the paper's to match (its KB and training set are larger and noisier); the losses and gains are.",
          "- BERT: the paper runs BERT-base on SQuAD question answering (F1, n = 320); we run all-MiniLM-L6-v2 "
          "(6 layers x 12 heads, d = 32) over the SQuAD v1.1 dev paragraphs (up to 256 tokens) for paragraph "
          "retrieval, so the exact figures are not comparable; the losses and gains are. Questions are encoded "
          "on the host (exact); every head of every paragraph goes through the device, and in the approximate "
          "mode the sorting of each head's keys is counted (`n ceil(log2 n)` cycles per head, amortised over "
          "its n queries).", ""]
    if prof.bert_sweep_limit != prof.bert_limit and "bert" in ws:
        L += [f"BERT's M and T sweeps (Fig. 11a, 12a) run on the first {prof.bert_sweep_limit} paragraphs "
              "(its exact figure on that subset is the sweep's reference); the exact, conservative and "
              f"aggressive runs on {'all' if prof.bert_limit is None else f'the first {prof.bert_limit}'} "
              "paragraphs.", ""]
    # bAbI per task
    r = study.get("memn2n", "exact")
    if r is not None:
        L += ["### MemN2N per bAbI task (exact attention on the device)", ""]
        per = r.metrics["per_task"]
        cons = study.get("memn2n", "conservative").metrics["per_task"]
        aggr = study.get("memn2n", "aggressive").metrics["per_task"]
        L += [_table(["task", "exact", "conservative", "aggressive"],
                     [[f"qa{t}", f"{per[t]:.3f}", f"{cons[t]:.3f}", f"{aggr[t]:.3f}"] for t in per]
                     + [["mean", f"{np.mean(list(per.values())):.3f}", f"{np.mean(list(cons.values())):.3f}",
                         f"{np.mean(list(aggr.values())):.3f}"]]), ""]
    if "kv_n" in study.extra:
        st = study.n_stats["kvmemn2n/main"]
        L += ["### KV-MemN2N memory sizes", "",
              f"n per question: mean {st['mean']:.1f}, 5th percentile {st['p5']:.0f}, median {st['median']:.0f}, "
              f"95th percentile {st['p95']:.0f}, range {st['min']}-{st['max']} ({st['count']} questions); "
              f"sources of the pairs: {study.extra.get('kv_sources', '-')}.", "",
              f"![KV n distribution]({rel(figdir / 'kv_n_distribution.png')})", ""]
    L += ["## Fig. 11a: accuracy against M (T = 0)", "", _sweep_table(study, [k for k, _ in M_SWEEP]), "",
          f"![Fig. 11a]({rel(figdir / 'fig11a_accuracy_vs_M.png')})", ""]
    L += ["## Fig. 12a: accuracy against T (C = all rows, `post_only`)", "",
          _sweep_table(study, [k for k, _ in T_SWEEP]), "",
          f"![Fig. 12a]({rel(figdir / 'fig12a_accuracy_vs_T.png')})", ""]
    rows = []
    for w in ws:
        ex = _metric(study, w, "exact")
        row = [NAMES[w]]
        for p in PRESET_KEYS:
            row += [_f(PAPER_ACC[w][p]), _f(_metric(study, w, p))]
        row += [f"{(PAPER_ACC[w]['exact'] - PAPER_ACC[w]['conservative']) * 100:.1f} / "
                f"{(PAPER_ACC[w]['exact'] - PAPER_ACC[w]['aggressive']) * 100:.1f}",
                f"{(ex - _metric(study, w, 'conservative')) * 100:.1f} / {(ex - _metric(study, w, 'aggressive')) * 100:.1f}"]
        rows.append(row)
    L += ["## Fig. 13a: base, conservative and aggressive", "",
          "Conservative: M = ceil(n/2), T = 5 %; aggressive: M = ceil(n/8), T = 10 % (the paper's settings).", "",
          _table(["workload", "base paper", "base ours", "cons. paper", "cons. ours", "aggr. paper", "aggr. ours",
                  "loss paper (points)", "loss ours (points)"], rows), ""]
    rows = []
    for w in ws:
        c, a = gains(study, w, "conservative"), gains(study, w, "aggressive")
        rows.append([NAMES[w], f"{PAPER_THROUGHPUT[w][0]:.2f}", f"{c[0]:.2f}", f"{PAPER_THROUGHPUT[w][1]:.2f}",
                     f"{a[0]:.2f}", f"{c[1]:.2f}", f"{a[1]:.2f}"])
    L += ["## Fig. 14a/b: throughput and latency gain over base A3", "",
          _table(["workload", "throughput cons. paper", "ours", "throughput aggr. paper", "ours",
                  "latency cons. ours", "latency aggr. ours"], rows), "",
          "The paper's Fig. 14b latency gains are read off a bar chart and not listed in its text; only ours "
          "are given. The gains follow the timing model of the build that ran this study "
          "(docs/timing-model.md) and change with it.", "",
          f"![Fig. 13a and 14]({rel(figdir / 'fig13a_14_presets.png')})", ""]
    rows = []
    for w in ws:
        for preset in ("conservative", "aggressive"):
            r = study.get(w, preset)
            for layer, c in sorted(r.layers.items()):
                keys = max(1, c.keys)
                rows.append([NAMES[w], preset, str(layer), f"{c.keys / max(1, c.queries):.1f}",
                             f"{c.candidates / keys * 100:.1f}", f"{c.selected / keys * 100:.1f}"])
    L += ["### What the approximation kept, per layer (BERT) or hop (memory networks)", "",
          _table(["workload", "setting", "layer/hop", "n (query-weighted mean)", "candidates C (% of keys)",
                  "selected SEL (% of keys)"], rows), ""]
    L += ["## Where ours differs from the paper", ""]
    exp = _explain(study)
    L += exp if exp else ["Nowhere beyond the noise (two binomial standard errors) and 10 % on gains."]
    L += ["", energy_sections(study), "",
          "## Reproduce", "",
          "```sh", "a3sim paper                 # full study, writes docs/paper-comparison.md and docs/paper-comparison/",
          "a3sim paper --quick         # a small run (a test runs it)", "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L))
    (figdir / "results.json").write_text(json.dumps(study_as_dict(study), indent=1, default=str) + "\n")
    return [path, figdir / "results.json", *files]


def print_summary(study: Study, title: str = "the paper's workloads through the simulated A3") -> None:
    """A rich table: per workload, n, exact / conservative / aggressive metric and gains, beside
    the paper's."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in ("workload", "n mean", "questions", "metric", "exact", "cons.", "aggr.", "paper (e/c/a)",
              "gain cons.", "gain aggr.", "paper gain"):
        t.add_column(c)
    for w in _workloads(study):
        st = study.n_stats.get(f"{w}/main", {})
        c, a = gains(study, w, "conservative"), gains(study, w, "aggressive")
        pa = PAPER_ACC[w]
        t.add_row(NAMES[w], f"{st.get('mean', float('nan')):.0f}", str(_questions(study, w, "main")),
                  {"memn2n": "accuracy", "kvmemn2n": "hits@1", "bert": "top-1"}[w],
                  _f(_metric(study, w, "exact")), _f(_metric(study, w, "conservative")),
                  _f(_metric(study, w, "aggressive")),
                  f"{pa['exact']:.3f}/{pa['conservative']:.3f}/{pa['aggressive']:.3f}",
                  f"{c[0]:.2f}x", f"{a[0]:.2f}x", f"{PAPER_THROUGHPUT[w][0]:.2f}x/{PAPER_THROUGHPUT[w][1]:.2f}x")
    Console(width=max(150, Console().width)).print(t)


def study_as_dict(study: Study) -> dict[str, Any]:
    return {"profile": study.profile.__dict__, "n_stats": study.n_stats, "seconds": study.seconds,
            "rows": [{"workload": r.workload, "config": r.config, "subset": r.subset, "metrics": r.metrics,
                      "cycles": r.cycles, "sort_cycles": r.sort_cycles, "query_latency_ns": r.query_latency_ns,
                      "queries": r.queries, "seconds": round(r.seconds, 1)} for r in study.rows]}


def paper(out: Path = Path("docs/paper-comparison.md"), *, quick: bool = False, progress: bool = True,
          bert_limit: int | None = None, bert_sweep_limit: int | None = None, driver: Any = None,
          command: str | None = None) -> Study:
    """The ``a3sim paper`` command: run the study and write the report."""
    from a3sim.tasks import wikimovies as wm

    prof = PROFILES["quick" if quick else "full"]
    if bert_limit is not None or bert_sweep_limit is not None:
        prof = Profile(prof.name, prof.memn2n_limit, prof.kv_limit,
                       bert_limit if bert_limit is not None else prof.bert_limit,
                       bert_sweep_limit if bert_sweep_limit is not None else prof.bert_sweep_limit)
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
    files = write_report(study, Path(out), command=command)
    if progress:
        print(f"paper study: {study.seconds['total'] / 60:.1f} min; wrote " + ", ".join(str(f) for f in files))
    return study
