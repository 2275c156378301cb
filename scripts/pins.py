"""Print the pinned requirements of one or more groups of ``pyproject.toml``, the only list of
versions in the repository (the Makefile installs from it).

    python scripts/pins.py build runtime test dev     # pip install $(...)
    python scripts/pins.py no-deps                    # pip install --no-deps $(...)

Groups: ``build`` ([build-system] requires), ``runtime`` ([project] dependencies), any extra of
[project.optional-dependencies] (``test``, ``dev``), and ``no-deps`` ([tool.a3sim] install-no-deps:
packages whose files we need but whose declared dependencies we do not).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def pins(groups: list[str], path: Path = PYPROJECT) -> list[str]:
    """The requirement strings of ``groups``, in order, without repeats."""
    doc = tomllib.loads(path.read_text())
    table = {
        "build": doc["build-system"]["requires"],
        "runtime": doc["project"]["dependencies"],
        "no-deps": doc["tool"]["a3sim"]["install-no-deps"],
        **doc["project"].get("optional-dependencies", {}),
    }
    out: list[str] = []
    for g in groups:
        if g not in table:
            raise SystemExit(f"pins.py: unknown group {g!r}; have {', '.join(table)}")
        out += [r for r in table[g] if r not in out]
    for r in out:
        if "==" not in r:
            raise SystemExit(f"pins.py: {r!r} is not pinned (name==version)")
    return out


if __name__ == "__main__":
    print(" ".join(pins(sys.argv[1:])))
