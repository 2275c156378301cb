"""WikiMovies for KV-MemN2N: a knowledge base rebuilt from the released questions, and per-question
key-value memories at the paper's scale (n of about 186 on average).

The WikiMovies release (Miller et al. 2016, CC BY 3.0; ``workloads/wikimovies/``) is here without
its knowledge-base file and without its training questions. Every per-relation question file
(``questions/wiki_entities/categories/*``) states facts of one relation, so its question-answer
pairs give ``(movie, relation, object)`` triples: "who directed Blade Runner? Ridley Scott" is
``(Blade Runner, directed_by, Ridley Scott)``, "what movies did X act in? A, B" is
``(A, starred_actors, X)`` and ``(B, starred_actors, X)``. The dev and test files of all 13
relations together give the rebuilt KB.

Key-value memories follow Miller et al.: each triple gives two pairs, key ``subject relation`` ->
value ``object`` and key ``object relation_rev`` -> value ``subject``. A question's memory is
chosen by key hashing:

1. **entity match**: every pair whose key entity is the question's entity (the longest entity of
   the release's entity list found in the question text);
2. **word match** (distractors): pairs whose key entity shares a word with the question, words
   taken rarest first (document frequency over the key entities), until the memory holds
   ``target`` pairs; ``target`` is drawn per question from a fixed distribution (:data:`N_TARGET`),
   seeded by the question's index, so that the memories have the paper's scale;
3. if the word matches run out: pairs drawn at random from the rest of the KB.

Nothing in steps 2-3 looks at the answer; the pairs of step 1 always hold the answer when the KB
has it (it does for every question whose entity is found: the KB was built from these questions,
so hits@1 measures relation and entity matching, not KB coverage). The memory is shuffled with a
seeded permutation, so the answer's position carries no information.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["RELATIONS", "N_TARGET", "Question", "KB", "load_kb", "load_questions", "build_memories", "data_dir"]

#: Category file -> (relation, direction): "fwd" when the question names the movie (answer =
#: object), "rev" when it names the object (answer = the movies).
RELATIONS: dict[str, tuple[str, str]] = {
    "movie_to_actors": ("starred_actors", "fwd"),
    "movie_to_director": ("directed_by", "fwd"),
    "movie_to_writer": ("written_by", "fwd"),
    "movie_to_genre": ("has_genre", "fwd"),
    "movie_to_imdbrating": ("has_imdb_rating", "fwd"),
    "movie_to_imdbvotes": ("has_imdb_votes", "fwd"),
    "movie_to_language": ("in_language", "fwd"),
    "movie_to_tags": ("has_tags", "fwd"),
    "movie_to_year": ("release_year", "fwd"),
    "actor_to_movie": ("starred_actors", "rev"),
    "director_to_movie": ("directed_by", "rev"),
    "writer_to_movie": ("written_by", "rev"),
    "tag_to_movie": ("has_tags", "rev"),
}

#: Per-question memory size target: normal(mean, sd) clipped to [lo, hi] (the paper's KV-MemN2N
#: workload has n of 186 on average).
N_TARGET = dict(mean=186.0, sd=40.0, lo=100, hi=300)

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an the of in on at to for by with and or is was are were be been did does do what which who whom "
    "whose when where how why movie movies film films it its this that about as from into than then there "
    "these those person people".split()
)


def data_dir() -> Path:
    from a3sim._paths import workloads_dir

    return workloads_dir() / "wikimovies"


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Question:
    """One WikiMovies question: text, answers (entity names) and the entity found in it."""

    text: str
    answers: tuple[str, ...]
    entity: str | None


@dataclass
class KB:
    """The rebuilt knowledge base as key-value pairs.

    Attributes:
        key_entity: per pair, the entity of its key (subject, or object for a reverse pair).
        key_rel: per pair, the relation token (``directed_by`` or ``directed_by_rev``).
        value: per pair, the value entity.
        by_entity: entity (lower case) -> indices of the pairs keyed by it.
        entities: the entity names (lower case) of the release's list, for matching questions.
        triples: the distinct (subject, relation, object) triples.
    """

    key_entity: list[str]
    key_rel: list[str]
    value: list[str]
    by_entity: dict[str, list[int]]
    entities: frozenset[str]
    triples: list[tuple[str, str, str]]

    def __len__(self) -> int:
        return len(self.value)


def _split_answers(text: str, entities: frozenset[str]) -> list[str]:
    """Answer lists are comma-separated, but titles may hold commas ("Ciao, Professore!"): merge
    neighbouring pieces greedily when the merge is a known entity."""
    parts = [p.strip() for p in text.split(", ")]
    out: list[str] = []
    i = 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            cand = ", ".join(parts[i:j])
            if j == i + 1 or cand.lower() in entities:
                out.append(cand)
                i = j
                break
    return [a for a in out if a]


@lru_cache(maxsize=1)
def _entities() -> frozenset[str]:
    path = data_dir() / "knowledge_source" / "entities.txt"
    return frozenset(line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


class _Matcher:
    """Longest entity of a set found in a text at word boundaries (entities made only of stop
    words, such as the titles "the movie", "what?" or "film", are not matched)."""

    def __init__(self, entities: frozenset[str]) -> None:
        self.names: dict[tuple[str, ...], str] = {}
        for e in sorted(entities):
            toks = tuple(words(e))
            if toks and not set(toks) <= STOPWORDS:
                self.names.setdefault(toks, e)
        self.max_len = max(len(t) for t in self.names)

    def find(self, text: str) -> str | None:
        toks = words(text)
        best: tuple[str, ...] | None = None
        for i in range(len(toks)):
            for L in range(min(self.max_len, len(toks) - i), 0 if best is None else len(best), -1):
                cand = tuple(toks[i : i + L])
                if cand in self.names:
                    best = cand
                    break
        return None if best is None else self.names[best]


def _read_qa(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            continue
        q, a = line.split("\t", 1)
        out.append((q.partition(" ")[2].strip(), a.strip()))
    return out


@lru_cache(maxsize=1)
def load_kb() -> KB:
    """The KB rebuilt from the dev and test per-relation question files (see the module doc)."""
    ents = _entities()
    cat = data_dir() / "questions" / "wiki_entities" / "categories"
    triples: set[tuple[str, str, str]] = set()
    for name, (rel, direction) in RELATIONS.items():
        for split in ("dev", "test"):
            path = cat / f"wiki-entities_qa_{name}_{split}.txt"
            matcher = _kb_matcher(ents)
            for q, a in _read_qa(path):
                topic = matcher.find(q)
                if topic is None:
                    continue
                for ans in _split_answers(a, ents):
                    ans = ans.lower()
                    triples.add((topic, rel, ans) if direction == "fwd" else (ans, rel, topic))
    key_entity, key_rel, value = [], [], []
    for s, r, o in sorted(triples):
        key_entity += [s, o]
        key_rel += [r, r + "_rev"]
        value += [o, s]
    by_entity: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(key_entity):
        by_entity[e].append(i)
    return KB(key_entity, key_rel, value, dict(by_entity), ents, sorted(triples))


@lru_cache(maxsize=2)
def _kb_matcher(ents: frozenset[str]) -> _Matcher:
    return _Matcher(ents)


@lru_cache(maxsize=4)
def load_questions(split: str) -> tuple[Question, ...]:
    """The questions of the main ``dev`` (10,000) or ``test`` (9,952) file, with their entity."""
    if split not in ("dev", "test"):
        raise ValueError("split must be 'dev' or 'test'")
    ents = _entities()
    matcher = _kb_matcher(ents)
    path = data_dir() / "questions" / "wiki_entities" / f"wiki-entities_qa_{split}.txt"
    return tuple(
        Question(q, tuple(a.lower() for a in _split_answers(ans, ents)), matcher.find(q)) for q, ans in _read_qa(path)
    )


@lru_cache(maxsize=1)
def _word_index(kb_len: int) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """word -> pair indices whose key entity holds the word; word -> number of key entities."""
    kb = load_kb()
    ent_words = {e: set(words(e)) - STOPWORDS for e in kb.by_entity}
    df: dict[str, int] = defaultdict(int)
    pairs: dict[str, list[int]] = defaultdict(list)
    for e, ws in ent_words.items():
        for w in ws:
            df[w] += 1
            pairs[w].extend(kb.by_entity[e])
    return {w: np.array(v, dtype=np.int64) for w, v in pairs.items()}, dict(df)


def memory_target(index: int, split: str) -> int:
    """The memory size drawn for question ``index`` of ``split`` (seeded, answer-blind)."""
    rng = np.random.default_rng([index, 0 if split == "dev" else 1, 186])
    t = rng.normal(N_TARGET["mean"], N_TARGET["sd"])
    return int(np.clip(round(t), N_TARGET["lo"], N_TARGET["hi"]))


def build_memories(split: str, limit: int | None = None, sources: dict | None = None) -> list[np.ndarray]:
    """Per question, the indices of its key-value pairs in :func:`load_kb` (key hashing, see the
    module doc), in a seeded random order. ``sources``, if given, receives the number of pairs
    of each kind (``entity``, ``word``, ``random``) summed over the questions."""
    kb = load_kb()
    qs = load_questions(split)[:limit]
    pairs_of_word, df = _word_index(len(kb))
    out: list[np.ndarray] = []
    for i, q in enumerate(qs):
        rng = np.random.default_rng([i, 0 if split == "dev" else 1, 7])
        target = memory_target(i, split)
        chosen: list[int] = list(kb.by_entity.get(q.entity, [])) if q.entity else []
        seen = set(chosen)
        ents_seen = {q.entity}
        qwords = sorted(set(words(q.text)) - STOPWORDS, key=lambda w: (df.get(w, 0), w))
        for w in qwords:
            if len(chosen) >= target:
                break
            cand = pairs_of_word.get(w)
            if cand is None:
                continue
            cand = cand[rng.permutation(len(cand))]
            for p in cand:
                if len(chosen) >= target:
                    break
                p = int(p)
                if p not in seen:
                    seen.add(p)
                    chosen.append(p)
                    ents_seen.add(kb.key_entity[p])
        n_entity_word = len(chosen)
        while len(chosen) < target:
            p = int(rng.integers(len(kb)))
            if p not in seen:
                seen.add(p)
                chosen.append(p)
        if sources is not None:
            n_ent = len(kb.by_entity.get(q.entity, [])) if q.entity else 0
            sources["entity"] = sources.get("entity", 0) + n_ent
            sources["word"] = sources.get("word", 0) + n_entity_word - n_ent
            sources["random"] = sources.get("random", 0) + len(chosen) - n_entity_word
        arr = np.array(chosen, dtype=np.int64)
        out.append(arr[rng.permutation(len(arr))])
    return out
