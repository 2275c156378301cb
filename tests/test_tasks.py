"""Tests of the task-level workloads (a3sim.tasks): WordNet subset, WordNet tasks, synthetic data.

Run: PYTHONPATH=python .venv/bin/python -m pytest tests/test_tasks.py (from the repository root)

The real-MiniLM checks use small limits so that they also fit with a cold embedding cache; the
weights are a dependency installed by the Makefile, so they never skip.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from a3sim._paths import workloads_dir
from a3sim.nn.attention import NumpyAttention, softmax_attention
from a3sim.tasks import synthetic, wordnet

REPO = Path(__file__).resolve().parent.parent
WN = workloads_dir() / "wordnet"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
class BagOfWords:
    """Cheap stand-in encoder: sum of seeded random vectors of the words, L2-normalised."""

    def __init__(self, dim: int = 384, cache_id: str | None = None):
        self.dim = dim
        self.cache_id = cache_id
        self.calls = 0
        self.texts = 0

    def __call__(self, texts):
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                out[i] += np.random.default_rng(zlib.crc32(w.encode())).standard_normal(self.dim)
            out[i] += 1e-3  # texts without letters still get a direction
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class Recorder:
    """Exact backend that records every call's arrays."""

    def __init__(self):
        self.calls = []

    def __call__(self, Q, K, V, *, layer=0):
        self.calls.append((Q.copy(), K.copy(), V.copy(), layer))
        return softmax_attention(Q, K, V)


@pytest.fixture(scope="module")
def minilm_encoder():
    """The default (MiniLM) encoder."""
    emb = wordnet.embed(["a test sentence"], use_cache=False)
    assert emb.shape == (1, 384)
    return None  # None selects MiniLM in the task functions


# ----------------------------------------------------------------------------------------------
# the committed subset
# ----------------------------------------------------------------------------------------------
def test_subset_parses_and_counts():
    rows = [json.loads(line) for line in open(WN / "subset.jsonl", encoding="utf-8")]
    assert len(rows) == 6190
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for r in rows:
        assert re.fullmatch(r"[nvar]\d{8}", r["id"])
        assert r["pos"] in {"n", "v", "a", "s", "r"}
        assert r["lemmas"] and r["definition"]
        assert all(e and '"' not in e[:1] for e in r["examples"])
    syn = wordnet.load_subset()
    assert len(syn) == len(rows)
    lemmas = wordnet.sense_lemmas(syn)
    assert len(lemmas) == 300
    for name, senses in lemmas.items():
        assert sum(1 for s in senses if s.examples) >= 2
        assert all(name in {w.lower() for w in s.lemmas} for s in senses)
    assert sum(len(v) for v in lemmas.values()) == 1364
    assert sum(len(s.examples) for v in lemmas.values() for s in v) == 1886
    store = wordnet.retrieval_store(synsets=syn)
    assert [s.retrieval for s in store] == list(range(5000))
    assert all(s.examples for s in store)
    assert sum(len(s.examples) for s in store) == 7291
    assert wordnet.retrieval_store(300, syn) == store[:300]


def test_licence_and_readme_present():
    lic = (WN / "LICENSE").read_text(encoding="utf-8")
    assert "WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved." in lic
    assert "Permission to use, copy, modify and distribute this software" in lic
    assert "Princeton University and LICENSEE agrees to preserve same." in lic
    readme = (WN / "README.md").read_text(encoding="utf-8")
    assert "scripts/extract_wordnet.py" in readme and "LICENSE" in readme


def test_extractor_reproduces_committed_subset(tmp_path):
    # Debian's wordnet-base is installed by the Makefile (make test); the subset is rebuilt from it.
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "extract_wordnet.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "subset.jsonl").read_bytes() == (WN / "subset.jsonl").read_bytes()
    assert (tmp_path / "LICENSE").read_bytes() == (WN / "LICENSE").read_bytes()


def test_split_gloss():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from extract_wordnet import split_gloss
    finally:
        sys.path.pop(0)
    assert split_gloss('a tangible entity; an entity that can cast a shadow; "it was full"; "b; c"') == (
        "a tangible entity; an entity that can cast a shadow",
        ["it was full", "b; c"],
    )
    assert split_gloss('x y: "the example"') == ("x y", ["the example"])
    assert split_gloss('defn; "quote here"- Author') == ("defn", ["quote here"])
    assert split_gloss("no examples") == ("no examples", [])


# ----------------------------------------------------------------------------------------------
# WordNet tasks: shapes, no padding, cache (stub encoder)
# ----------------------------------------------------------------------------------------------
def test_sense_matching_calls_have_no_padding():
    rec = Recorder()
    enc = BagOfWords()
    res = wordnet.sense_matching(rec, limit=40, encoder=enc)
    assert res.calls == len(rec.calls) == len(res.shapes)
    groups = wordnet.sense_lemmas()
    names = list(groups)[:40]
    expected = sorted({(len(groups[k]), sum(len(s.examples) for s in groups[k])) for k in names})
    seen = []
    total = 0
    for Q, K, V, layer in rec.calls:
        B, m, d = Q.shape
        n = K.shape[1]
        assert d == 384 and K.shape == (B, n, d) and V.shape == (B, n, d) and layer == 0
        # every query and key row is a real (scaled) unit vector: nothing padded
        np.testing.assert_allclose(np.linalg.norm(Q, axis=-1), wordnet.DEFAULT_BETA, rtol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(K, axis=-1), 1.0, rtol=1e-5)
        # V: identity in the first n columns, zero columns after
        np.testing.assert_array_equal(V[:, :, :n], np.broadcast_to(np.eye(n, dtype=np.float32), (B, n, n)))
        assert not V[:, :, n:].any()
        seen.append((n, m))
        total += B * m
    assert sorted(seen) == expected  # one call per (senses, examples) group
    assert total == res.count == sum(len(s.examples) for k in names for s in groups[k])
    assert 0.0 <= res.metrics["accuracy"] <= 1.0

    rec2 = Recorder()
    res2 = wordnet.sense_matching(rec2, limit=40, encoder=enc, per_example=True)
    assert all(Q.shape[1] == 1 for Q, *_ in rec2.calls)
    assert sorted(K.shape[1] for _, K, _, _ in rec2.calls) == sorted({n for n, _ in expected})
    assert res2.count == res.count and res2.metrics == pytest.approx(res.metrics)


def test_retrieval_call_shapes_and_value_blocks():
    enc = BagOfWords()
    rec = Recorder()
    res = wordnet.definition_retrieval(rec, limit=50, encoder=enc)
    assert res.calls == 1
    Q, K, V, _ = rec.calls[0]
    assert Q.shape == (1, 50, 384) and K.shape == (1, 300, 384) and V.shape == (1, 300, 384)
    assert res.metrics["recall@5"] == 1.0  # exact attention keeps the exact top 5

    # projected to 64 dimensions: V is as wide as d, so 300 keys need ceil(300 / 64) = 5 calls
    rec = Recorder()
    res64 = wordnet.definition_retrieval(rec, limit=50, encoder=enc, dim=64)
    assert res64.calls == 5 and [c[2].shape for c in rec.calls] == [(1, 300, 64)] * 5
    np.testing.assert_allclose(np.linalg.norm(rec.calls[0][1][0], axis=-1), 1.0, rtol=1e-5)
    # a wider value block gives the same weights in one call
    res_one = wordnet.definition_retrieval(NumpyAttention(), limit=50, encoder=enc, dim=64, value_width=300)
    assert res_one.calls == 1 and res_one.metrics == pytest.approx(res64.metrics, abs=1e-6)

    rec = Recorder()
    big = wordnet.large_n_retrieval(rec, n=700, limit=120, query_batch=50, encoder=enc)
    assert big.calls == 3 * 11  # 3 query chunks x ceil(700 / 64) value blocks
    assert {c[1].shape for c in rec.calls} == {(1, 700, 64)}
    assert sorted({c[0].shape[1] for c in rec.calls}) == [20, 50]
    assert big.metrics["recall@1"] == big.metrics["recall@5"] == big.metrics["recall@10"] == 1.0


def test_embedding_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("A3SIM_CACHE", str(tmp_path))
    enc = BagOfWords(cache_id="bow-test")
    a = wordnet.embed(["one text", "another text"], enc)
    b = wordnet.embed(["one text", "another text"], enc)
    assert enc.calls == 1 and np.array_equal(a, b)
    assert len(list((tmp_path / "embeddings").glob("bow-test-2-*.npy"))) == 1
    wordnet.embed(["one text", "a third"], enc)
    assert enc.calls == 2
    nocache = BagOfWords()
    wordnet.embed(["one text"], nocache)
    wordnet.embed(["one text"], nocache)
    assert nocache.calls == 2


def test_projection_is_orthonormal_and_fixed():
    P = wordnet.projection(384, 64, 0)
    np.testing.assert_allclose(P.T @ P, np.eye(64), atol=1e-5)
    assert np.array_equal(P, wordnet.projection(384, 64, 0))
    assert not np.allclose(P, wordnet.projection(384, 64, 1))


# ----------------------------------------------------------------------------------------------
# WordNet tasks with the real MiniLM and exact attention: documented figures
# ----------------------------------------------------------------------------------------------
# Exact-attention (NumpyAttention) figures of all-MiniLM-L6-v2 on small limits (the full-size
# figures are in a3sim/tasks/wordnet.py). Tolerances allow one or two argmax flips from float32
# rounding differences between BLAS builds. Cold cache: about 1100 texts to embed.
EXPECTED_SENSE_30 = 0.445  # sense_matching(limit=30): 200 examples, chance 0.229
EXPECTED_RET_100 = (0.37, 0.54)  # definition_retrieval(limit=100): top1, top5, N = 300
EXPECTED_BIG_400_100 = (0.23, 0.36)  # large_n_retrieval(n=400, limit=100): top1, top5, d = 64


def test_sense_matching_minilm(minilm_encoder):
    res = wordnet.sense_matching(NumpyAttention(), limit=30)
    assert res.count == 200
    assert res.metrics["accuracy"] == pytest.approx(EXPECTED_SENSE_30, abs=0.011)
    assert res.metrics["chance"] == pytest.approx(0.2287, abs=1e-4)


def test_definition_retrieval_minilm(minilm_encoder):
    res = wordnet.definition_retrieval(NumpyAttention(), limit=100)
    assert (res.metrics["top1"], res.metrics["top5"]) == pytest.approx(EXPECTED_RET_100, abs=0.011)
    assert res.calls == 1 and res.count == 100 and res.metrics["recall@5"] == 1.0


def test_large_n_retrieval_minilm(minilm_encoder):
    res = wordnet.large_n_retrieval(NumpyAttention(), n=400, limit=100)
    assert (res.metrics["top1"], res.metrics["top5"]) == pytest.approx(EXPECTED_BIG_400_100, abs=0.011)
    assert res.calls == 7 and res.metrics["recall@10"] == 1.0


# ----------------------------------------------------------------------------------------------
# synthetic workloads
# ----------------------------------------------------------------------------------------------
def test_planted_deterministic_and_shapes():
    a = synthetic.planted(100, 16, 30, alpha=3.0, seed=5)
    b = synthetic.planted(100, 16, 30, alpha=3.0, seed=5)
    c = synthetic.planted(100, 16, 30, alpha=3.0, seed=6)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    Q, K, V, idx = a
    assert Q.shape == (30, 16) and K.shape == (100, 16) and V.shape == (100, 16) and idx.shape == (30,)
    assert Q.dtype == K.dtype == V.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(K, axis=1), 1.0, rtol=1e-5)
    # alpha changes only the mix: keys, values and planted indices are shared across alphas
    Q2, K2, V2, idx2 = synthetic.planted(100, 16, 30, alpha=7.0, seed=5)
    assert np.array_equal(K, K2) and np.array_equal(V, V2) and np.array_equal(idx, idx2)
    Kn = synthetic.planted(100, 16, 30, alpha=3.0, seed=5, normalize=False)[1]
    assert np.linalg.norm(Kn, axis=1).mean() > 2.0


def test_alpha_raises_planted_mass_monotonically():
    alphas = [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16]
    masses = []
    per_query = []
    for a in alphas:
        Q, K, V, idx = synthetic.planted(320, 64, 128, alpha=a, seed=3)
        per_query.append(synthetic.planted_mass(Q, K, idx))
        masses.append(per_query[-1].mean())
    assert all(x < y for x, y in zip(masses, masses[1:]))
    # with unit-norm keys this holds query by query, not only on average
    P = np.stack(per_query)
    assert (np.diff(P, axis=0) >= -1e-6).all()
    assert masses[0] < 0.01 and masses[-1] > 0.99


def test_alpha_table_and_hits():
    rows = synthetic.alpha_table((0, 4, 6, 12), m=64)
    mass = [r[1] for r in rows]
    hits = [r[3] for r in rows]
    assert mass == sorted(mass) and hits[0] < 0.1 and hits[-1] == 1.0
    r = synthetic.run_planted(NumpyAttention(), n=50, d=8, m=20, alpha=20.0)
    assert r.hits == 1.0 and r.mass > 0.95 and r.output.shape == (20, 8)


def test_uniform_deterministic_and_flat():
    Q, K, V = synthetic.uniform(320, 64, 50, seed=2)
    Q2, K2, V2 = synthetic.uniform(320, 64, 50, seed=2)
    assert np.array_equal(Q, Q2) and np.array_equal(K, K2) and np.array_equal(V, V2)
    assert Q.shape == (50, 64) and K.shape == V.shape == (320, 64)
    assert np.abs(K).max() <= 1.0 and np.abs(Q).max() <= 1.0 / 8.0
    S = Q @ K.T
    P = np.exp(S - S.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    assert P.max() < 10.0 / 320  # nearly uniform softmax


class TopOnly:
    """A crude 'approximation': all the weight on the best key, nothing elsewhere."""

    def __call__(self, Q, K, V, *, layer=0):
        S = Q @ np.swapaxes(K, -1, -2)
        W = (S == S.max(axis=-1, keepdims=True)).astype(np.float32)
        W /= W.sum(axis=-1, keepdims=True)
        return W @ V


def test_retrieval_metrics_ignore_dropped_keys():
    enc = BagOfWords()
    exact = wordnet.large_n_retrieval(NumpyAttention(), n=400, limit=80, encoder=enc)
    top = wordnet.large_n_retrieval(TopOnly(), n=400, limit=80, encoder=enc)
    assert top.metrics["top1"] == exact.metrics["top1"]
    assert top.metrics["top5"] == top.metrics["top1"]  # keys with zero weight are not retrieved
    assert top.metrics["recall@1"] == 1.0
    assert top.metrics["recall@5"] == pytest.approx(0.2) and top.metrics["recall@10"] == pytest.approx(0.1)
    assert top.metrics["top_mass"] == pytest.approx(1.0)


def test_sense_matching_value_blocks_agree():
    enc = BagOfWords()
    wide = wordnet.sense_matching(NumpyAttention(), limit=25, encoder=enc)
    narrow = wordnet.sense_matching(NumpyAttention(), limit=25, encoder=enc, value_width=2)
    assert narrow.calls > wide.calls
    assert narrow.metrics == pytest.approx(wide.metrics)
