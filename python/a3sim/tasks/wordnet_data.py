"""The data of the WordNet tasks (:mod:`a3sim.tasks.wordnet`): the committed subset of WordNet 3.0
(``workloads/wordnet/subset.jsonl``) and sentence embeddings with an on-disk cache."""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from a3sim._paths import workloads_dir
from a3sim.nn.attention import NumpyAttention

#: Cache identifier of the default encoder.
MINILM_ID = "all-MiniLM-L6-v2"

Encoder = Callable[[Sequence[str]], np.ndarray]


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Synset:
    """One WordNet synset of the committed subset (fields as in ``subset.jsonl``)."""

    id: str
    pos: str
    lemmas: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]
    sense_of: tuple[str, ...]
    retrieval: int | None


def subset_path() -> Path:
    """Path of the committed WordNet subset."""
    return workloads_dir() / "wordnet" / "subset.jsonl"


@lru_cache(maxsize=4)
def load_subset(path: str | Path | None = None) -> tuple[Synset, ...]:
    """Read the WordNet subset (one JSON object per line), in file order (sorted by id)."""
    p = Path(path) if path is not None else subset_path()
    out = []
    with open(p, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            out.append(
                Synset(
                    r["id"],
                    r["pos"],
                    tuple(r["lemmas"]),
                    r["definition"],
                    tuple(r["examples"]),
                    tuple(r["sense_of"]),
                    r["retrieval"],
                )
            )
    return tuple(out)


def sense_lemmas(synsets: Sequence[Synset] | None = None) -> dict[str, list[Synset]]:
    """The sense-matching lemmas, alphabetically, each with all its senses (sorted by id)."""
    synsets = load_subset() if synsets is None else synsets
    groups: dict[str, list[Synset]] = defaultdict(list)
    for s in synsets:
        for lemma in s.sense_of:
            groups[lemma].append(s)
    return {k: groups[k] for k in sorted(groups)}


def retrieval_store(n: int | None = None, synsets: Sequence[Synset] | None = None) -> list[Synset]:
    """The first ``n`` synsets of the retrieval store in rank order (all of them if ``n`` is None)."""
    synsets = load_subset() if synsets is None else synsets
    store = sorted((s for s in synsets if s.retrieval is not None), key=lambda s: s.retrieval)
    if n is not None:
        if n > len(store):
            raise ValueError(f"the retrieval store holds {len(store)} synsets, asked for {n}")
        store = store[:n]
    return store


# --------------------------------------------------------------------------------------------
# embeddings with an on-disk cache
# --------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$A3SIM_CACHE`` or ``~/.cache/a3sim``."""
    env = os.environ.get("A3SIM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "a3sim"


@lru_cache(maxsize=1)
def _minilm() -> Any:
    from a3sim.nn.minilm import MiniLM  # imported lazily: heavy, and optional for the stub tests

    return MiniLM()


def _default_encode(texts: Sequence[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 with exact host attention."""
    return _minilm().encode(list(texts), attention=NumpyAttention())


_default_encode.cache_id = MINILM_ID  # type: ignore[attr-defined]


def embed(texts: Sequence[str], encoder: Encoder | None = None, *, use_cache: bool = True) -> np.ndarray:
    """Embed ``texts`` as a ``(len(texts), D)`` float32 array.

    ``encoder`` is any callable ``texts -> (len, D)`` array; None means all-MiniLM-L6-v2. Results
    are cached as ``.npy`` under ``cache_dir()/embeddings``, keyed by the encoder's ``cache_id``
    attribute and a SHA-256 of the texts; an encoder without ``cache_id`` is never cached.
    """
    enc = _default_encode if encoder is None else encoder
    texts = list(texts)
    if not texts:
        raise ValueError("nothing to embed")
    model_id = getattr(enc, "cache_id", None)
    path = None
    if use_cache and model_id:
        h = hashlib.sha256()
        h.update(str(model_id).encode())
        for t in texts:
            h.update(b"\x00")
            h.update(t.encode("utf-8"))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(model_id))
        path = cache_dir() / "embeddings" / f"{safe}-{len(texts)}-{h.hexdigest()[:24]}.npy"
        if path.is_file():
            try:
                arr = np.load(path)
                if arr.shape[0] == len(texts):
                    return arr
            except (OSError, ValueError):
                pass
    arr = np.ascontiguousarray(enc(texts), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != len(texts):
        raise ValueError(f"encoder returned shape {arr.shape} for {len(texts)} texts")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    return arr


@lru_cache(maxsize=8)
def projection(d_in: int, d_out: int, seed: int = 0) -> np.ndarray:
    """A fixed ``(d_in, d_out)`` float32 matrix with orthonormal columns (QR of a seeded Gaussian)."""
    if not 0 < d_out <= d_in:
        raise ValueError(f"cannot project {d_in} dimensions to {d_out}")
    g = np.random.default_rng(seed).standard_normal((d_in, d_out))
    q, r = np.linalg.qr(g)
    q *= np.sign(np.diag(r))  # make the factorisation unique
    return q.astype(np.float32)


def _prepare(x: np.ndarray, dim: int | None, seed: int) -> np.ndarray:
    """Optionally project to ``dim`` and re-normalise rows to unit length (float32)."""
    x = np.asarray(x, dtype=np.float32)
    if dim is not None and dim != x.shape[-1]:
        x = x @ projection(x.shape[-1], dim, seed)
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)
