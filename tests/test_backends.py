"""Real networks offloading their attention through the simulated A3 (the A3Attention backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a3sim.nn.attention import A3Attention, NumpyAttention, base_compute_ns

GOLDEN = Path(__file__).resolve().parent / "data" / "minilm_golden.npz"


@pytest.fixture(scope="module")
def minilm():
    from a3sim.nn.minilm import MiniLM

    return MiniLM()


def test_minilm_golden_through_the_device(drv, minilm):
    with np.load(GOLDEN, allow_pickle=False) as g:
        sentences = [str(s) for s in g["sentences"]]
        golden = g["embeddings"].astype(np.float64)
    backend = A3Attention(drv, mode="exact")
    emb = minilm.encode(sentences, attention=backend).astype(np.float64)
    cos = (emb * golden).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(golden, axis=1)
    assert cos.min() >= 0.99999
    st = backend.stats
    assert sorted(st) == list(range(6))  # every layer went to the device
    total = backend.total()
    assert total.heads == 6 * 12 * len(sentences) and total.host_calls == 0
    assert total.gain == pytest.approx(1.0)  # exact mode is base A3
    assert total.bytes_read > 0 and total.latency_ns > 0


def test_memn2n_device_equals_host_question_by_question(drv):
    from a3sim.nn import memn2n

    host = memn2n.predict_answers(2, NumpyAttention())
    dev = memn2n.predict_answers(2, A3Attention(drv, mode="exact"))
    assert host.shape == (1000,)
    np.testing.assert_array_equal(dev, host)


def test_layer_policies(drv, minilm):
    sentences = ["The cat sat on the mat.", "Attention is all you need, they said."]
    exact = minilm.encode(sentences, attention=NumpyAttention())
    policy = {0: "host", 1: {"mode": "approx", "preset": "aggressive"}, 5: "host"}
    backend = A3Attention(drv, mode="approx", preset="conservative", layers=policy)
    emb = minilm.encode(sentences, attention=backend)
    assert backend.policy(0) is None and backend.policy(5) is None
    assert backend.policy(1) == {"mode": "approx", "preset": "aggressive"}
    assert backend.policy(3) == {"mode": "approx", "preset": "conservative"}
    assert backend.stats[0].host_calls > 0 and backend.stats[0].calls == 0
    assert backend.stats[2].calls > 0 and backend.stats[2].host_calls == 0
    # The approximation costs some accuracy but stays close; the device ran fewer cycles.
    cos = (emb * exact).sum(1)
    assert 0.5 < cos.min() < 1.0
    assert backend.stats[2].compute_ns < backend.stats[2].base_compute_ns


def test_base_compute_matches_exact_device_cycles(drv):
    rng = np.random.default_rng(0)
    for m, n, d in ((1, 5, 4), (300, 700, 32), (12, 12, 32)):
        _, rec = drv.attention(
            rng.standard_normal((m, d)).astype(np.float32),
            rng.standard_normal((n, d)).astype(np.float32),
            rng.standard_normal((n, d)).astype(np.float32),
        )
        assert base_compute_ns(drv, m, n, d) == pytest.approx(rec.compute_ns)


def test_backend_keeps_dtype_and_rejects_bad_policy(drv):
    backend = A3Attention(drv)
    Q = np.random.default_rng(1).standard_normal((2, 3, 8))
    out = backend(Q, Q, Q, layer=0)
    assert out.dtype == Q.dtype and out.shape == Q.shape
    with pytest.raises(ValueError):
        A3Attention(drv, mode="exact", preset="aggressive")


def test_large_n_retrieval_through_the_device(drv):
    """KV-MemN2N stand-in: thousands of keys, tiled by the driver, merged on the host."""
    from a3sim.tasks import wordnet

    host = wordnet.large_n_retrieval(None, n=1000, limit=50, dim=64)
    dev = wordnet.large_n_retrieval(A3Attention(drv, mode="exact"), n=1000, limit=50, dim=64)
    for k in ("top1", "top5", "recall@1", "recall@5"):
        assert dev.metrics[k] == pytest.approx(host.metrics[k])
    backend = A3Attention(drv, mode="approx", preset="conservative")
    approx = wordnet.large_n_retrieval(backend, n=1000, limit=50, dim=64)
    assert approx.metrics["recall@5"] >= 0.8
    assert backend.total().gain > 1.0


def test_two_units_share_the_dram():
    from conftest import in_fresh_process

    out = in_fresh_process(
        """
        import json, numpy as np
        from a3sim import A3Driver
        d0 = A3Driver(config={"units": 2}, unit=0)
        d1 = A3Driver(unit=1)
        rng = np.random.default_rng(0)
        Q, K, V = (rng.standard_normal(s).astype(np.float32) for s in ((8, 16), (50, 16), (50, 16)))
        o0, r0 = d0.attention(Q, K, V)
        o1, r1 = d1.attention(Q, K, V)
        S = Q.astype(np.float64) @ K.T.astype(np.float64)
        P = np.exp(S - S.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
        ref = P @ V
        t = d0.trace.transactions()
        print(json.dumps({"err": float(max(abs(o0 - ref).max(), abs(o1 - ref).max())),
                          "initiators": sorted(set(t.initiator.astype(str))),
                          "targets": sorted(set(t.target.astype(str))),
                          "units": sorted(set(d0.trace.job_summary().unit.tolist()))}))
        """
    )
    import json

    r = json.loads(out.strip().splitlines()[-1])
    assert r["err"] < 1e-5
    assert r["initiators"] == ["a3_0.dma", "a3_1.dma", "host"]
    assert {"a3_0.regs", "a3_1.regs", "dram"} <= set(r["targets"])
    assert r["units"] == [0, 1]
