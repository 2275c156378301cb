"""SQuAD v1.1 dev as a BERT-scale attention workload: paragraph retrieval with MiniLM.

The 2,067 paragraphs of SQuAD v1.1 dev (Rajpurkar et al. 2016, CC BY-SA 4.0;
``workloads/squad/dev-v1.1.json.gz``) are encoded by all-MiniLM-L6-v2 (up to 256 tokens each,
n = 25-256 keys per head, mean about 160): every one of the 6 x 12 = 72 heads of every paragraph is
an attention of n queries against n keys, which the backend (the simulated A3) computes. The
10,570 questions are encoded once with exact host attention (they are short: n of about 14) and
each retrieves its paragraph by cosine similarity among the paragraphs encoded. Metrics: top-1
accuracy and MRR@10.

``limit`` keeps the first ``limit`` paragraphs (in file order) and their questions, and retrieves
among those only.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from a3sim.nn.attention import AttentionBackend

__all__ = ["Squad", "load", "encode_questions", "encode_paragraphs", "retrieval_metrics", "token_counts"]


@dataclass(frozen=True)
class Squad:
    """Paragraph texts, question texts and each question's paragraph index."""

    paragraphs: tuple[str, ...]
    questions: tuple[str, ...]
    paragraph_of: np.ndarray


@lru_cache(maxsize=1)
def _load_all() -> Squad:
    from a3sim._paths import workloads_dir

    with gzip.open(workloads_dir() / "squad" / "dev-v1.1.json.gz", "rt", encoding="utf-8") as f:
        data = json.load(f)
    paras, qs, of = [], [], []
    for art in data["data"]:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                qs.append(qa["question"])
                of.append(len(paras))
            paras.append(p["context"])
    return Squad(tuple(paras), tuple(qs), np.array(of, dtype=np.int64))


def load(limit: int | None = None) -> Squad:
    """The data set, or its first ``limit`` paragraphs and their questions."""
    s = _load_all()
    if limit is None or limit >= len(s.paragraphs):
        return s
    keep = s.paragraph_of < limit
    return Squad(s.paragraphs[:limit], tuple(q for q, k in zip(s.questions, keep) if k), s.paragraph_of[keep])


@lru_cache(maxsize=1)
def _model() -> Any:
    from a3sim.tasks.wordnet_data import _minilm

    return _minilm()


def token_counts(data: Squad) -> np.ndarray:
    """Tokens per paragraph (the attention's n, at most 256)."""
    return np.array([len(t) for t in _model().tokenize(list(data.paragraphs))], dtype=np.int64)


def encode_questions(data: Squad) -> np.ndarray:
    """Question embeddings (exact host attention, cached on disk by :func:`a3sim.tasks.wordnet.embed`)."""
    from a3sim.tasks.wordnet import embed

    return embed(list(data.questions))


def encode_paragraphs(
    data: Squad, attention: AttentionBackend, batch_size: int = 16, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Paragraph embeddings with every head's attention through ``attention``. ``progress`` is
    called with the number of paragraphs done after each batch."""
    model = _model()
    toks = model.tokenize(list(data.paragraphs))
    out = np.empty((len(toks), model.hidden), dtype=np.float32)
    for idx in model._batches([len(t) for t in toks], batch_size):
        ids = np.stack([toks[i] for i in idx])
        states = model.forward(ids, attention)
        pooled = states.mean(axis=1, dtype=np.float32)
        pooled /= np.maximum(np.sqrt(np.square(pooled).sum(axis=1, keepdims=True)), np.float32(1e-12))
        out[idx] = pooled
        if progress is not None:
            progress(len(idx))
    return out


def retrieval_metrics(q_emb: np.ndarray, p_emb: np.ndarray, paragraph_of: np.ndarray) -> dict[str, float]:
    """top-1 accuracy and MRR@10 of retrieving each question's paragraph by cosine similarity."""
    sims = q_emb @ p_emb.T
    true = sims[np.arange(len(sims)), paragraph_of]
    rank = (sims > true[:, None]).sum(axis=1) + 1  # ties count in the question's favour
    return {
        "top1": float(np.mean(rank == 1)),
        "mrr@10": float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0))),
        "questions": int(len(sims)),
        "paragraphs": int(p_emb.shape[0]),
    }
