"""bAbI data for the memory networks: task files, parsing into stories and questions, and the
vocabulary (the conventions of :mod:`a3sim.nn.memn2n`, which re-exports everything here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

#: bAbI task number -> (training file, test file) in ``workloads/babi/``.
TASKS: dict[int, tuple[str, str]] = {
    1: ("qa1_single-supporting-fact_train.txt", "qa1_single-supporting-fact_test.txt"),
    2: ("qa2_two-supporting-facts_train.txt", "qa2_two-supporting-facts_test.txt"),
    3: ("qa3_three-supporting-facts_train-1k.txt", "qa3_three-supporting-facts_test.txt"),
}

#: Number of story sentences kept as memory (the most recent ones).
MEMORY_SIZE = 50

#: The nil word, vocabulary index 0.
NIL = "<nil>"

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Example:
    """One bAbI question with its memory.

    Attributes:
        memories: the story sentences before the question (questions excluded), oldest first,
            at most ``memory_size`` of them (the most recent ones); each a tuple of tokens.
        question: the question's tokens.
        answer: the answer word (lower case).
        supporting: indices into ``memories`` of the supporting facts given by the data set;
            facts that fell out of the memory window are left out.
    """

    memories: tuple[tuple[str, ...], ...]
    question: tuple[str, ...]
    answer: str
    supporting: tuple[int, ...] = ()


def task_id(task: str | int) -> int:
    """Normalise a task name: ``1``, ``"1"``, ``"qa1"`` all give ``1``."""
    s = str(task).strip().lower()
    if s.startswith("qa"):
        s = s[2:]
    try:
        t = int(s)
    except ValueError:
        raise ValueError(f"unknown bAbI task {task!r}") from None
    if t not in TASKS:
        raise ValueError(f"bAbI task {task!r} is not in this repository (have {sorted(TASKS)})")
    return t


def task_file(task: str | int, split: str = "test") -> Path:
    """Path of a task's ``"train"`` or ``"test"`` file under ``workloads/babi/``."""
    from a3sim._paths import workloads_dir

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    name = TASKS[task_id(task)][0 if split == "train" else 1]
    return workloads_dir() / "babi" / name


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-case word tokens of a sentence or question, punctuation dropped."""
    return tuple(_TOKEN.findall(text.lower()))


def parse_babi(lines: Iterable[str], memory_size: int | None = MEMORY_SIZE) -> list[Example]:
    """Parse bAbI text (``ID text`` lines; questions are ``ID question<TAB>answer<TAB>facts``).

    A line with ID 1 starts a new story. Each question becomes one :class:`Example` whose memory
    is the story's statements before it (earlier questions are not memories), truncated to the
    last ``memory_size`` (``None``: keep all).
    """
    examples: list[Example] = []
    story: list[tuple[int, tuple[str, ...]]] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        num, _, text = line.partition(" ")
        sid = int(num)
        if sid == 1:
            story = []
        if "\t" in text:
            fields = text.split("\t")
            question = fields[0]
            answer = fields[1].strip().lower() if len(fields) > 1 else ""
            facts = [int(f) for f in fields[2].split()] if len(fields) > 2 else []
            window = story if memory_size is None else story[max(0, len(story) - memory_size) :]
            ids = [i for i, _ in window]
            support = tuple(ids.index(f) for f in facts if f in ids)
            examples.append(Example(tuple(s for _, s in window), tokenize(question), answer, support))
        else:
            story.append((sid, tokenize(text)))
    return examples


@lru_cache(maxsize=16)
def _load_examples_cached(path: str, memory_size: int | None) -> tuple[Example, ...]:
    with open(path, encoding="utf-8") as f:
        return tuple(parse_babi(f, memory_size))


def load_examples(task: str | int, split: str = "test", memory_size: int | None = MEMORY_SIZE) -> list[Example]:
    """Parsed examples of a task's ``"train"`` or ``"test"`` file, in file order."""
    return list(_load_examples_cached(str(task_file(task, split)), memory_size))


def build_vocab(examples: Iterable[Example]) -> list[str]:
    """Vocabulary of a set of examples: ``[NIL] + sorted(words of memories, questions, answers)``."""
    words: set[str] = set()
    for ex in examples:
        for s in ex.memories:
            words.update(s)
        words.update(ex.question)
        words.add(ex.answer)
    words.discard(NIL)
    return [NIL] + sorted(words)
