"""Task-level attention workloads on real labelled text from WordNet 3.0.

The data is the committed subset ``workloads/wordnet/subset.jsonl`` (see
``scripts/extract_wordnet.py`` and ``workloads/wordnet/README.md``). Texts are embedded with a
sentence encoder (by default the numpy all-MiniLM-L6-v2 of :mod:`a3sim.nn.minilm`, run with *exact*
host attention); only the task's own attention goes through the backend under test:

* :func:`sense_matching`: an example sentence of one sense of a lemma attends over the definitions
  of all senses of that lemma; the attention output's argmax is the predicted sense.
* :func:`definition_retrieval`: an example sentence attends over the definitions of N synsets
  (N = 300 by default) and must find its own synset's definition.
* :func:`large_n_retrieval`: the same with thousands of keys (stands in for KV-MemN2N), optionally
  projected to 64 dimensions; also reports recall of the exact top-k.

How the attention is posed (``docs/spec.md`` 1; :class:`a3sim.nn.attention.AttentionBackend`):

* ``Q = beta * e_query``, ``K = e_key`` with unit-norm embeddings, so scores are ``beta`` times
  cosines. ``beta`` (default :data:`DEFAULT_BETA` = 20) is the softmax temperature folded into Q;
  it does not change the exact argmax, but it sets how peaked the softmax is and therefore what an
  approximation may skip.
* ``V`` is one-hot labels (row i of V is the unit vector of key i), so the output row is the
  attention weight vector itself and ``argmax`` is the prediction. Every call has V as wide as Q
  and K (``value_width`` = d by default; the A3 device returns d values per query): labels beyond
  the value width are read out with further calls that reuse Q and K with the next block of the
  identity. Unused value columns are zero; keys and queries are never padded.
* With ``dim`` set (e.g. 64), query and key embeddings are multiplied by a fixed, seeded random
  matrix with orthonormal columns (384 x dim) and re-normalised to unit length.

Exact-attention figures (:class:`~a3sim.nn.attention.NumpyAttention`, MiniLM embeddings, beta 20;
"mass" is the mean largest attention weight):

* ``sense_matching()``, 300 lemmas: accuracy 0.456 (chance 0.239); 1886 queries, 92 calls.
* ``definition_retrieval()``, N = 300, d = 384: top1 0.363, top5 0.570, mass 0.40; 300 queries,
  1 call. With ``dim=64``: top1 0.233, top5 0.397; 5 calls.
* ``large_n_retrieval()``, N = 5000, 1000 queries, d = 64: top1 0.086, top5 0.166, mass 0.18;
  79 calls. All 5000 queries (``limit=None``): top1 0.091, top5 0.179; 395 calls.
  ``limit=None, dim=None`` (d = 384): top1 0.152, top5 0.300, mass 0.21; 70 calls.

Wall time with a cold embedding cache is MiniLM's, about 2.7 ms per text with
``OPENBLAS_NUM_THREADS=1`` (2 cores; several times more with a BLAS pool per core on a busy
machine): sense matching 8.8 s, definition retrieval 1.9 s, large-n (1000 queries) 18 s. With a warm
cache: 0.05 s, 0.06 s and 1.8 s (all 5000 queries: 9.5 s at d = 64, 6 s at d = 384), nearly all of it
in the attention calls.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from a3sim.nn.attention import AttentionBackend, NumpyAttention
from a3sim.tasks.wordnet_data import (
    MINILM_ID,
    Encoder,
    Synset,
    _prepare,
    cache_dir,
    embed,
    load_subset,
    projection,
    retrieval_store,
    sense_lemmas,
    subset_path,
)

__all__ = [
    "DEFAULT_BETA",
    "MINILM_ID",
    "Synset",
    "TaskResult",
    "cache_dir",
    "definition_retrieval",
    "embed",
    "large_n_retrieval",
    "load_subset",
    "projection",
    "retrieval_store",
    "sense_lemmas",
    "sense_matching",
    "subset_path",
]

#: Default softmax temperature folded into the queries (scores are beta * cosine).
DEFAULT_BETA = 20.0


# --------------------------------------------------------------------------------------------
# results and the attention read-out
# --------------------------------------------------------------------------------------------
@dataclass
class TaskResult:
    """Outcome of one task run.

    ``metrics`` maps metric names to values; ``count`` is the number of queries scored; ``calls``
    the number of backend calls; ``shapes`` one ``(B, m, n, d)`` tuple per call; ``seconds`` the
    wall time of the whole run (embedding included), ``attention_seconds`` the time inside the
    backend; ``params`` the settings used.
    """

    task: str
    metrics: dict[str, float]
    count: int
    calls: int
    shapes: list[tuple[int, int, int, int]] = field(default_factory=list)
    seconds: float = 0.0
    attention_seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        m = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items())
        return (
            f"{self.task}: {m} (count={self.count}, calls={self.calls}, "
            f"{self.seconds:.2f} s, attention {self.attention_seconds:.2f} s)"
        )


class _Runner:
    """Calls the backend, reads out one-hot-labelled attention weights, and keeps the log."""

    def result(
        self, task: str, metrics: dict[str, float], count: int, t_start: float, params: dict[str, Any]
    ) -> TaskResult:
        """The task's :class:`TaskResult`, with this runner's calls, shapes and time."""
        return TaskResult(task=task, metrics=metrics, count=count, calls=self.calls, shapes=self.shapes,
                          seconds=time.perf_counter() - t_start, attention_seconds=self.seconds,
                          params=params)  # fmt: skip

    def __init__(self, attention: AttentionBackend | None, value_width: int | None):
        self.backend: AttentionBackend = NumpyAttention() if attention is None else attention
        self.value_width = value_width
        self.calls = 0
        self.shapes: list[tuple[int, int, int, int]] = []
        self.seconds = 0.0

    def weights(self, Q: np.ndarray, K: np.ndarray) -> np.ndarray:
        """Attention weights ``(B, m, n)`` read through the backend with one-hot values.

        V has ``value_width`` columns (default: d); ``ceil(n / value_width)`` calls are made, call j
        carrying the identity columns ``j*w .. (j+1)*w - 1`` (zero columns past n).
        """
        B, m, d = Q.shape
        n = K.shape[1]
        w = d if self.value_width is None else int(self.value_width)
        out = np.empty((B, m, n), dtype=np.float32)
        for start in range(0, n, w):
            cols = min(w, n - start)
            V = np.zeros((B, n, w), dtype=np.float32)
            V[:, np.arange(start, start + cols), np.arange(cols)] = 1.0
            t0 = time.perf_counter()
            O = np.asarray(self.backend(Q, K, V, layer=0))
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            self.shapes.append((B, m, n, d))
            if O.shape != (B, m, w):
                raise ValueError(f"backend returned {O.shape}, expected {(B, m, w)}")
            out[:, :, start : start + cols] = O[:, :, :cols]
        return out


# --------------------------------------------------------------------------------------------
# tasks
# --------------------------------------------------------------------------------------------
def sense_matching(
    attention: AttentionBackend | None = None,
    *,
    limit: int | None = None,
    beta: float = DEFAULT_BETA,
    encoder: Encoder | None = None,
    dim: int | None = None,
    seed: int = 0,
    value_width: int | None = None,
    per_example: bool = False,
) -> TaskResult:
    """Word-sense matching: predict which of its lemma's senses an example sentence illustrates.

    For each sense-matching lemma (alphabetical; the first ``limit`` if given) the queries are the
    example sentences of all its senses and the keys the definitions of all its senses (senses
    without examples included as distractors). Lemmas with the same (sense count, example count)
    share one backend call ``Q (B, m, d)``, ``K (B, n_senses, d)``, so nothing is padded; with
    ``per_example=True`` every example is its own batch entry (m = 1) and lemmas are grouped by
    sense count only (fewer, larger calls; K is repeated per example).

    Metrics: ``accuracy`` (argmax of the output = the true sense) and ``chance`` (mean 1 / senses).
    ``beta`` scales the queries; ``dim`` projects to fewer dimensions (see module docstring).
    """
    t_start = time.perf_counter()
    groups = sense_lemmas()
    names = list(groups)[:limit] if limit is not None else list(groups)
    # texts, deduplicated definitions (a synset can be a sense of two chosen lemmas)
    def_ids: dict[str, int] = {}
    def_texts: list[str] = []
    ex_texts: list[str] = []
    items = []  # (key rows, query rows, true sense per query)
    for name in names:
        keys = []
        for s in groups[name]:
            if s.id not in def_ids:
                def_ids[s.id] = len(def_texts)
                def_texts.append(s.definition)
            keys.append(def_ids[s.id])
        qrows, truth = [], []
        for j, s in enumerate(groups[name]):
            for e in s.examples:
                qrows.append(len(ex_texts))
                ex_texts.append(e)
                truth.append(j)
        items.append((keys, qrows, truth))
    E_def = _prepare(embed(def_texts, encoder), dim, seed)
    E_ex = _prepare(embed(ex_texts, encoder), dim, seed)

    runner = _Runner(attention, value_width)
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, (keys, qrows, _) in enumerate(items):
        buckets[(len(keys), 1 if per_example else len(qrows))].append(i)
    correct = 0
    total = 0
    chance = 0.0
    for (n_keys, _m), idx in sorted(buckets.items()):
        if per_example:
            entries = [(items[i][0], [q], [t]) for i in idx for q, t in zip(items[i][1], items[i][2])]
        else:
            entries = [items[i] for i in idx]
        Q = np.stack([beta * E_ex[q] for _, q, _ in entries]).astype(np.float32)
        K = np.stack([E_def[k] for k, _, _ in entries])
        W = runner.weights(Q, K)
        truth = np.array([t for _, _, t in entries])
        correct += int((W.argmax(axis=-1) == truth).sum())
        total += truth.size
        chance += truth.size / n_keys
    params = {"lemmas": len(names), "beta": beta, "dim": dim or E_def.shape[1], "per_example": per_example,
              "value_width": value_width}  # fmt: skip
    return runner.result("sense_matching", {"accuracy": correct / total, "chance": chance / total}, total,
                         t_start, params)  # fmt: skip


def _retrieval(
    task: str,
    attention: AttentionBackend | None,
    *,
    n: int,
    queries: int | None,
    all_examples: bool,
    beta: float,
    encoder: Encoder | None,
    dim: int | None,
    seed: int,
    value_width: int | None,
    query_batch: int | None,
    topk: Sequence[int],
    recall_k: Sequence[int],
) -> TaskResult:
    t_start = time.perf_counter()
    store = retrieval_store(n)
    q_syn = store if queries is None else store[:queries]
    ex_texts: list[str] = []
    truth: list[int] = []
    for i, s in enumerate(q_syn):
        for e in s.examples if all_examples else s.examples[:1]:
            ex_texts.append(e)
            truth.append(i)
    E_def = _prepare(embed([s.definition for s in store], encoder), dim, seed)
    E_ex = _prepare(embed(ex_texts, encoder), dim, seed)
    y = np.asarray(truth)

    runner = _Runner(attention, value_width)
    m = len(ex_texts)
    step = m if not query_batch else int(query_batch)
    ks = sorted(set(topk) | set(recall_k))
    hits = {k: 0 for k in topk}
    recall = {k: 0.0 for k in recall_k}
    mass = 0.0
    for a in range(0, m, step):
        Qb = (beta * E_ex[a : a + step]).astype(np.float32)
        W = runner.weights(Qb[None], E_def[None])[0]
        kmax = min(max(ks), n)
        # order by weight, ties broken by lower key index (stable sort on -W)
        top = np.argsort(-W, axis=1, kind="stable")[:, :kmax]
        # a key the backend gave no weight (an approximation dropped it) is not retrieved
        top = np.where(np.take_along_axis(W, top, axis=1) > 0, top, -1)
        for k in topk:
            hits[k] += int((top[:, :k] == y[a : a + step, None]).any(axis=1).sum())
        if recall_k:
            S = Qb @ E_def.T  # exact scores of the same inputs, on the host
            exact = np.argsort(-S, axis=1, kind="stable")[:, :kmax]
            for k in recall_k:
                kk = min(k, n)
                inter = [len(set(e[:kk]) & set(t[:kk]) - {-1}) for e, t in zip(exact, top)]
                recall[k] += float(np.sum(inter)) / kk
        mass += float(W.max(axis=1).sum())
    metrics = {f"top{k}": hits[k] / m for k in topk}
    metrics.update({f"recall@{k}": recall[k] / m for k in recall_k})
    metrics["top_mass"] = mass / m
    params = {"n": n, "queries": m, "all_examples": all_examples, "beta": beta, "dim": dim or E_def.shape[1],
              "value_width": value_width, "query_batch": query_batch}  # fmt: skip
    return runner.result(task, metrics, m, t_start, params)


def definition_retrieval(
    attention: AttentionBackend | None = None,
    *,
    n: int = 300,
    limit: int | None = None,
    all_examples: bool = False,
    beta: float = DEFAULT_BETA,
    encoder: Encoder | None = None,
    dim: int | None = None,
    seed: int = 0,
    value_width: int | None = None,
) -> TaskResult:
    """Definition retrieval among ``n`` synsets (default 300) in one backend call (if d >= n).

    Keys are the definitions of the first ``n`` synsets of the retrieval store; queries are the
    first example sentence of each of them (the first ``limit`` synsets only, if given; all their
    examples with ``all_examples=True``). Q ``(1, m, d)``, K ``(1, n, d)``, V one-hot over the n
    keys. Metrics: ``top1``, ``top5`` (the right definition among the 5 largest output entries),
    ``recall@5`` (overlap of the output's top 5 with the exact top 5 of the same scores; 1.0 for
    exact attention) and ``top_mass`` (mean largest attention weight).
    """
    return _retrieval("definition_retrieval", attention, n=n, queries=limit,
                      all_examples=all_examples, beta=beta, encoder=encoder, dim=dim, seed=seed,
                      value_width=value_width, query_batch=None, topk=(1, 5), recall_k=(5,))  # fmt: skip


def large_n_retrieval(
    attention: AttentionBackend | None = None,
    *,
    n: int = 5000,
    limit: int | None = 1000,
    all_examples: bool = False,
    beta: float = DEFAULT_BETA,
    encoder: Encoder | None = None,
    dim: int | None = 64,
    seed: int = 0,
    value_width: int | None = None,
    query_batch: int | None = 1000,
    recall_k: Sequence[int] = (1, 5, 10),
) -> TaskResult:
    """Large-n retrieval, standing in for a key-value memory network (KV-MemN2N).

    Keys: definitions of the first ``n`` synsets of the retrieval store (up to 5000); queries: the
    first example of each of the first ``limit`` of them (all ``n`` if ``limit`` is None). ``dim``
    (default 64, the A3 design point; None keeps 384) projects with a fixed seeded orthonormal
    matrix. Queries go in chunks of ``query_batch`` (``Q (1, chunk, d)``, ``K (1, n, d)``), and the
    one-hot read-out takes ``ceil(n / value_width)`` calls per chunk (``value_width`` defaults to
    d), so n = 5000, d = 64 is 79 calls per chunk.

    Metrics: ``top1``, ``top5``; ``recall@k`` for each k in ``recall_k`` (mean fraction of the exact
    top-k keys of the same scores that are in the output's top k); ``top_mass``.
    """
    return _retrieval("large_n_retrieval", attention, n=n, queries=limit,
                      all_examples=all_examples, beta=beta, encoder=encoder, dim=dim, seed=seed,
                      value_width=value_width, query_batch=query_batch, topk=(1, 5),
                      recall_k=tuple(recall_k))  # fmt: skip
