#!/usr/bin/env python3
"""Extract the committed WordNet 3.0 subset used by :mod:`a3sim.tasks.wordnet`.

Reads the Princeton WordNet 3.0 database files (Debian package ``wordnet-base``:
``/usr/share/wordnet/data.{noun,verb,adj,adv}``, latin-1) and writes

* ``workloads/wordnet/subset.jsonl``: one synset per line, sorted by id, with the fields
  ``id`` (pos letter + 8-digit offset, e.g. ``n02084071``; the pos letter is the data file's:
  n, v, a, r), ``pos`` (the synset type: n, v, a, s (adjective satellite), r), ``lemmas`` (words
  as written in WordNet, underscores for spaces, adjective markers such as ``(a)`` removed),
  ``definition``, ``examples`` (the quoted example sentences, without quotes and attributions),
  ``sense_of`` (the sense-matching lemmas this synset is a sense of; may be empty) and
  ``retrieval`` (rank of the synset in the retrieval store, or null if not in it).
* ``workloads/wordnet/LICENSE``: the WordNet 3.0 licence, copied from the data file header.

Selection (deterministic, ``random.Random(seed)``):

* Sense matching: a *lemma* is a lower-cased word form over all parts of speech (so "bank" covers
  its noun and verb senses). Eligible lemmas have at least two senses with example sentences.
  ``--lemmas`` of them are sampled; for each, *all* its senses are stored (senses without examples
  stay as distractor keys).
* Retrieval: ``--retrieval`` synsets are sampled among all synsets with examples; ``retrieval``
  gives each its rank in the sample, so the first N ranks form the N-synset store.

Usage (from the repository root)::

    python3 scripts/extract_wordnet.py            # defaults: --seed 2020 --lemmas 300 --retrieval 5000

Only the Python standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

WORDNET_DIR = Path("/usr/share/wordnet")
DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "workloads" / "wordnet"

_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
_LICENSE_LINE = re.compile(r"^  ?\d+ ?(.*?)\s*$")


@dataclass
class Synset:
    """One parsed WordNet synset."""

    id: str
    pos: str
    lemmas: list[str]
    definition: str
    examples: list[str]
    sense_of: list[str] = field(default_factory=list)
    retrieval: int | None = None


def split_gloss(gloss: str) -> tuple[str, list[str]]:
    """Split a WordNet gloss into its definition and its example sentences.

    The gloss is ``definition; "example"; "example"`` where the definition may itself contain
    ``;``. Parts are split at ``;`` outside double quotes; parts starting with a quote are
    examples (the text between the first and the last quote, so trailing attributions such as
    ``- Henry Miller`` are dropped). A few glosses write ``definition: "example"``; a definition
    part ending in a quoted string introduced by ``:`` is split there too.
    """
    parts: list[str] = []
    cur: list[str] = []
    in_quote = False
    for ch in gloss:
        if ch == '"':
            in_quote = not in_quote
        if ch == ";" and not in_quote:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())

    definition: list[str] = []
    examples: list[str] = []
    for part in parts:
        if not part:
            continue
        if part.startswith('"'):
            body = part[1:]
            end = body.rfind('"')
            text = (body[:end] if end >= 0 else body).strip()
            if text:
                examples.append(text)
        elif not examples:
            colon = part.find(': "')
            if colon > 0 and part.endswith('"') and part.count('"') == 2:
                definition.append(part[:colon].strip())
                text = part[colon + 3 : -1].strip()
                if text:
                    examples.append(text)
            else:
                definition.append(part)
        # text after the examples (rare stray remarks) is dropped
    return "; ".join(definition), examples


def parse_data_file(path: Path, file_pos: str) -> list[Synset]:
    """Parse one ``data.*`` file (skipping the licence header lines, which start with spaces)."""
    out: list[Synset] = []
    with open(path, encoding="latin-1") as fh:
        for line in fh:
            if line.startswith(" "):
                continue
            head, sep, gloss = line.partition(" | ")
            if not sep:
                continue
            tok = head.split()
            offset, ss_type, w_cnt = tok[0], tok[2], int(tok[3], 16)
            words = [_ADJ_MARKER.sub("", tok[4 + 2 * i]) for i in range(w_cnt)]
            definition, examples = split_gloss(gloss.strip())
            out.append(Synset(f"{file_pos}{offset}", ss_type, words, definition, examples))
    return out


def read_license(path: Path) -> str:
    """The licence text of a data file header, line numbers and trailing blanks removed."""
    lines = []
    with open(path, encoding="latin-1") as fh:
        for line in fh:
            if not line.startswith(" "):
                break
            m = _LICENSE_LINE.match(line.rstrip("\n"))
            lines.append(m.group(1) if m else line.strip())
    return "\n".join(lines).strip() + "\n"


def select(synsets: list[Synset], *, seed: int, n_lemmas: int, n_retrieval: int) -> list[Synset]:
    """Mark the sense-matching and retrieval subsets; return the selected synsets sorted by id."""
    rng = random.Random(seed)
    by_id = {s.id: s for s in synsets}

    senses: dict[str, list[str]] = defaultdict(list)
    for s in synsets:
        for lemma in sorted({w.lower() for w in s.lemmas}):
            senses[lemma].append(s.id)
    eligible = sorted(l for l, ids in senses.items() if sum(1 for i in ids if by_id[i].examples) >= 2)
    chosen = sorted(rng.sample(eligible, n_lemmas))
    for lemma in chosen:
        for sid in senses[lemma]:
            by_id[sid].sense_of.append(lemma)

    with_examples = sorted(s.id for s in synsets if s.examples)
    for rank, sid in enumerate(rng.sample(with_examples, n_retrieval)):
        by_id[sid].retrieval = rank

    return sorted((s for s in synsets if s.sense_of or s.retrieval is not None), key=lambda s: s.id)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet", type=Path, default=WORDNET_DIR, help="folder of data.noun etc.")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--lemmas", type=int, default=300, help="sense-matching lemmas")
    ap.add_argument("--retrieval", type=int, default=5000, help="retrieval-store synsets")
    args = ap.parse_args(argv)

    synsets: list[Synset] = []
    for pos, name in DATA_FILES.items():
        synsets += parse_data_file(args.wordnet / name, pos)
    chosen = select(synsets, seed=args.seed, n_lemmas=args.lemmas, n_retrieval=args.retrieval)

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "subset.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for s in chosen:
            fh.write(
                json.dumps(
                    {
                        "id": s.id,
                        "pos": s.pos,
                        "lemmas": s.lemmas,
                        "definition": s.definition,
                        "examples": s.examples,
                        "sense_of": s.sense_of,
                        "retrieval": s.retrieval,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    (args.out / "LICENSE").write_text(read_license(args.wordnet / DATA_FILES["n"]), encoding="utf-8")

    n_ex = sum(1 for s in synsets if s.examples)
    n_sense = sum(1 for s in chosen if s.sense_of)
    n_ret = sum(1 for s in chosen if s.retrieval is not None)
    print(
        f"parsed {len(synsets)} synsets ({n_ex} with examples); wrote {len(chosen)} "
        f"({n_sense} sense-matching senses of {args.lemmas} lemmas, {n_ret} retrieval)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
