"""Training of :class:`a3sim.nn.kvmemn2n.KVMemN2N` in numpy: the forward and backward pass
(hand-written gradients) and the training loop used by ``scripts/train_kvmemn2n.py``."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from a3sim.nn.kvmemn2n import (  # noqa: F401
    Encoded,
    KVMemN2N,
    _bag,
    _flat,
    _flat_bag,
    _ids,
    build_vocab,
    encode,
    evaluate_scores,
    init_weights,
)
from a3sim.tasks import wikimovies as wm


# ----------------------------------------------------------------------------------------- training
def _fwd_bwd(model: KVMemN2N, enc: Encoded, rows: np.ndarray):
    A, Bm, R = model.A, model.B, model.R
    H = R.shape[0]
    mems = [enc.mem[r] for r in rows]
    n = max(len(m) for m in mems)
    b = len(rows)
    M = np.zeros((b, n), np.int64)
    mask = np.zeros((b, n), bool)
    amask = np.zeros((b, n), bool)
    for i, (r, m) in enumerate(zip(rows, mems)):
        M[i, : len(m)] = m
        mask[i, : len(m)] = True
        amask[i, : len(m)] = np.isin(enc.value[m], list(enc.answers[r]))
    qid = enc.q_ids[rows]
    used, inv = np.unique(M, return_inverse=True)
    inv = inv.reshape(M.shape)
    eK, kw, kseg = _flat_bag(A, enc.key_words, enc.key_off, used)
    eV, vw, vseg = _flat_bag(Bm, enc.val_words, enc.val_off, used)
    q = A[qid].sum(1)
    K = eK[inv]
    V = eV[inv]
    qs, ps, xs = [q], [], []
    for h in range(H):
        s = np.where(mask, np.einsum("bnd,bd->bn", K, q), -np.inf)
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        x = q + np.einsum("bn,bnd->bd", p, V)
        q = x @ R[h].T
        ps.append(p)
        xs.append(x)
        qs.append(q)
    z = np.where(mask, np.einsum("bnd,bd->bn", V, q), -np.inf)
    P = np.exp(z - z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    pa = (P * amask).sum(1)
    ok = pa > 0
    loss = float(-np.log(pa[ok]).sum())
    dz = np.where(ok[:, None], P - P * amask / np.maximum(pa, 1e-30)[:, None], 0.0) / b
    dz = dz.astype(np.float32)
    dV = dz[:, :, None] * q[:, None, :]
    dq = np.einsum("bn,bnd->bd", dz, V)
    dK = np.zeros_like(K)
    dR = np.zeros_like(R)
    for h in range(H - 1, -1, -1):
        dR[h] = dq.T @ xs[h]
        dx = dq @ R[h]
        p, qh = ps[h], qs[h]
        dV += p[:, :, None] * dx[:, None, :]
        dp = np.einsum("bnd,bd->bn", V, dx)
        ds = p * (dp - (p * dp).sum(1, keepdims=True))
        dK += ds[:, :, None] * qh[:, None, :]
        dq = dx + np.einsum("bn,bnd->bd", ds, K)
    dA = np.zeros_like(A)
    dB = np.zeros_like(Bm)
    d = A.shape[1]
    np.add.at(dA, qid.ravel(), np.repeat(dq, qid.shape[1], axis=0))
    dK *= mask[:, :, None]
    dV *= mask[:, :, None]
    deK = np.zeros((len(used), d), np.float32)
    deV = np.zeros((len(used), d), np.float32)
    np.add.at(deK, inv.ravel(), dK.reshape(-1, d))
    np.add.at(deV, inv.ravel(), dV.reshape(-1, d))
    np.add.at(dA, kw, deK[kseg])
    np.add.at(dB, vw, deV[vseg])
    dA[0] = 0.0
    dB[0] = 0.0
    return loss, int(ok.sum()), (dA, dB, dR)


def train(
    *,
    d: int = 64,
    hops: int = 2,
    epochs: int = 3,
    lr: float = 0.005,
    batch: int = 32,
    seed: int = 0,
    val_frac: float = 0.1,
    init_std: float = 0.3,
    clip: float = 40.0,
    limit: int | None = None,
    freeze_rare: int = 3,
    log: Callable[[str], None] | None = None,
) -> tuple[KVMemN2N, dict]:
    """Train on the dev questions (``val_frac`` held out); keep the epoch of best validation hits@1.

    Words seen in fewer than ``freeze_rare`` training questions (mostly the words of entity names)
    keep their random embeddings: entity matching then rests on the self-similarity of a word's
    embedding, the same for the dev entities trained on and the test entities never seen, and the
    model cannot memorise dev entities. The relation tokens and the question words (templates)
    are trained. ``freeze_rare = 0`` trains everything.
    """
    from a3sim.nn.memn2n_train import Adam

    log = log or (lambda s: None)
    vocab = build_vocab("dev")
    enc = encode("dev", vocab, limit)
    perm = np.random.default_rng(12345).permutation(enc.size)
    n_val = int(round(val_frac * enc.size))
    va, tr = np.sort(perm[:n_val]), perm[n_val:]
    V = len(vocab)
    A, Bm = init_weights(V, d, seed, init_std)
    rng = np.random.default_rng(seed)
    rng.standard_normal((2, V, d))  # the draws of init_weights: the rest of the stream as before
    R = np.stack([np.eye(d, dtype=np.float32)] * hops)
    model = KVMemN2N(vocab, A, Bm, R)
    counts = np.zeros(V, np.int64)
    for r in tr:
        counts[np.unique(enc.q_ids[r])] += 1
    trainable = (counts >= freeze_rare).astype(np.float32)
    rels = set(wm.load_kb().key_rel)
    trainable[[i for i, w in enumerate(vocab) if w in rels]] = 1.0
    trainable[0] = 0.0
    opt = Adam([model.A, model.B, model.R], lr)
    best = None
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        order = tr[rng.permutation(len(tr))]
        # Batches of similar memory counts: less padding.
        total, cnt = 0.0, 0
        for s in range(0, len(order), batch):
            rows = order[s : s + batch]
            loss, k, (dA, dB, dR) = _fwd_bwd(model, enc, rows)
            opt.step([dA * trainable[:, None], dB * trainable[:, None], dR], clip)
            model.A[0] = model.B[0] = 0.0
            total += loss
            cnt += k
        model._pair_cache = None  # the weights changed in place
        res = evaluate_scores(enc, model.scores(enc, rows=va), va)
        mark = ""
        if best is None or res["hits@1"] > best["val_hits@1"]:
            best = {
                "epoch": epoch,
                "val_hits@1": res["hits@1"],
                "val_map": res["map"],
                "w": (model.A.copy(), model.B.copy(), model.R.copy()),
            }
            mark = " *"
        log(
            f"epoch {epoch} loss {total / max(cnt, 1):.4f} val hits@1 {res['hits@1']:.4f} map {res['map']:.4f}"
            f" [{time.time() - t0:.0f}s]{mark}"
        )
    assert best is not None
    A, Bm, R = best.pop("w")
    best["seconds"] = round(time.time() - t0, 1)
    best["trained_words"] = int(trainable.sum())
    return KVMemN2N(vocab, A, Bm, R, meta={"init": {"seed": seed, "std": init_std}}), best
