"""The CLI and the main job (`make run` runs `a3sim demo`): a reduced run writes the table,
traces and plots; `a3sim run --json` prints one JSON object."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from a3sim import report


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "a3sim.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_demo_quick_writes_everything(tmp_path):
    p = _cli("demo", "--quick", "--no-progress", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "minilm" in p.stdout and "memn2n" in p.stdout and "gain vs base A3" in p.stdout
    for f in ("results.csv", "results.json", "latency_breakdown.png", "accuracy_vs_gain.png",
              "traces/transactions.parquet", "traces/jobs.parquet", "traces/trace.perfetto.json"):
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
    assert all(e["source"].startswith(("[paper]", "[spec", "[ours]", "[sim]")) for e in cfg.values())


def test_run_rejects_unknown_workload():
    with pytest.raises(ValueError, match="unknown workload"):
        report.run("bert")
