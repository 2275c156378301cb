"""The benchmark script (`make bench`) runs and writes a well-formed results file.

Speed targets live in the benchmarks, not here: this only checks that every figure of
benchmarks/run.py is produced (one repetition each, the scaling study left out for time) with the
fields docs/performance.md reads, so the script cannot silently rot as the driver changes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
FIGURES = ["exact", "approx", "tiny", "minilm", "startup", "trace", "ops"]


def test_bench_script_writes_every_figure(tmp_path):
    out = tmp_path / "results.json"
    p = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--only",
            *FIGURES,
            "--reps",
            "1",
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "s.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    data = json.loads(out.read_text())
    names = [r["name"] for r in data["results"]]
    assert set(FIGURES) <= set(names)
    assert {"exact_1thread", "approx_1thread"} <= set(names)  # the labelled single-thread pair
    for r in data["results"]:
        if r["name"] == "ops":
            assert r["ops_us"] and all(math.isfinite(v) and v > 0 for v in r["ops_us"].values())
            continue
        assert r["sim_s"] > 0 and r["ref_s"] > 0 and isinstance(r["met"], bool), r
        assert r["ratio"] == r["sim_s"] / r["ref_s"]
    blas = data["meta"]["blas"]
    assert blas["model"]["corename"] and blas["numpy"]["corename"]
    md = subprocess.run([sys.executable, str(RUN), "--markdown", str(out)], capture_output=True, text=True, timeout=60)
    assert md.returncode == 0 and "exact" in md.stdout


def test_profile_driver_runs_both_modes():
    """benchmarks/profile_call.py (the loop of performance.md section 4.1) runs and reports."""
    script = RUN.parent / "profile_call.py"
    for mode in ("exact", "approx"):
        p = subprocess.run(
            [sys.executable, str(script), "--mode", mode, "--calls", "2", "--numpy", "--config", '{"sim_threads": 1}'],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert p.returncode == 0, p.stderr[-3000:]
        assert p.stdout.startswith(f"{mode}: simulator") and "numpy" in p.stdout


PROBES = RUN.parent / "probes.py"


def test_every_probe_runs_and_prints_its_figure():
    """benchmarks/probes.py reproduces figures of docs/performance.md: each probe still runs."""
    expect = {
        ("layer", "--calls", "3"): r"layer of 12 heads x 128 tokens: \d+ us per call",
        ("minilm-split", "--forwards", "1"): r"offloaded forward [\d.]+ ms \(attention [\d.]+, rest",
        ("trace-growth", "--n", "1024", "--calls", "2"): r"\n  1 +[\d.]+ ms  transactions +[\d,]+  DRAM bursts",
        ("first-calls",): r"txn_layout +first call [\d.]+ ms, second",
        ("startup-split",): r"import a3sim [\d.]+ s, import cppyy [\d.]+ s, .* total [\d.]+ s",
    }
    import re

    for args, pattern in expect.items():
        p = subprocess.run([sys.executable, str(PROBES), *args], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, (args, p.stderr[-2000:])
        assert re.search(pattern, p.stdout), (args, p.stdout)
