"""MemN2N on bAbI qa1-qa3: parser, inference with pluggable attention, committed weights."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim.nn import memn2n as mn
from a3sim.nn.attention import NumpyAttention

# Test accuracy with exact attention that the committed weights must keep (qa3: reached minus a
# small margin; see workloads/memn2n/README.md).
THRESHOLDS = {1: 0.99, 2: 0.97, 3: 0.45}

TINY = """\
1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary?\tbathroom\t1
4 Daniel went back to the hallway.
5 Where is Daniel?\thallway\t4
6 Sandra travelled to the office.
7 Where is John?\thallway\t2
1 Where is nobody?\tkitchen\t
2 Sandra journeyed to the Garden.
3 Where is Sandra?\tgarden\t2
"""


class Recorder:
    """Exact attention that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple, tuple, tuple]] = []

    def __call__(self, Q, K, V, *, layer=0):
        self.calls.append((layer, Q.shape, K.shape, V.shape))
        return NumpyAttention()(Q, K, V, layer=layer)


class Float64Attention:
    """Exact attention computed in float64 (returned as float64)."""

    def __call__(self, Q, K, V, *, layer=0):
        Q, K, V = (np.asarray(x, dtype=np.float64) for x in (Q, K, V))
        S = Q @ np.swapaxes(K, -1, -2)
        S = np.exp(S - S.max(axis=-1, keepdims=True))
        return (S / S.sum(axis=-1, keepdims=True)) @ V


# ------------------------------------------------------------------------------------- parsing
def test_parse_tiny_story():
    ex = mn.parse_babi(TINY.splitlines())
    assert len(ex) == 5
    assert ex[0].memories == (("mary", "moved", "to", "the", "bathroom"), ("john", "went", "to", "the", "hallway"))
    assert ex[0].question == ("where", "is", "mary")
    assert ex[0].answer == "bathroom" and ex[0].supporting == (0,)
    # Earlier questions are not memories.
    assert len(ex[1].memories) == 3 and ex[1].memories[2][0] == "daniel" and ex[1].supporting == (2,)
    assert len(ex[2].memories) == 4 and ex[2].supporting == (1,)
    # ID 1 starts a new story; a question may come before any statement.
    assert ex[3].memories == () and ex[3].supporting == () and ex[3].answer == "kitchen"
    assert ex[4].memories == (("sandra", "journeyed", "to", "the", "garden"),) and ex[4].supporting == (0,)


def test_parse_memory_window():
    ex = mn.parse_babi(TINY.splitlines(), memory_size=2)
    assert [len(e.memories) for e in ex] == [2, 2, 2, 0, 1]
    assert ex[2].memories[0][0] == "daniel" and ex[2].memories[1][0] == "sandra"
    assert ex[2].supporting == ()  # fact 2 fell out of the window
    assert ex[1].supporting == (1,)
    assert [len(e.memories) for e in mn.parse_babi(TINY.splitlines(), memory_size=None)] == [2, 3, 4, 0, 1]


def test_tokenize_vocab_and_tasks():
    assert mn.tokenize("John went back to the Hallway.") == ("john", "went", "back", "to", "the", "hallway")
    vocab = mn.build_vocab(mn.parse_babi(TINY.splitlines()))
    assert vocab[0] == mn.NIL and vocab[1:] == sorted(vocab[1:]) and "kitchen" in vocab
    assert mn.task_id("qa2") == mn.task_id(2) == mn.task_id("2") == 2
    with pytest.raises(ValueError):
        mn.task_id(7)


def test_position_encoding():
    pe = mn.position_encoding(3, 4)
    assert pe.shape == (3, 4) and pe.dtype == np.float32
    J, d = 3, 4
    for j in range(1, J + 1):
        for k in range(1, d + 1):
            assert pe[j - 1, k - 1] == pytest.approx((1 - j / J) - (k / d) * (1 - 2 * j / J))
    assert np.allclose(mn.position_encoding(1, 4)[0], [0.25, 0.5, 0.75, 1.0])


# --------------------------------------------------------------------------------- inference
def _reference_logits(model: mn.MemN2N, ex: mn.Example) -> np.ndarray:
    """One question at a time, straight from the paper's equations, in float64."""
    E, T = model.E.astype(np.float64), model.T.astype(np.float64)

    def embed(k, sentence):
        pe = mn.position_encoding(len(sentence), model.d)
        return sum((pe[j] * E[k, model.word_index.get(w, 0)] for j, w in enumerate(sentence)), np.zeros(model.d))

    mems = ex.memories[-model.memory_size :]
    n = len(mems)
    u = embed(0, ex.question)
    for h in range(model.hops):
        if n == 0:
            break
        m = np.array([embed(h, s) + T[h, n - 1 - i] for i, s in enumerate(mems)])
        c = np.array([embed(h + 1, s) + T[h + 1, n - 1 - i] for i, s in enumerate(mems)])
        p = np.exp(m @ u - (m @ u).max())
        u = u + (p / p.sum()) @ c
    return u @ E[model.hops].T


def test_grouped_inference_matches_reference():
    rng = np.random.default_rng(0)
    ex = mn.parse_babi(TINY.splitlines())
    vocab = mn.build_vocab(ex)
    model = mn.MemN2N(vocab, rng.normal(0, 0.5, (4, len(vocab), 20)), rng.normal(0, 0.5, (4, 50, 20)))
    model.E[:, 0] = 0
    rec = Recorder()
    got = model.logits(ex, rec)
    want = np.array([_reference_logits(model, e) for e in ex])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # n = 0 (a question before any statement) makes no backend call; n in {1, 2, 3, 4} makes 3 each.
    assert sorted(c[2][1] for c in rec.calls) == sorted([1, 2, 3, 4] * 3)


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    model = mn.MemN2N(["<nil>", "a", "b"], rng.normal(size=(4, 3, 20)), rng.normal(size=(4, 50, 20)), meta={"x": 1})
    model.save(tmp_path / "m.npz")
    back = mn.MemN2N.from_npz(tmp_path / "m.npz")
    assert back.vocab == model.vocab and back.meta == {"x": 1} and back.memory_size == 50
    assert np.array_equal(back.E, model.E) and np.array_equal(back.T, model.T)
    assert back.E.dtype == np.float32


@pytest.mark.parametrize("task", [1, 2, 3])
def test_committed_model_shape(task):
    model = mn.load(task)
    assert model.hops == 3 and model.d == 20 and model.memory_size == 50
    assert model.E.dtype == np.float32 and model.T.shape == (4, 50, 20)
    assert np.all(model.E[:, 0] == 0)


# ------------------------------------------------------------------------- full test sets
@pytest.mark.parametrize("task", [1, 2, 3])
def test_accuracy_exact_attention(task):
    acc = mn.evaluate(task)
    assert acc >= THRESHOLDS[task], f"qa{task} test accuracy {acc:.4f}"
    assert acc == pytest.approx(mn.load(task).meta["test_acc"], abs=1e-12)  # same as the trainer


@pytest.mark.parametrize("task", [1, 2, 3])
def test_backend_calls_per_hop(task):
    rec = Recorder()
    pred = mn.predict_answers(task, rec)
    counts = mn.memory_counts(task)
    assert len(pred) == len(counts) == 1000
    assert counts.max() <= 50 and counts.min() >= 1
    # Three hops per group of equal n, in hop order; B rows of shape (B, 1, 20) against (B, n, 20).
    assert len(rec.calls) == 3 * len(np.unique(counts))
    for i, (layer, q, k, v) in enumerate(rec.calls):
        assert layer == i % 3
        assert q == (k[0], 1, 20) and k == v and k[2] == 20 and 1 <= k[1] <= 50
    for layer in range(3):
        ns = [n for c in rec.calls if c[0] == layer for n in [c[2][1]] * c[2][0]]
        assert sorted(ns) == sorted(counts.tolist())  # n of every question = its memory count
    assert np.array_equal(pred, mn.predict_answers(task))


@pytest.mark.parametrize("task", [1, 2, 3])
def test_float64_backend_same_predictions(task):
    assert np.array_equal(mn.predict_answers(task, Float64Attention()), mn.predict_answers(task, NumpyAttention()))


def test_limit():
    assert len(mn.predict_answers("qa2", limit=37)) == 37
    acc = mn.evaluate(2, limit=100)
    assert 0.9 <= acc <= 1.0
