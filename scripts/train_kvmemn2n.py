#!/usr/bin/env python3
"""Train KV-MemN2N on the rebuilt WikiMovies KB (dev questions) in numpy and save the weights.

    OPENBLAS_NUM_THREADS=1 nice python scripts/train_kvmemn2n.py

Writes ``workloads/kvmemn2n/wikimovies.npz`` (float16 weights) and ``results.json`` beside it with
the validation figures and the test hits@1 / MAP of exact attention (numpy) of the saved weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from a3sim.nn import kvmemn2n as kv  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--hops", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--init-std", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--freeze-rare", type=int, default=3, help="words in fewer training questions keep their init")
    p.add_argument("--out", type=Path, default=ROOT / "workloads" / "kvmemn2n")
    args = p.parse_args(argv)
    t0 = time.time()
    model, best = kv.train(
        d=args.d,
        hops=args.hops,
        epochs=args.epochs,
        lr=args.lr,
        init_std=args.init_std,
        seed=args.seed,
        freeze_rare=args.freeze_rare,
        log=lambda s: print(s, flush=True),
    )
    model = model.rounded()
    enc = kv.encode("test", model.vocab)
    test = kv.evaluate_scores(enc, model.scores(enc))
    model.meta = dict(
        model.meta,
        trainer="scripts/train_kvmemn2n.py (numpy, a3sim.nn.kvmemn2n.train)",
        command="train_kvmemn2n.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        hyperparameters=vars(args) | {"out": None},
        best_epoch=best["epoch"],
        val_hits1=best["val_hits@1"],
        val_map=best["val_map"],
        test_hits1=test["hits@1"],
        test_map=test["map"],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "wikimovies.npz"
    model.save(path)
    again = kv.KVMemN2N.from_npz(path)
    check = kv.evaluate_scores(enc, again.scores(enc))
    if abs(check["hits@1"] - test["hits@1"]) > 1e-12:
        sys.exit("reloaded weights give a different test hits@1")
    (args.out / "results.json").write_text(
        json.dumps(model.meta | {"seconds": round(time.time() - t0), "bytes": path.stat().st_size}, indent=1) + "\n"
    )
    print(f"test hits@1 {test['hits@1']:.4f} MAP {test['map']:.4f}; saved {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
