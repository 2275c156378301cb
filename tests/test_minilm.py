"""Tests of the numpy all-MiniLM-L6-v2 encoder against sentence-transformers' golden embeddings.

Run: ``PYTHONPATH=python .venv/bin/python -m pytest tests/test_minilm.py`` from the repository root.
The golden file comes from ``scripts/make_minilm_golden.py`` (sentence-transformers on torch CPU).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from a3sim.nn.attention import AttentionBackend, NumpyAttention, softmax_attention
from a3sim.nn.minilm import MiniLM, gelu

GOLDEN = Path(__file__).resolve().parent / "data" / "minilm_golden.npz"
H, D, E = 12, 32, 384


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM()


@pytest.fixture(scope="module")
def golden() -> dict:
    with np.load(GOLDEN, allow_pickle=False) as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(scope="module")
def sentences(golden) -> list[str]:
    return [str(s) for s in golden["sentences"]]


@pytest.fixture(scope="module")
def exact(model, sentences) -> np.ndarray:
    return model.encode(sentences, attention=NumpyAttention())


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


class Recorder:
    """Backend that records every call and delegates to exact attention."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def __call__(self, Q, K, V, *, layer=0):
        self.calls.append((layer, Q.copy(), K.copy(), V.copy()))
        return softmax_attention(Q, K, V)


class Float64Attention:
    """Exact attention computed in float64 (returns float64)."""

    def __init__(self) -> None:
        self.dtypes: set = set()

    def __call__(self, Q, K, V, *, layer=0):
        self.dtypes.add((Q.dtype, K.dtype, V.dtype))
        return softmax_attention(Q.astype(np.float64), K.astype(np.float64), V.astype(np.float64))


def test_golden_file_metadata(golden):
    assert golden["embeddings"].dtype == np.float32
    assert golden["embeddings"].shape == (len(golden["sentences"]), E)
    assert str(golden["torch_version"]).startswith("2.13.0")
    assert str(golden["sentence_transformers_version"])
    assert golden["token_counts"].max() >= 60  # one long sentence
    assert any(any(ord(c) > 127 for c in str(s)) for s in golden["sentences"])


def test_tokens_match_golden(model, sentences, golden):
    toks = model.tokenize(sentences)
    assert [len(t) for t in toks] == golden["token_counts"].tolist()
    for t in toks:
        assert t.dtype == np.int64 and t[0] == 101 and t[-1] == 102  # [CLS] ... [SEP]


def test_golden_cosine_numpy_attention(exact, golden):
    assert exact.dtype == np.float32 and exact.shape == golden["embeddings"].shape
    cos = cosine(exact, golden["embeddings"])
    assert cos.min() >= 0.99999, cos
    assert np.abs(exact - golden["embeddings"]).max() < 1e-5


def test_unit_norm(exact):
    norms = np.linalg.norm(exact.astype(np.float64), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)


def test_default_backend_is_numpy(model, sentences, exact):
    np.testing.assert_array_equal(model.encode(sentences), exact)


def test_float64_backend(model, sentences, golden):
    backend = Float64Attention()
    assert isinstance(backend, AttentionBackend)
    out = model.encode(sentences, attention=backend)
    assert out.dtype == np.float32
    assert backend.dtypes == {(np.dtype(np.float32),) * 3}  # the model hands over float32
    assert cosine(out, golden["embeddings"]).min() >= 0.99999


def test_order_preserved_when_batches_regroup(model, sentences, exact):
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(sentences))
    shuffled = [sentences[i] for i in perm]
    for bs in (1, 2, 3, 64):
        out = model.encode(shuffled, batch_size=bs)
        np.testing.assert_allclose(out, exact[perm], atol=2e-6, rtol=0)
        # Each sentence lands on its own golden row (not merely a consistent permutation).
        assert (cosine(out, exact[perm]) > 0.99999).all()
    # Repeated sentences in one call are encoded identically.
    dup = model.encode([sentences[0], sentences[1], sentences[0]])
    np.testing.assert_allclose(dup[0], dup[2], atol=1e-6)


def test_recording_backend_shapes(model, sentences, golden, exact):
    rec = Recorder()
    out = model.encode(sentences, attention=rec, batch_size=64)
    np.testing.assert_allclose(out, exact, atol=1e-6)
    counts = golden["token_counts"]
    lengths, per_len = np.unique(counts, return_counts=True)  # one batch per distinct length
    assert len(rec.calls) == 6 * len(lengths)
    seen = []
    for j in range(0, len(rec.calls), 6):
        group = rec.calls[j : j + 6]
        assert [c[0] for c in group] == list(range(6))  # 6 layers, in order
        shapes = {(c[1].shape, c[2].shape, c[3].shape) for c in group}
        assert len(shapes) == 1
        ((qs, ks, vs),) = shapes
        B, m, d = qs
        assert d == D and ks == vs == (B, m, d)  # m == n: self-attention
        assert B % H == 0
        seen.append((m, B // H))
        for c in group:
            assert c[1].dtype == c[2].dtype == c[3].dtype == np.float32
    assert sorted(seen) == sorted(zip(lengths.tolist(), per_len.tolist()))
    # Batches go by ascending length; with batch_size=1 every call carries one sentence.
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    rec1 = Recorder()
    model.encode(sentences, attention=rec1, batch_size=1)
    assert len(rec1.calls) == 6 * len(sentences)
    assert {c[1].shape[0] for c in rec1.calls} == {H}


def test_q_is_prescaled(model, sentences):
    """Q reaches the backend already multiplied by 1/sqrt(32); K and V are not scaled."""
    from safetensors.numpy import load_file

    w = load_file(str(model.model_dir / "model.safetensors"))
    toks = model.tokenize(sentences)
    ids = np.stack([toks[0], toks[4]])  # two sentences of 9 tokens
    b, n = ids.shape
    rec = Recorder()
    hidden: list[np.ndarray] = []
    model.forward(ids, attention=rec, hidden_states=hidden)
    assert len(hidden) == 7 and len(rec.calls) == 6

    def heads(x2d: np.ndarray) -> np.ndarray:  # (b*n, 384) -> (b*12, n, 32)
        return x2d.reshape(b, n, H, D).transpose(0, 2, 1, 3).reshape(b * H, n, D)

    for layer, Q, K, V in rec.calls:
        x = hidden[layer].reshape(b * n, E).astype(np.float64)
        p = f"encoder.layer.{layer}.attention.self."
        q = heads(x @ w[p + "query.weight"].T.astype(np.float64) + w[p + "query.bias"])
        k = heads(x @ w[p + "key.weight"].T.astype(np.float64) + w[p + "key.bias"])
        v = heads(x @ w[p + "value.weight"].T.astype(np.float64) + w[p + "value.bias"])
        np.testing.assert_allclose(Q, q / math.sqrt(D), atol=2e-5, rtol=1e-4)
        np.testing.assert_allclose(K, k, atol=2e-5, rtol=1e-4)
        np.testing.assert_allclose(V, v, atol=2e-5, rtol=1e-4)
        # and really scaled: the unscaled Q is far off
        assert np.abs(Q - q).max() > 0.1


def test_forward_matches_encode(model, sentences, exact):
    ids = model.tokenize([sentences[1]])[0][None, :]
    states = model.forward(ids)
    pooled = states.mean(axis=1)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(pooled[0], exact[1], atol=1e-6)


def test_truncation_at_256_tokens(model):
    long = "token " * 400
    toks = model.tokenize([long, "short"])
    assert len(toks[0]) == 256 and toks[0][-1] == 102
    assert len(toks[1]) == 3
    rec = Recorder()
    out = model.encode([long], attention=rec)
    assert out.shape == (1, E) and rec.calls[0][1].shape == (H, 256, D)


def test_edge_cases(model):
    assert model.encode([]).shape == (0, E)
    assert model.tokenize([]) == []
    with pytest.raises(TypeError):
        model.encode("a single string")
    with pytest.raises(ValueError):
        model.encode(["x"], batch_size=0)

    def bad(Q, K, V, *, layer=0):
        return Q[:, :1]

    with pytest.raises(ValueError):
        model.encode(["a b c"], attention=bad)


def test_gelu_accuracy():
    x = np.linspace(-10, 10, 200_001, dtype=np.float32)
    x = np.concatenate([x, np.float32([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0, 1e4, -1e4])])
    ref = np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) for v in x.astype(np.float64)])
    got = gelu(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    err = np.abs(got.astype(np.float64) - ref)
    assert err.max() <= 3e-7 * np.maximum(1.0, np.abs(ref)).max()
    assert (err <= 3e-7 * np.maximum(1.0, np.abs(ref))).all()
    assert np.sqrt(np.mean(err**2)) < 1e-7
    # in place, multi-dimensional, and several chunks
    y = np.random.default_rng(0).standard_normal((300, 1536)).astype(np.float32)
    expect = gelu(y.copy())
    gelu(y, out=y)
    np.testing.assert_array_equal(y, expect)
    with pytest.raises(TypeError):
        gelu(np.zeros(3))
