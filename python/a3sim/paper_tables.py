"""Helpers of the ``a3sim paper`` report: names, metrics, gains and Markdown tables."""

from __future__ import annotations

import math
from typing import Sequence

from .paper import (
    PAPER_ACC,
    Study,
)

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
