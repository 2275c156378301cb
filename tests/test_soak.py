"""Soak (behind the ``soak`` marker; docs/robustness.md): 100,000 small offloads and 10,000
load/close cycles in one process, with tracing off and with tracing on under a retention bound;
RSS stays flat from the middle of the run to its end, and every checked result is right.

    .venv/bin/python -m pytest -p no:cacheprovider -m soak tests/test_soak.py -s
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


@pytest.mark.soak
@pytest.mark.parametrize("args", [[], ["--trace", "--max-rows", "16384"]], ids=["trace-off", "trace-on-bounded"])
def test_soak_memory_is_flat(args):
    p = subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=7200)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print("\n" + json.dumps(r))
    assert r["offloads"] == 100_000 and r["cycles"] == 10_000 and r["wrong_results"] == 0
    # Flat: no growth from the middle of the offloads to the end of the load/close cycles beyond
    # allocator noise (2 MB), and at most one retention bound's worth from the start.
    assert r["rss_end_mb"] - r["rss_middle_mb"] < 2.0
    assert r["rss_end_mb"] - r["rss_start_mb"] < (2.0 if "--trace" not in args else 40.0)
    assert r["dram_in_use_bytes"] <= 2 << 20  # contexts are given back: rings + arena only
