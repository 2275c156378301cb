"""`a3sim mem` (python/a3sim/memstudy.py): a workload on a DRAM preset and several units prints
the memory report, writes its plots and DRAM traces; `a3sim run --trace` writes the DRAM traces
too; `a3sim mem --spec` lists every preset value with its source."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "a3sim.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_mem_report_plots_and_traces(tmp_path):
    p = _cli(
        "mem", "memn2n", "--limit", "40", "--dram", "lpddr4-4266", "--units", "2", "--out", str(tmp_path), "--json"
    )
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep["units"] == 2 and rep["dram"] == "lpddr4-4266" and rep["policy"] == "banked"
    assert 0 < rep["achieved_gbps"] <= rep["peak_gbps"]
    s = rep["dram_stats"]
    assert s["row_hits"] + s["row_misses"] + s["row_conflicts"] == s["bursts"] > 0
    # Bytes by stream on the DRAM side add up to the DRAM's bytes.
    assert sum(r.get("dram_bytes", 0) for r in rep["tables"]["bytes_by_stream"]) == s["bytes_read"] + s["bytes_written"]
    for f in ("bandwidth.png", "latency.png", "row_buffer.png"):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
    # DRAM traces at the preset's burst (32 B on LPDDR4): one request per burst the DRAM moved.
    r1 = (tmp_path / "dram.ramulator1.trace").read_text().splitlines()
    r2 = (tmp_path / "dram.ramulator2.trace").read_text().splitlines()
    stl = (tmp_path / "dram.dramsys.stl").read_text().splitlines()
    assert len(r1) == len(r2) == len(stl) == s["bursts"]
    assert json.loads((tmp_path / "report.json").read_text())["units"] == 2


def test_run_trace_writes_dram_traces(tmp_path):
    p = _cli("run", "memn2n", "--limit", "10", "--trace", str(tmp_path))
    assert p.returncode == 0, p.stderr
    for f in (
        "transactions.parquet",
        "trace.perfetto.json",
        "dram.ramulator1.trace",
        "dram.ramulator2.trace",
        "dram.dramsys.stl",
    ):
        assert (tmp_path / f).stat().st_size > 0, f


def test_mem_spec_lists_sources():
    p = _cli("mem", "--spec", "--dram", "hbm2-stack")
    assert p.returncode == 0, p.stderr
    assert "JESD235" in p.stdout and "tRFC" in p.stdout and "256" in p.stdout
