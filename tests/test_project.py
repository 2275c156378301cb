"""Project hygiene: one list of pinned versions, no reference outside the repository, modules of
a readable size."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Modules another branch is splitting right now (remove an entry once its split is merged).
MAX_MODULE_LINES = 400


def _pins():
    spec = importlib.util.spec_from_file_location("pins", ROOT / "scripts" / "pins.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.pins


def test_pyproject_is_the_only_list_of_versions():
    pins = _pins()
    reqs = pins(["build", "runtime", "test", "dev", "no-deps"])  # raises on an unpinned entry
    assert len(reqs) == len({r.split("==")[0] for r in reqs})
    makefile = (ROOT / "Makefile").read_text()
    assert not re.search(r"[\w-]==\d", makefile), "the Makefile must install from pyproject.toml, not pin"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "pins.py"), "test"], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out == pins(["test"]) and all("==" in r for r in out)


def test_no_reference_outside_the_repository():
    # Built from pieces so that this file does not match itself: the spec outside the repository,
    # the folder beside it, and this machine's work folder.
    outside = ["shared/A3" + "-SPEC", r"\.\./" + "shared", "/wo" + "rk/", "A3" + r"-SPEC\.md"]
    pattern = re.compile("|".join(outside))
    hits = []
    for folder in ("python", "systemc", "tests", "docs", "scripts", "benchmarks"):
        for p in (ROOT / folder).rglob("*"):
            if p.is_file() and p.suffix in {".py", ".h", ".cpp", ".md", ".txt", ".toml", ".json"}:
                for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
                    if pattern.search(line) and p != Path(__file__):
                        hits.append(f"{p.relative_to(ROOT)}:{i}")
    assert not hits, hits


def test_modules_are_under_the_size_limit():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "python").rglob("*.py")}
    too_big = {p: n for p, n in sizes.items() if n >= MAX_MODULE_LINES}
    assert not too_big, too_big
    assert sizes["python/a3sim/driver/driver.py"] < MAX_MODULE_LINES


def test_spec_has_the_numbered_sections():
    text = (ROOT / "docs" / "spec.md").read_text()
    for sec in ("1", "2", "2.1", "3", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "4", "5"):
        assert re.search(rf"^#+ {re.escape(sec)}\.? ", text, re.M), sec


def test_the_workload_list_is_the_runners():
    """One list of workloads (a3sim.presets.WORKLOADS) for the CLI, mem and sweep: the runners'."""
    from a3sim.presets import WORKLOADS
    from a3sim.runners import RUNNERS

    assert tuple(RUNNERS) == WORKLOADS
