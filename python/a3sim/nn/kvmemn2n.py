"""Key-value memory network (KV-MemN2N, Miller et al. 2016) on the rebuilt WikiMovies KB, in numpy.

The memories of a question are key-value pairs of :mod:`a3sim.tasks.wikimovies` (about 186 per
question). Everything is a bag of words (lower-case tokens):

* question ``q0 = sum_w A[w]`` over the question's words;
* key ``k_i = sum_w A[w] + A[relation token]`` over the words of the key entity;
* value ``v_i = sum_w B[w]`` over the words of the value entity.

Hops ``h = 0 .. H-1``: ``p = softmax(q_h k^T)`` (the attention, through the backend: ``Q (b, 1, d)``,
``K, V (b, n, d)``, ``layer = h``), ``o = p v``, ``q_{h+1} = (q_h + o) R_h^T``. The candidates are
the distinct values in the memory, scored ``q_H . v``: hits@1 is whether the best one is an
answer, MAP the mean average precision of the ranking with all answers relevant (answers missing
from the memory count as not found).

Weights: ``workloads/kvmemn2n/wikimovies.npz`` (trained on the dev questions by
``scripts/train_kvmemn2n.py``, numpy, hand-written gradients; stored as float16, computed in
float32). Rare words (mostly entity names) keep their random initial embeddings during training
(see :func:`train`), so the file stores only the trained rows and the seed of the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from a3sim.nn.attention import AttentionBackend, NumpyAttention
from a3sim.tasks import wikimovies as wm

__all__ = ["KVMemN2N", "Encoded", "encode", "load", "evaluate_scores"]


class KVMemN2N:
    """Weights: ``A`` (V, d) question/key words, ``B`` (V, d) value words, ``R`` (H, d, d)."""

    def __init__(self, vocab: Sequence[str], A: np.ndarray, B: np.ndarray, R: np.ndarray, meta: dict | None = None):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.A = np.asarray(A, np.float32)
        self.B = np.asarray(B, np.float32)
        self.R = np.asarray(R, np.float32)
        self.meta = dict(meta or {})

    @property
    def hops(self) -> int:
        return self.R.shape[0]

    @property
    def d(self) -> int:
        return self.A.shape[1]

    def save(self, path: str | Path) -> None:
        """Write the weights as float16. With ``meta["init"]`` (the seed and scale of the random
        initialisation) only the rows that training changed are stored; the others are drawn again
        from the seed when the file is read (a checksum guards that they come out the same)."""
        Ah, Bh, Rh = self.A.astype(np.float16), self.B.astype(np.float16), self.R.astype(np.float16)
        common = dict(
            R=Rh, vocab=np.array(self.vocab, dtype=np.str_), meta=np.array(json.dumps(self.meta, sort_keys=True))
        )
        init = self.meta.get("init")
        if init is None:
            np.savez_compressed(path, A=Ah, B=Bh, **common)
            return
        A0, B0 = init_weights(len(self.vocab), self.d, init["seed"], init["std"])
        rows = np.flatnonzero((Ah != A0.astype(np.float16)).any(1) | (Bh != B0.astype(np.float16)).any(1))
        checksum = np.array([Ah.astype(np.float64).sum(), Bh.astype(np.float64).sum()])
        np.savez_compressed(path, rows=rows, A_rows=Ah[rows], B_rows=Bh[rows], checksum=checksum, **common)

    @classmethod
    def from_npz(cls, path: str | Path) -> KVMemN2N:
        with np.load(path, allow_pickle=False) as z:
            vocab = [str(w) for w in z["vocab"]]
            meta = json.loads(str(z["meta"]))
            if "rows" not in z:
                return cls(vocab, z["A"], z["B"], z["R"], meta)
            d = z["A_rows"].shape[1]
            A0, B0 = init_weights(len(vocab), d, meta["init"]["seed"], meta["init"]["std"])
            A, B = A0.astype(np.float16), B0.astype(np.float16)
            A[z["rows"]] = z["A_rows"]
            B[z["rows"]] = z["B_rows"]
            got = np.array([A.astype(np.float64).sum(), B.astype(np.float64).sum()])
            if not np.array_equal(got, z["checksum"]):
                raise ValueError(
                    f"{path}: the regenerated initial weights differ from those trained "
                    "(numpy's random stream changed?)"
                )
            return cls(vocab, A, B, z["R"], meta)

    def rounded(self) -> KVMemN2N:
        """The model with its weights rounded to float16 (what :meth:`save` stores)."""
        return KVMemN2N(
            self.vocab, self.A.astype(np.float16), self.B.astype(np.float16), self.R.astype(np.float16), self.meta
        )

    def pair_encodings(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """Key and value encodings of every KB pair (cached for the last ``enc`` and weight arrays;
        set ``_pair_cache = None`` after changing the weights in place)."""
        key = (id(enc), id(self.A), id(self.B))
        cache = getattr(self, "_pair_cache", None)
        if cache is None or cache[0] != key:
            all_pairs = np.arange(len(enc.value))
            cache = (
                key,
                _flat_bag(self.A, enc.key_words, enc.key_off, all_pairs)[0],
                _flat_bag(self.B, enc.val_words, enc.val_off, all_pairs)[0],
            )
            self._pair_cache = cache
        return cache[1], cache[2]

    def scores(
        self, enc: Encoded, attention: AttentionBackend | None = None, rows: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """Per question, the score of each memory slot (``q_H . v_i``), in memory order.

        Questions are grouped by memory count ``n`` so that each backend call has no padding.
        """
        backend = attention or NumpyAttention()
        rows = np.arange(enc.size) if rows is None else np.asarray(rows)
        encK, encV = self.pair_encodings(enc)
        out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(rows)
        counts = np.array([len(enc.mem[r]) for r in rows])
        for n in np.unique(counts):
            sel = np.flatnonzero(counts == n)
            rr = rows[sel]
            q = _bag(self.A, enc.q_ids[rr])
            if n == 0:
                continue
            M = np.stack([enc.mem[r] for r in rr])
            K = encK[M]
            V = encV[M]
            for h in range(self.hops):
                o = np.asarray(backend(np.ascontiguousarray(q[:, None, :]), K, V, layer=h))[:, 0, :]
                q = (q + o.astype(np.float32)) @ self.R[h].T
            z = np.einsum("bnd,bd->bn", V, q)
            for j, i in enumerate(sel):
                out[i] = z[j]
        return out


def init_weights(V: int, d: int, seed: int, std: float) -> tuple[np.ndarray, np.ndarray]:
    """The random initial A and B of :func:`train` (float32, nil row zero)."""
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((V, d)) * std).astype(np.float32)
    B = (rng.standard_normal((V, d)) * std).astype(np.float32)
    A[0] = B[0] = 0.0
    return A, B


def _bag(E: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return E[ids].sum(axis=-2)


def _flat(texts: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Word ids of variable-length texts as one flat array and offsets (at least one id each:
    an empty text gets the nil word)."""
    lens = np.array([max(1, len(t)) for t in texts], dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(lens)])
    flat = np.zeros(off[-1], dtype=np.int64)
    for i, t in enumerate(texts):
        if len(t):
            flat[off[i] : off[i] + len(t)] = t
    return flat, off


def _flat_bag(E: np.ndarray, flat: np.ndarray, off: np.ndarray, items: np.ndarray):
    """Bag-of-words encodings (len(items), d) of some texts, and the word ids and segment of
    each gathered word (for the gradient)."""
    lens = off[items + 1] - off[items]
    starts = np.cumsum(lens) - lens
    idx = np.arange(lens.sum()) - np.repeat(starts, lens) + np.repeat(off[items], lens)
    w = flat[idx]
    return np.add.reduceat(E[w], starts, axis=0), w, np.repeat(np.arange(len(items)), lens)


@dataclass
class Encoded:
    """Word ids of a split's questions and of the KB's pairs, and the questions' memories."""

    q_ids: np.ndarray  # (N, Lq)
    key_words: np.ndarray  # words of the key entities and the relation token, flat
    key_off: np.ndarray  # (P + 1,) offsets into key_words
    val_words: np.ndarray  # words of the value entities, flat
    val_off: np.ndarray  # (P + 1,) offsets into val_words
    value: np.ndarray  # (P,) value entity id (for ranking distinct candidates)
    mem: list[np.ndarray]  # per question, pair indices
    answers: list[frozenset[int]]  # per question, answer entity ids
    entity_names: list[str]

    @property
    def size(self) -> int:
        return len(self.mem)


def _ids(texts: Sequence[Sequence[str]], index: dict[str, int]) -> np.ndarray:
    L = max([len(t) for t in texts] + [1])
    out = np.zeros((len(texts), L), dtype=np.int64)
    for i, t in enumerate(texts):
        out[i, : len(t)] = [index.get(w, 0) for w in t]
    return out


def build_vocab(split: str = "dev") -> list[str]:
    """Nil word, relation tokens, then the words of the split's questions and of every KB entity."""
    kb = wm.load_kb()
    words: set[str] = set()
    for q in wm.load_questions(split):
        words.update(wm.words(q.text))
    for e in set(kb.key_entity) | set(kb.value):
        words.update(wm.words(e))
    rels = sorted(set(kb.key_rel))
    return ["<nil>"] + rels + sorted(words - set(rels) - {"<nil>"})


def encode(split: str, vocab: Sequence[str], limit: int | None = None) -> Encoded:
    """Word ids and memories of ``split`` (``dev`` or ``test``) under a vocabulary."""
    kb = wm.load_kb()
    index = {w: i for i, w in enumerate(vocab)}
    qs = wm.load_questions(split)[:limit]
    ents = sorted(set(kb.value) | {a for q in qs for a in q.answers})
    eidx = {e: i for i, e in enumerate(ents)}
    kw, ko = _flat([[index.get(w, 0) for w in wm.words(e)] + [index[r]] for e, r in zip(kb.key_entity, kb.key_rel)])
    vw, vo = _flat([[index.get(w, 0) for w in wm.words(e)] for e in kb.value])
    return Encoded(
        q_ids=_ids([wm.words(q.text) for q in qs], index),
        key_words=kw,
        key_off=ko,
        val_words=vw,
        val_off=vo,
        value=np.array([eidx[v] for v in kb.value], dtype=np.int64),
        mem=wm.build_memories(split, limit),
        answers=[frozenset(eidx[a] for a in q.answers) for q in qs],
        entity_names=ents,
    )


def evaluate_scores(enc: Encoded, scores: Sequence[np.ndarray], rows: np.ndarray | None = None) -> dict[str, float]:
    """hits@1 and MAP of per-question slot scores (see the module doc)."""
    rows = np.arange(enc.size) if rows is None else np.asarray(rows)
    hits, aps = [], []
    for r, z in zip(rows, scores):
        ans = enc.answers[r]
        if len(z) == 0 or not ans:
            hits.append(0.0)
            aps.append(0.0)
            continue
        vals = enc.value[enc.mem[r]]
        best: dict[int, float] = {}
        for v, s in zip(vals.tolist(), z.tolist()):
            if s > best.get(v, -np.inf):
                best[v] = s
        ranked = sorted(best, key=lambda v: (-best[v], v))
        hits.append(float(ranked[0] in ans))
        found, prec = 0, 0.0
        for k, v in enumerate(ranked, 1):
            if v in ans:
                found += 1
                prec += found / k
        aps.append(prec / len(ans))
    return {"hits@1": float(np.mean(hits)), "map": float(np.mean(aps)), "questions": len(rows)}


def load() -> KVMemN2N:
    """The committed model (``workloads/kvmemn2n/wikimovies.npz``)."""
    from a3sim._paths import workloads_dir

    return KVMemN2N.from_npz(workloads_dir() / "kvmemn2n" / "wikimovies.npz")


def __getattr__(name: str):  # noqa: ANN202 - module attribute hook
    """The trainer lives in :mod:`a3sim.nn.kvmemn2n_train`; ``kvmemn2n.train`` still finds it."""
    if name in ("train", "_fwd_bwd"):
        from a3sim.nn import kvmemn2n_train

        return getattr(kvmemn2n_train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
