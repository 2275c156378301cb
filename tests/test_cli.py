"""The CLI and the main job (`make run` runs `a3sim demo`): a reduced run writes the table,
traces and plots; `a3sim run --json` prints one JSON object."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from a3sim import report


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "a3sim.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_demo_quick_writes_everything(tmp_path):
    p = _cli("demo", "--quick", "--no-progress", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "minilm" in p.stdout and "memn2n" in p.stdout and "gain vs base A3" in p.stdout
    for f in (
        "results.csv",
        "results.json",
        "latency_breakdown.png",
        "accuracy_vs_gain.png",
        "traces/transactions.parquet",
        "traces/jobs.parquet",
        "traces/trace.perfetto.json",
    ):
        assert (tmp_path / f).stat().st_size > 0, f
    res = pd.read_csv(tmp_path / "results.csv")
    assert len(res) == 6 and set(res.workload) == {"minilm", "memn2n"}
    exact = res[res["mode"] == "exact"]
    assert (exact["loss"].abs() < 1e-6).all()  # the device's exact mode matches the host
    assert (res[res["mode"] != "exact"]["gain_vs_base_A3"] > 1.0).all()
    assert pq.read_table(tmp_path / "traces/transactions.parquet").num_rows > 0
    assert (tmp_path / "latency_breakdown.png").read_bytes()[:4] == b"\x89PNG"


def test_run_json():
    p = _cli("run", "memn2n", "--mode", "approx", "--preset", "aggressive", "--limit", "50", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    assert doc["workload"] == "memn2n" and doc["mode"] == "approx" and doc["preset"] == "aggressive"
    for key in ("metric", "latency_ns", "gain", "bytes_read", "cpu_attention_s", "speedup_vs_cpu"):
        assert key in doc
    assert 0.0 <= doc["metric"] <= 1.0 and doc["gain"] > 1.0


def test_cli_errors_are_messages_not_tracebacks():
    p = _cli("run", "synthetic", "--mode", "approx", "--T", "2")
    assert p.returncode == 2 and "T must be in [0, 1]" in p.stderr and "Traceback" not in p.stderr
    p = _cli("config", "--config", "n_maxx=3")
    assert p.returncode == 2 and "did you mean n_max" in p.stderr


def test_config_table_lists_sources():
    p = _cli("config", "--json")
    assert p.returncode == 0, p.stderr
    cfg = json.loads(p.stdout)
    blas = cfg.pop("blas")  # the model's BLAS, beside the configuration entries
    assert blas["library"] == "OpenBLAS" and blas["corename"] and isinstance(blas["generic"], bool)
    assert cfg["n_max"]["value"] == 320 and cfg["n_max"]["source"].startswith("[paper]")
    # A tag, or a named secondary source with its year ("[Horowitz, ISSCC 2014, ...]").
    named = re.compile(r"^\[[A-Z][a-z]+, [^\]]*\d{4}")
    assert all(
        e["source"].startswith(("[paper]", "[spec", "[ours]", "[sim]")) or named.match(e["source"])
        for e in cfg.values()
    )
    assert cfg["dram_pj_per_byte"]["source"].startswith("[Horowitz, ISSCC 2014")


def test_run_rejects_unknown_workload():
    with pytest.raises(ValueError, match="unknown workload"):
        report.run("bert")


def test_python_dash_m_and_version():
    from a3sim import __version__

    p = subprocess.run([sys.executable, "-m", "a3sim", "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == f"a3sim {__version__}"
    p = subprocess.run([sys.executable, "-m", "a3sim", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "calibrate" in p.stdout


def _mistakes(tmp_path):
    existing = tmp_path / "existing_file"
    existing.write_text("keep me")
    return {
        "memn2n task 7": (["run", "memn2n", "--task", "7"], "--task"),
        "minilm limit -3": (["run", "minilm", "--limit", "-3"], "--limit"),
        "memn2n limit 0": (["run", "memn2n", "--limit", "0"], "at least 1"),
        "wordnet limit 0": (["run", "wordnet", "--limit", "0"], "at least 1"),
        "task for synthetic": (["run", "synthetic", "--task", "2"], "memn2n only"),
        "trace onto a file": (["run", "synthetic", "--trace", str(existing)], "not a folder"),
        "demo out in /proc": (["demo", "--out", "/proc/a3sim-x"], "cannot write"),
        "calibrate out is a folder": (["calibrate", "--out", str(tmp_path)], "is a folder"),
        "key twice": (["config", "--config", "n_max=100;n_max=200"], "twice"),
        "M and M-frac": (["run", "synthetic", "--mode", "approx", "--M", "3", "--M-frac", "0.5"], "not both"),
        "negative M-frac": (["run", "synthetic", "--mode", "approx", "--M-frac", "-1"], "--M-frac"),
        "preset in exact": (["run", "synthetic", "--preset", "aggressive"], "not to exact"),
        "bad mode": (["run", "synthetic", "--mode", "fast"], "--mode"),
        "bad demo config": (["demo", "--config", "n_maxx=3"], "did you mean n_max"),
        "bad calibrate config": (["calibrate", "--config", "clock_mhz=abc"], "not a number"),
    }


def test_every_listed_mistake_is_one_line_and_status_2(tmp_path):
    for name, (args, expect) in _mistakes(tmp_path).items():
        p = _cli(*args, timeout=120)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2, (name, p.returncode, p.stderr[-500:])
        assert len(lines) == 1 and lines[0].startswith("a3sim: error:"), (name, p.stderr[-500:])
        assert expect in lines[0], (name, lines[0])
    assert (tmp_path / "existing_file").read_text() == "keep me"


def test_run_limits_and_labels():
    p = _cli("run", "synthetic", "--mode", "post_only", "--limit", "5", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    assert doc["queries"] == 5 and doc["mode"] == "post_only"
    from a3sim.presets import DEFAULT_PRESET, PRESETS, mode_label

    assert mode_label("post_only", "conservative") == "post_only/conservative"
    assert mode_label("approx", "aggressive") == "aggressive" and mode_label("exact") == "exact"
    p = _cli("run", "minilm", "--limit", "2", "--mode", "approx", "--M-frac", "0.25", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    assert doc["preset"] == {"M_frac": 0.25, "T": PRESETS[DEFAULT_PRESET]["T"]} and doc["params"]["sentences"] == 2


def test_config_escapes_markup():
    p = _cli("config")
    assert p.returncode == 0, p.stderr
    assert "[paper]" in p.stdout and "[ours]" in p.stdout
