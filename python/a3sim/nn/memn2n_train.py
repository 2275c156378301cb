"""Training of MemN2N (Sukhbaatar et al. 2015) in numpy, with hand-written gradients.

The model is exactly the one :class:`a3sim.nn.memn2n.MemN2N` runs (bag of words with position
encoding, temporal encoding by age, adjacent weight tying, the nil word 0 kept at zero), so the
trained arrays are saved with :meth:`MemN2N.save` and read back for inference unchanged.

Training follows the paper's recipe: Adam (the paper used SGD; Adam reaches the same accuracy in
fewer epochs), learning rate halved every ``decay_every`` epochs, gradient-norm clip, linear start
(LS: the first epochs without the hop softmax), random noise (RN: empty memories inserted at a
rate), 10 % of the training file held out for validation, and the model of the epoch with the best
validation accuracy (then lowest validation loss) kept.

A batch gathers the distinct sentences it uses, encodes them once per embedding matrix, and pads
the memories to the batch's largest count with a mask (masked slots get zero attention, so padding
does not change the result). Everything is vectorised over the batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import memn2n as mn

__all__ = ["TrainConfig", "Adam", "train_memn2n"]


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`train_memn2n` (the defaults are the recipe used for bAbI-20)."""

    epochs: int = 60
    lr: float = 0.01
    decay_every: int = 15
    batch: int = 32
    clip: float = 40.0
    linear_start: int = 10
    noise: float = 0.1
    hops: int = 3
    dim: int = 20
    memory_size: int = mn.MEMORY_SIZE
    init_std: float = 0.1
    val_frac: float = 0.1
    seed: int = 0
    extra: dict = field(default_factory=dict)


class Adam:
    """Adam on a list of float32 arrays, updated in place."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.params = list(params)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0

    def step(self, grads: Sequence[np.ndarray], clip: float | None = None) -> None:
        if clip is not None:
            norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
            if norm > clip:
                grads = [g * (clip / norm) for g in grads]
        self.t += 1
        a = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= (a * m / (np.sqrt(v) + self.eps)).astype(p.dtype)


class _Data:
    """Examples as sentence-id arrays over a shared sentence table."""

    def __init__(self, examples: Sequence[mn.Example], sent_index: dict, word_index: dict, M: int):
        self.n = len(examples)
        self.mem = [
            np.array([sent_index[s] for s in ex.memories[max(0, len(ex.memories) - M) :]], dtype=np.int64)
            for ex in examples
        ]
        self.q = np.array([sent_index[ex.question] for ex in examples], dtype=np.int64)
        self.ans = np.array([word_index.get(ex.answer, 0) for ex in examples], dtype=np.int64)
        self.M = M

    def batch(self, rows: np.ndarray, rng: np.random.Generator | None = None, noise: float = 0.0):
        """Memory sentence ids (B, m), ages (B, m), mask (B, m), question ids (B,), answers (B,)."""
        mems = []
        for r in rows:
            m = self.mem[r]
            if noise > 0 and rng is not None and len(m):
                ins = rng.random(len(m)) < noise
                if ins.any():
                    m = np.insert(m, np.flatnonzero(ins), 0)[-self.M :]  # sentence 0 = empty
            mems.append(m)
        width = max([len(m) for m in mems] + [1])
        B = len(rows)
        mem = np.zeros((B, width), dtype=np.int64)
        age = np.zeros((B, width), dtype=np.int64)
        mask = np.zeros((B, width), dtype=bool)
        for b, m in enumerate(mems):
            n = len(m)
            mem[b, :n] = m
            age[b, :n] = np.arange(n - 1, -1, -1)
            mask[b, :n] = True
        return mem, age, mask, self.q[rows], self.ans[rows]


def _forward_backward(E, T, ids, pe, mem, age, mask, q, ans, softmax: bool, want_grad: bool):
    """Loss (sum over the batch), logits, and (if asked) gradients of E and T (mean over batch)."""
    H = E.shape[0] - 1
    B = len(q)
    used, inv = np.unique(np.concatenate([mem.ravel(), q]), return_inverse=True)
    mem_l = inv[: mem.size].reshape(mem.shape)
    q_l = inv[mem.size :]
    sid, spe = ids[used], pe[used]  # (S, L), (S, L, d)
    enc = (E[:, sid] * spe[None]).sum(axis=2)  # (H+1, S, d)
    u = enc[0][q_l]
    us, ps, Ks, Vs = [u], [], [], []
    maskf = mask.astype(np.float32)
    for h in range(H):
        K = enc[h][mem_l] + T[h][age]
        V = enc[h + 1][mem_l] + T[h + 1][age]
        s = np.einsum("bnd,bd->bn", K, u)
        if softmax:
            s = np.where(mask, s, -np.inf)
            s -= s.max(axis=1, keepdims=True)
            p = np.exp(s) * maskf
            p /= p.sum(axis=1, keepdims=True)
        else:
            p = s * maskf
        u = u + np.einsum("bn,bnd->bd", p, V)
        us.append(u)
        ps.append(p)
        Ks.append(K)
        Vs.append(V)
    W = E[H]
    logits = u @ W.T
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    loss = float(np.sum(lse - z[np.arange(B), ans]))
    if not want_grad:
        return loss, logits, None
    prob = np.exp(z - lse[:, None])
    prob[np.arange(B), ans] -= 1.0
    dlog = (prob / B).astype(np.float32)
    dE = np.zeros_like(E)
    dT = np.zeros_like(T)
    denc = np.zeros_like(enc)
    dE[H] += dlog.T @ u
    du = dlog @ W
    for h in range(H - 1, -1, -1):
        p, K, V, uh = ps[h], Ks[h], Vs[h], us[h]
        dV = p[:, :, None] * du[:, None, :]
        dp = np.einsum("bnd,bd->bn", V, du)
        if softmax:
            ds = p * (dp - (p * dp).sum(axis=1, keepdims=True))
        else:
            ds = dp * maskf
        dK = ds[:, :, None] * uh[:, None, :]
        du = du + np.einsum("bn,bnd->bd", ds, K)
        dK *= maskf[:, :, None]
        dV *= maskf[:, :, None]
        flat = mem_l.ravel()
        np.add.at(denc[h], flat, dK.reshape(-1, dK.shape[2]))
        np.add.at(denc[h + 1], flat, dV.reshape(-1, dV.shape[2]))
        np.add.at(dT[h], age.ravel(), dK.reshape(-1, dK.shape[2]))
        np.add.at(dT[h + 1], age.ravel(), dV.reshape(-1, dV.shape[2]))
    np.add.at(denc[0], q_l, du)
    S, L = sid.shape
    for h in range(H + 1):
        np.add.at(dE[h], sid.ravel(), (denc[h][:, None, :] * spe).reshape(S * L, -1))
    dE[:, 0] = 0.0
    return loss, logits, (dE, dT)


def _evaluate(E, T, ids, pe, data: _Data, batch: int = 500):
    preds, loss = [], 0.0
    for s in range(0, data.n, batch):
        rows = np.arange(s, min(data.n, s + batch))
        mem, age, mask, q, ans = data.batch(rows)
        l, logits, _ = _forward_backward(E, T, ids, pe, mem, age, mask, q, ans, True, False)
        loss += l
        preds.append(logits.argmax(axis=1))
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    return float(np.mean(pred == data.ans)), loss / max(1, data.n), pred


def train_memn2n(
    train_all: Sequence[mn.Example],
    test: Sequence[mn.Example],
    cfg: TrainConfig,
    log: Callable[[str], None] | None = None,
) -> tuple[mn.MemN2N, dict]:
    """Train one MemN2N on ``train_all`` (10 % held out for validation); return the model of the
    best validation epoch and a summary (validation and test accuracy, epoch, seconds)."""
    log = log or (lambda s: None)
    vocab = mn.build_vocab(train_all)
    word_index = {w: i for i, w in enumerate(vocab)}
    split_rng = np.random.default_rng(12345)  # the same validation split for every seed
    perm = split_rng.permutation(len(train_all))
    n_val = int(round(cfg.val_frac * len(train_all)))
    val_ex = [train_all[i] for i in sorted(perm[:n_val])]
    tr_ex = [train_all[i] for i in sorted(perm[n_val:])]
    sentences: list[tuple[str, ...]] = [()]
    sent_index: dict = {(): 0}
    for ex in list(train_all) + list(test):
        for s in ex.memories + (ex.question,):
            if s not in sent_index:
                sent_index[s] = len(sentences)
                sentences.append(s)
    d, H, M = cfg.dim, cfg.hops, cfg.memory_size
    ids, pe = mn.sentence_table(sentences, word_index, d)
    tr, va, te = (_Data(x, sent_index, word_index, M) for x in (tr_ex, val_ex, test))
    rng = np.random.default_rng(cfg.seed)
    E = (rng.standard_normal((H + 1, len(vocab), d)) * cfg.init_std).astype(np.float32)
    E[:, 0] = 0.0
    T = (rng.standard_normal((H + 1, M, d)) * cfg.init_std).astype(np.float32)
    opt = Adam([E, T], cfg.lr)
    best: dict | None = None
    t0 = time.time()
    for epoch in range(1, cfg.epochs + 1):
        linear = epoch <= cfg.linear_start
        opt.lr = cfg.lr * (0.5 ** ((epoch - 1 - cfg.linear_start if not linear else 0) // cfg.decay_every))
        order = rng.permutation(tr.n)
        total = 0.0
        for s in range(0, tr.n, cfg.batch):
            rows = order[s : s + cfg.batch]
            mem, age, mask, q, ans = tr.batch(rows, rng, cfg.noise)
            l, _, (dE, dT) = _forward_backward(E, T, ids, pe, mem, age, mask, q, ans, not linear, True)
            opt.step([dE, dT], cfg.clip)
            E[:, 0] = 0.0
            total += l
        va_acc, va_loss, _ = _evaluate(E, T, ids, pe, va)
        mark = ""
        if not linear and (best is None or (va_acc, -va_loss) > (best["val_acc"], -best["val_loss"])):
            best = dict(epoch=epoch, val_acc=va_acc, val_loss=va_loss, E=E.copy(), T=T.copy())
            mark = " *"
        log(
            f"  seed {cfg.seed} epoch {epoch:3d} lr {opt.lr:.5f}{' linear' if linear else ''} train loss "
            f"{total / tr.n:.4f} val loss {va_loss:.4f} acc {va_acc:.3f} [{time.time() - t0:.0f}s]{mark}"
        )
    assert best is not None, "epochs must exceed linear_start"
    te_acc, te_loss, _ = _evaluate(best["E"], best["T"], ids, pe, te)
    summary = dict(
        epoch=best["epoch"],
        val_acc=best["val_acc"],
        val_loss=best["val_loss"],
        test_acc=te_acc,
        test_loss=te_loss,
        seed=cfg.seed,
        seconds=round(time.time() - t0, 1),
    )
    model = mn.MemN2N(vocab, best["E"], best["T"], memory_size=M, meta={})
    return model, summary
