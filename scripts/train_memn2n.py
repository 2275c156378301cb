#!/usr/bin/env python3
"""Train MemN2N (Sukhbaatar et al. 2015) on a bAbI task and save weights for a3sim.nn.memn2n.

Training uses PyTorch (CPU), which is NOT a dependency of a3sim: install it in a separate venv::

    python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch==2.13.0 numpy
    /tmp/torch-venv/bin/python scripts/train_memn2n.py --task 1

The model and the data handling (parsing, vocabulary, position encoding, memory order, temporal
encoding, weight layout) are those of ``a3sim.nn.memn2n``, which this script imports; only the
forward pass is written again here, in torch, with a padded memory and a mask (padding is harmless
in training: masked slots get zero attention). After training, the saved weights are reloaded with
the numpy inference and its test predictions are checked to be identical to torch's.

Recipe: Adam, lr 0.01 halved every 20 epochs, gradient-norm clip 40, batch 32, embedding
N(0, 0.1) init, 10 % of the training file held out for validation (model selection picks the
softmax epoch with the best validation accuracy, then the lowest validation loss), optional linear
start (the first epochs without the hop softmax), optional random noise (empty memories inserted
in training, as in the paper's "RN"). Several seeds can be given; the one with the best validation
accuracy is saved.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from a3sim.nn import memn2n as mn  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("this script needs torch (a separate venv, see the module docstring)")


class Batches:
    """Training/evaluation tensors over a shared sentence table."""

    def __init__(self, examples, sent_index, memory_size):
        self.n = len(examples)
        self.mem = [
            np.array([sent_index[s] for s in ex.memories[max(0, len(ex.memories) - memory_size) :]], dtype=np.int64)
            for ex in examples
        ]
        self.q = np.array([sent_index[ex.question] for ex in examples], dtype=np.int64)
        self.memory_size = memory_size

    def arrays(self, rows, rng=None, noise=0.0):
        """Memory ids (B, M), ages (B, M), mask (B, M), question ids (B,) for some rows.

        Memories sit oldest first at slots 0..n-1; slot i has age n-1-i. With ``noise > 0`` an
        empty memory (sentence id 0, the empty sentence) is inserted before each memory with that
        probability, and the last ``memory_size`` slots are kept.
        """
        M = self.memory_size
        B = len(rows)
        mem = np.zeros((B, M), dtype=np.int64)
        age = np.zeros((B, M), dtype=np.int64)
        mask = np.zeros((B, M), dtype=bool)
        for b, r in enumerate(rows):
            m = self.mem[r]
            if noise > 0 and len(m):
                ins = rng.random(len(m)) < noise
                if ins.any():
                    m = np.insert(m, np.flatnonzero(ins), 0)[-M:]
            n = len(m)
            mem[b, :n] = m
            age[b, :n] = np.arange(n - 1, -1, -1)
            mask[b, :n] = True
        return (torch.from_numpy(mem), torch.from_numpy(age), torch.from_numpy(mask), torch.from_numpy(self.q[rows]))


def forward(E, T, ids, pe, mem, age, mask, q, softmax=True):
    """Answer logits (B, V). E (H+1, V, d), T (H+1, M, d), ids/pe: the sentence table."""
    hops = E.shape[0] - 1
    enc = (E[:, ids] * pe).sum(2)  # (H+1, U, d)
    u = enc[0][q]
    for h in range(hops):
        k = enc[h][mem] + T[h][age]
        v = enc[h + 1][mem] + T[h + 1][age]
        s = (k @ u[:, :, None]).squeeze(-1)
        if softmax:
            p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        else:
            p = s * mask
        u = u + (p[:, :, None] * v).sum(1)
    return u @ E[hops].T


def evaluate(E, T, ids, pe, data, answers, batch=1000):
    with torch.no_grad():
        preds, loss = [], 0.0
        for s in range(0, data.n, batch):
            rows = np.arange(s, min(data.n, s + batch))
            logits = forward(E, T, ids, pe, *data.arrays(rows))
            loss += torch.nn.functional.cross_entropy(logits, answers[rows], reduction="sum").item()
            preds.append(logits.argmax(1).numpy())
        preds = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
        return float(np.mean(preds == answers.numpy())), loss / max(1, data.n), preds


def train_one(args, seed, train_ex, val_ex, test_ex, vocab, log):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d, hops, M = args.dim, args.hops, args.memory_size
    word_index = {w: i for i, w in enumerate(vocab)}
    sentences = [()]  # sentence 0: the empty sentence (noise memories)
    sent_index = {(): 0}
    for ex in train_ex + val_ex + test_ex:
        for s in ex.memories + (ex.question,):
            if s not in sent_index:
                sent_index[s] = len(sentences)
                sentences.append(s)
    ids_np, pe_np = mn.sentence_table(sentences, word_index, d)
    ids, pe = torch.from_numpy(ids_np), torch.from_numpy(pe_np)
    tr, va, te = (Batches(x, sent_index, M) for x in (train_ex, val_ex, test_ex))
    ans = [torch.tensor([word_index[ex.answer] for ex in x], dtype=torch.int64) for x in (train_ex, val_ex, test_ex)]

    V = len(vocab)
    E = torch.randn(hops + 1, V, d) * args.init_std
    E[:, 0] = 0.0
    T = torch.randn(hops + 1, M, d) * args.init_std
    E.requires_grad_(True)
    T.requires_grad_(True)
    opt = torch.optim.Adam([E, T], lr=args.lr)
    best = None
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        lr = args.lr * (0.5 ** ((epoch - 1) // args.decay_every))
        for g in opt.param_groups:
            g["lr"] = lr
        linear = epoch <= args.linear_start
        order = rng.permutation(tr.n)
        total = 0.0
        for s in range(0, tr.n, args.batch):
            rows = order[s : s + args.batch]
            logits = forward(E, T, ids, pe, *tr.arrays(rows, rng, args.noise), softmax=not linear)
            loss = torch.nn.functional.cross_entropy(logits, ans[0][rows])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([E, T], args.clip)
            opt.step()
            with torch.no_grad():
                E[:, 0] = 0.0
            total += loss.item() * len(rows)
        va_acc, va_loss, _ = evaluate(E, T, ids, pe, va, ans[1])
        tr_acc = float("nan")
        if epoch % 10 == 0 or epoch == args.epochs:
            tr_acc, _, _ = evaluate(E, T, ids, pe, tr, ans[0])
        mark = ""
        if not linear and (best is None or (va_acc, -va_loss) > (best["val_acc"], -best["val_loss"])):
            best = dict(epoch=epoch, val_acc=va_acc, val_loss=va_loss, E=E.detach().clone(), T=T.detach().clone())
            mark = " *"
        log(
            f"  seed {seed} epoch {epoch:3d} lr {lr:.5f} {'linear ' if linear else ''}train loss {total / tr.n:.4f}"
            f" acc {tr_acc:.4f} val loss {va_loss:.4f} acc {va_acc:.4f} [{time.time() - t0:.0f}s]{mark}"
        )
    te_acc, te_loss, te_pred = evaluate(best["E"], best["T"], ids, pe, te, ans[2])
    best.update(test_acc=te_acc, test_loss=te_loss, test_pred=te_pred, seed=seed, seconds=time.time() - t0)
    log(f"seed {seed}: best epoch {best['epoch']} val acc {best['val_acc']:.4f} test acc {te_acc:.4f}")
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="1, 2 or 3")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--decay-every", type=int, default=20, help="halve lr every this many epochs")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--clip", type=float, default=40.0, help="gradient-norm clip")
    p.add_argument("--linear-start", type=int, default=0, help="epochs without the hop softmax")
    p.add_argument("--noise", type=float, default=0.0, help="random-noise empty-memory rate (paper: 0.1)")
    p.add_argument("--hops", type=int, default=3)
    p.add_argument("--dim", type=int, default=20)
    p.add_argument("--memory-size", type=int, default=mn.MEMORY_SIZE)
    p.add_argument("--init-std", type=float, default=0.1)
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1, help="torch threads (fixed for reproducibility)")
    p.add_argument("--out", type=Path, default=None, help="default workloads/memn2n/qa{task}.npz")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    task = mn.task_id(args.task)
    out = args.out or ROOT / "workloads" / "memn2n" / f"qa{task}.npz"
    log = lambda s: print(s, flush=True)  # noqa: E731

    train_all = mn.load_examples(task, "train", args.memory_size)
    test_ex = mn.load_examples(task, "test", args.memory_size)
    vocab = mn.build_vocab(train_all)  # training file only; unseen test words would map to nil
    split_rng = np.random.default_rng(12345)  # the same validation split for every seed
    perm = split_rng.permutation(len(train_all))
    n_val = int(round(args.val_frac * len(train_all)))
    val_ex = [train_all[i] for i in sorted(perm[:n_val])]
    train_ex = [train_all[i] for i in sorted(perm[n_val:])]
    log(f"task qa{task}: {len(train_ex)} train, {len(val_ex)} validation, {len(test_ex)} test, vocabulary {len(vocab)}")

    runs = [train_one(args, s, train_ex, val_ex, test_ex, vocab, log) for s in args.seeds]
    best = max(runs, key=lambda r: (r["val_acc"], -r["val_loss"]))
    for r in runs:
        log(f"  seed {r['seed']}: epoch {r['epoch']} val {r['val_acc']:.4f} test {r['test_acc']:.4f}")
    hyper = {k: v for k, v in vars(args).items() if k not in ("out", "task", "seeds")}
    meta = dict(
        task=f"qa{task}",
        trainer="scripts/train_memn2n.py (torch %s)" % torch.__version__,
        command="train_memn2n.py " + " ".join(sys.argv[1:] if argv is None else argv),
        hyperparameters=hyper,
        seed=best["seed"],
        seeds_tried={
            str(r["seed"]): dict(val_acc=r["val_acc"], test_acc=r["test_acc"], epoch=r["epoch"]) for r in runs
        },
        best_epoch=best["epoch"],
        val_acc=best["val_acc"],
        test_acc=best["test_acc"],
        encoding="bag of words with position encoding; temporal encoding by age (0 = most recent)",
        weight_tying="adjacent",
    )
    model = mn.MemN2N(vocab, best["E"].numpy(), best["T"].numpy(), memory_size=args.memory_size, meta=meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    # The numpy inference must give the same predictions as torch.
    reloaded = mn.MemN2N.from_npz(out)
    np_pred = reloaded.predict(test_ex)
    diff = int(np.sum(np_pred != best["test_pred"]))
    np_acc = reloaded.accuracy(test_ex)
    log(
        f"saved {out} ({out.stat().st_size} bytes): seed {best['seed']} epoch {best['epoch']} val {best['val_acc']:.4f}"
        f" test {best['test_acc']:.4f}; numpy inference test {np_acc:.4f}, {diff} predictions differ from torch"
    )
    if diff:
        sys.exit("numpy and torch predictions differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
