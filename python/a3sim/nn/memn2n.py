"""End-to-end memory network (MemN2N, Sukhbaatar et al. 2015) on bAbI, inference in numpy.

The model is the standard one of the paper: sentences are bags of words with position encoding (PE),
each memory slot gets a learned temporal encoding, 3 hops with adjacent weight tying, embedding
dimension d = 20, and the last 50 story sentences before a question form the memory.

Every hop's attention goes through a pluggable backend (:mod:`a3sim.nn.attention`): the query
``u`` (one row of d values) attends over the memories ``m_i`` (keys, from embedding ``A``) and
returns the weighted sum of the ``c_i`` (values, from embedding ``C``), i.e.
``o = softmax(u m^T) c``. Stories are grouped by their exact memory count ``n`` so that one backend
call carries ``Q`` of shape ``(B, 1, d)`` and ``K``, ``V`` of shape ``(B, n, d)`` with no padded
rows (an accelerator would attend to padding). The call's ``layer`` is the hop index 0, 1, 2.

Weights are trained by ``scripts/train_memn2n.py`` and stored in ``workloads/memn2n/qa{1,2,3}.npz``.

Conventions (shared with the trainer, which imports this module):

* Tokens: lower case, runs of letters and digits (``re.findall(r"\\w+")``); punctuation dropped.
* Vocabulary: index 0 is the nil word ``"<nil>"`` (zero embedding, used for padding and for words
  not in the vocabulary); the others are sorted. Answers are predicted over the whole vocabulary.
* Position encoding: ``l[j, k] = (1 - j/J) - (k/d) (1 - 2 j/J)`` for word ``j = 1..J`` of a
  sentence of ``J`` words and dimension ``k = 1..d`` (the paper's section 4.1).
* Memories are kept oldest first; the temporal encoding row of a memory is its age: 0 for the
  most recent sentence before the question, ``n - 1`` for the oldest.
* Adjacent weight tying: embedding matrices ``E[0..hops]`` (each ``V x d``) and temporal matrices
  ``T[0..hops]``; hop ``h`` uses ``E[h], T[h]`` for keys and ``E[h+1], T[h+1]`` for values; the
  question embedding is ``E[0]`` (no temporal term) and the answer layer is ``u @ E[hops]^T``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from a3sim.nn.attention import AttentionBackend, NumpyAttention

__all__ = [
    "TASKS",
    "MEMORY_SIZE",
    "NIL",
    "Example",
    "MemN2N",
    "task_id",
    "task_file",
    "tokenize",
    "parse_babi",
    "load_examples",
    "build_vocab",
    "position_encoding",
    "load",
    "evaluate",
    "predict_answers",
    "memory_counts",
]

from a3sim.nn.babi import (  # noqa: F401 - re-exported: this module's data conventions
    _TOKEN,
    MEMORY_SIZE,
    NIL,
    TASKS,
    Example,
    _load_examples_cached,
    build_vocab,
    load_examples,
    parse_babi,
    task_file,
    task_id,
    tokenize,
)


def position_encoding(J: int, d: int) -> np.ndarray:
    """Position-encoding weights ``(J, d)`` of a sentence of ``J`` words (float32)."""
    if J == 0:
        return np.zeros((0, d), dtype=np.float32)
    j = np.arange(1, J + 1, dtype=np.float64)[:, None]
    k = np.arange(1, d + 1, dtype=np.float64)[None, :]
    return ((1.0 - j / J) - (k / d) * (1.0 - 2.0 * j / J)).astype(np.float32)


def sentence_table(
    sentences: Sequence[Sequence[str]], word_index: dict[str, int], d: int
) -> tuple[np.ndarray, np.ndarray]:
    """Word ids ``(U, L)`` (nil-padded) and position weights ``(U, L, d)`` (zero on padding).

    Words not in ``word_index`` map to the nil word 0. Used by inference and by the trainer, so
    that both encode sentences the same way.
    """
    L = max([len(s) for s in sentences] + [1])
    ids = np.zeros((len(sentences), L), dtype=np.int64)
    pe = np.zeros((len(sentences), L, d), dtype=np.float32)
    for r, s in enumerate(sentences):
        ids[r, : len(s)] = [word_index.get(w, 0) for w in s]
        pe[r, : len(s)] = position_encoding(len(s), d)
    return ids, pe


class MemN2N:
    """A trained MemN2N (weights as numpy float32 arrays) with numpy inference.

    Args:
        vocab: words, index 0 the nil word.
        E: embeddings ``(hops + 1, V, d)`` (adjacent tying: ``A^1 = B = E[0]``,
            ``C^h = A^{h+1} = E[h+1]``, answer matrix ``W^T = E[hops]``).
        T: temporal encodings ``(hops + 1, memory_size, d)``, row = age of the memory.
        memory_size: number of most recent sentences kept as memory.
        meta: free-form information (hyperparameters, training results).
    """

    def __init__(
        self,
        vocab: Sequence[str],
        E: np.ndarray,
        T: np.ndarray,
        *,
        memory_size: int = MEMORY_SIZE,
        meta: dict | None = None,
    ) -> None:
        E = np.ascontiguousarray(E, dtype=np.float32)
        T = np.ascontiguousarray(T, dtype=np.float32)
        if E.ndim != 3 or T.ndim != 3 or E.shape[0] != T.shape[0] or E.shape[2] != T.shape[2]:
            raise ValueError(f"inconsistent weight shapes E{E.shape} T{T.shape}")
        if E.shape[1] != len(vocab):
            raise ValueError(f"E has {E.shape[1]} words, vocabulary {len(vocab)}")
        if T.shape[1] < memory_size:
            raise ValueError(f"T has {T.shape[1]} rows for memory_size {memory_size}")
        self.vocab: list[str] = list(vocab)
        self.word_index: dict[str, int] = {w: i for i, w in enumerate(self.vocab)}
        self.E = E
        self.T = T
        self.memory_size = int(memory_size)
        self.meta: dict = dict(meta or {})

    @property
    def hops(self) -> int:
        """Number of memory hops (3 for the committed models)."""
        return self.E.shape[0] - 1

    @property
    def d(self) -> int:
        """Embedding dimension (20 for the committed models)."""
        return self.E.shape[2]

    # ----------------------------------------------------------------------------------- storage
    def save(self, path: str | Path) -> None:
        """Write the model as an ``.npz`` (float32 weights, vocabulary, hyperparameters)."""
        np.savez_compressed(
            path,
            E=self.E,
            T=self.T,
            vocab=np.array(self.vocab, dtype=np.str_),
            memory_size=np.array(self.memory_size, dtype=np.int64),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )

    @classmethod
    def from_npz(cls, path: str | Path) -> MemN2N:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                [str(w) for w in z["vocab"]],
                z["E"],
                z["T"],
                memory_size=int(z["memory_size"]),
                meta=json.loads(str(z["meta"])),
            )

    # --------------------------------------------------------------------------------- inference
    def logits(self, examples: Sequence[Example], attention: AttentionBackend | None = None) -> np.ndarray:
        """Answer scores ``(N, V)`` (float32, before the softmax) of each example, in input order.

        Examples are grouped by exact memory count ``n``; for each group and hop ``h`` the backend
        is called as ``attention(u[:, None, :], K, V, layer=h)`` with ``K``, ``V`` of shape
        ``(B, n, d)``. Memories beyond ``memory_size`` (oldest first) are ignored. A question with
        no memory gets a zero hop output without a backend call.
        """
        backend = NumpyAttention() if attention is None else attention
        N, hops, d = len(examples), self.hops, self.d
        out = np.zeros((N, len(self.vocab)), dtype=np.float32)
        if N == 0:
            return out
        # Encode each distinct sentence once with every embedding matrix.
        sent_index: dict[tuple[str, ...], int] = {}
        mem_ids: list[list[int]] = []
        q_ids = np.empty(N, dtype=np.int64)
        for e, ex in enumerate(examples):
            mems = ex.memories[max(0, len(ex.memories) - self.memory_size) :]
            mem_ids.append([sent_index.setdefault(tuple(s), len(sent_index)) for s in mems])
            q_ids[e] = sent_index.setdefault(tuple(ex.question), len(sent_index))
        ids, pe = sentence_table(list(sent_index), self.word_index, d)
        enc = (self.E[:, ids] * pe[None]).sum(axis=2)  # (hops + 1, U, d)
        W_T = np.ascontiguousarray(self.E[hops].T)
        counts = np.array([len(m) for m in mem_ids])
        for n in np.unique(counts):
            rows = np.flatnonzero(counts == n)
            u = enc[0][q_ids[rows]]  # (B, d)
            if n > 0:
                M = np.array([mem_ids[r] for r in rows], dtype=np.int64)  # (B, n), oldest first
                age = np.arange(n - 1, -1, -1)
                for h in range(hops):
                    K = enc[h][M] + self.T[h][age]
                    V = enc[h + 1][M] + self.T[h + 1][age]
                    o = backend(np.ascontiguousarray(u[:, None, :]), K, V, layer=h)
                    o = np.asarray(o)
                    if o.shape != (len(rows), 1, d):
                        raise ValueError(f"attention backend returned shape {o.shape}, expected {(len(rows), 1, d)}")
                    u = u + o[:, 0, :].astype(np.float32)
            out[rows] = u @ W_T
        return out

    def predict(self, examples: Sequence[Example], attention: AttentionBackend | None = None) -> np.ndarray:
        """Predicted answer word ids ``(N,)`` (index into :attr:`vocab`), in input order."""
        return np.argmax(self.logits(examples, attention), axis=1)

    def predict_words(self, examples: Sequence[Example], attention: AttentionBackend | None = None) -> np.ndarray:
        """Predicted answer words ``(N,)`` (a numpy string array), in input order."""
        return np.array(self.vocab, dtype=np.str_)[self.predict(examples, attention)]

    def accuracy(self, examples: Sequence[Example], attention: AttentionBackend | None = None) -> float:
        """Fraction of examples whose predicted answer is right."""
        if not examples:
            return float("nan")
        pred = self.predict_words(examples, attention)
        return float(np.mean(pred == np.array([ex.answer for ex in examples], dtype=np.str_)))


def load(task: str | int) -> MemN2N:
    """The committed trained model of a task (``workloads/memn2n/qa{task}.npz``)."""
    from a3sim._paths import workloads_dir

    return MemN2N.from_npz(workloads_dir() / "memn2n" / f"qa{task_id(task)}.npz")


def _test_examples(task: str | int, limit: int | None) -> list[Example]:
    ex = load_examples(task, "test")
    return ex if limit is None else ex[:limit]


def predict_answers(task: str | int, attention: AttentionBackend | None = None, limit: int | None = None) -> np.ndarray:
    """Predicted answer words for the first ``limit`` test questions of a task (all if ``None``).

    Returns a numpy string array in test-file order, so that two backends can be compared
    question by question; ``attention=None`` uses :class:`NumpyAttention`.
    """
    return load(task).predict_words(_test_examples(task, limit), attention)


def evaluate(task: str | int, attention: AttentionBackend | None = None, limit: int | None = None) -> float:
    """Test accuracy of the committed model of a task with an attention backend.

    Args:
        task: ``1``, ``2``, ``3`` (or ``"qa1"``...).
        attention: the backend for every hop; ``None`` = exact :class:`NumpyAttention`.
        limit: evaluate only the first ``limit`` test questions.
    """
    return load(task).accuracy(_test_examples(task, limit), attention)


def memory_counts(task: str | int, split: str = "test", limit: int | None = None) -> np.ndarray:
    """Memory count ``n`` of each question (the attention's number of keys), in file order."""
    ex = load_examples(task, split)
    ex = ex if limit is None else ex[:limit]
    return np.array([len(e.memories) for e in ex], dtype=np.int64)


# ------------------------------------------------------------------------ all 20 bAbI tasks (1k)
#: bAbI v1.2 task number -> file stem in ``workloads/babi20/`` (the 1k "en" training sets).
BABI20_TASKS: dict[int, str] = {
    1: "qa1_single-supporting-fact",
    2: "qa2_two-supporting-facts",
    3: "qa3_three-supporting-facts",
    4: "qa4_two-arg-relations",
    5: "qa5_three-arg-relations",
    6: "qa6_yes-no-questions",
    7: "qa7_counting",
    8: "qa8_lists-sets",
    9: "qa9_simple-negation",
    10: "qa10_indefinite-knowledge",
    11: "qa11_basic-coreference",
    12: "qa12_conjunction",
    13: "qa13_compound-coreference",
    14: "qa14_time-reasoning",
    15: "qa15_basic-deduction",
    16: "qa16_basic-induction",
    17: "qa17_positional-reasoning",
    18: "qa18_size-reasoning",
    19: "qa19_path-finding",
    20: "qa20_agents-motivations",
}


def babi20_file(task: int, split: str = "test") -> Path:
    """Path of a task's 1k ``"train"`` or ``"test"`` file under ``workloads/babi20/``."""
    from a3sim._paths import workloads_dir

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if int(task) not in BABI20_TASKS:
        raise ValueError(f"bAbI task {task!r} is not one of 1..20")
    return workloads_dir() / "babi20" / f"{BABI20_TASKS[int(task)]}_{split}.txt"


def load_babi20(task: int, split: str = "test", memory_size: int | None = MEMORY_SIZE) -> list[Example]:
    """Parsed examples of a task of the 20-task 1k set, in file order."""
    return list(_load_examples_cached(str(babi20_file(task, split)), memory_size))


def load_babi20_model(task: int) -> MemN2N:
    """The committed model of a 20-task-set task (``workloads/memn2n/babi20/qa{task}.npz``),
    trained on its 1k training set by ``scripts/train_babi20.py`` (numpy)."""
    from a3sim._paths import workloads_dir

    if int(task) not in BABI20_TASKS:
        raise ValueError(f"bAbI task {task!r} is not one of 1..20")
    return MemN2N.from_npz(workloads_dir() / "memn2n" / "babi20" / f"qa{int(task)}.npz")
