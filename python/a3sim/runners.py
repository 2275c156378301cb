"""The workloads the report runs: each runner takes an attention backend, runs real inputs through
it and returns (metric name, metric, exact-on-host metric, extras). :class:`CpuTimed` times exact
numpy attention on the same arrays, for the speedup over a CPU."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .nn.attention import AttentionBackend, NumpyAttention, softmax_attention

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

    def __init__(self, inner: AttentionBackend, on_call: Callable[[int], None] | None = None) -> None:
        self.inner = inner
        self.cpu_seconds = 0.0
        self.calls = 0
        self.on_call = on_call

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        t0 = time.perf_counter()
        softmax_attention(Q, K, V)
        self.cpu_seconds += time.perf_counter() - t0
        self.calls += 1
        out = self.inner(Q, K, V, layer=layer)
        if self.on_call is not None:
            self.on_call(self.calls)
        return out


# ---- workloads ---------------------------------------------------------------------------------------
_cache: dict[str, Any] = {}


def _minilm():
    if "minilm" not in _cache:
        from .nn.minilm import MiniLM

        _cache["minilm"] = MiniLM()
    return _cache["minilm"]


def run_minilm(
    backend: AttentionBackend,
    sentences: Sequence[str] | None = None,
    limit: int | None = None,
    on_call: Callable[[int], None] | None = None,
) -> tuple[str, float, float, dict]:
    """Embeds the sample text (its first ``limit`` sentences); metric: mean cosine to the host's
    exact embeddings."""
    model = _minilm()
    sents = list(sentences or SAMPLE_TEXT)[:limit]
    key = ("minilm-exact", tuple(sents))
    if key not in _cache:
        _cache[key] = model.encode(sents, attention=NumpyAttention())
    ref = _cache[key]
    timed = CpuTimed(backend, on_call)
    emb = model.encode(sents, attention=timed)
    cos = (emb.astype(np.float64) * ref).sum(axis=1)
    return "cosine", float(cos.mean()), 1.0, {"timed": timed, "min_cosine": float(cos.min()), "sentences": len(sents)}


def run_memn2n(
    backend: AttentionBackend, task: int = 2, limit: int | None = None, on_call: Callable[[int], None] | None = None
) -> tuple[str, float, float, dict]:
    """MemN2N on a bAbI task; metric: test accuracy (exact-on-host accuracy for reference)."""
    from .nn import memn2n

    key = ("memn2n-exact", task, limit)
    if key not in _cache:
        _cache[key] = memn2n.evaluate(task, NumpyAttention(), limit=limit)
    timed = CpuTimed(backend, on_call)
    acc = memn2n.evaluate(task, timed, limit=limit)
    return "accuracy", acc, _cache[key], {"timed": timed, "task": task}


def run_wordnet(
    backend: AttentionBackend, limit: int | None = 120, on_call: Callable[[int], None] | None = None
) -> tuple[str, float, float, dict]:
    """WordNet sense matching on MiniLM embeddings projected to d=64; metric: accuracy."""
    from .tasks import wordnet

    key = ("wordnet-exact", limit)
    if key not in _cache:
        _cache[key] = wordnet.sense_matching(NumpyAttention(), limit=limit, dim=64).metrics["accuracy"]
    timed = CpuTimed(backend, on_call)
    r = wordnet.sense_matching(timed, limit=limit, dim=64)
    return "accuracy", r.metrics["accuracy"], _cache[key], {"timed": timed}


def run_synthetic(
    backend: AttentionBackend,
    n: int = 320,
    d: int = 64,
    m: int = 1024,
    alpha: float = 8.0,
    limit: int | None = None,
    on_call: Callable[[int], None] | None = None,
) -> tuple[str, float, float, dict]:
    """Planted keys; metric: fraction of queries whose output is nearest the planted value.
    ``limit`` caps the number of queries m."""
    from .tasks import synthetic

    if limit is not None:
        m = min(m, limit)
    timed = CpuTimed(backend, on_call)
    r = synthetic.run_planted(timed, n=n, d=d, m=m, alpha=alpha)
    ref = synthetic.run_planted(NumpyAttention(), n=n, d=d, m=m, alpha=alpha)
    return "planted_hits", r.hits, ref.hits, {"timed": timed}


RUNNERS: dict[str, Callable[..., tuple[str, float, float, dict]]] = {
    "minilm": run_minilm,
    "memn2n": run_memn2n,
    "wordnet": run_wordnet,
    "synthetic": run_synthetic,
}
