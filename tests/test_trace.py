"""Trace tables and exports open in the tools users have: pandas/Parquet (pyarrow reads it back),
Chrome/Perfetto trace-event JSON, CSV and a Ramulator request trace."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import rand


@pytest.fixture(scope="module")
def call(drv):
    rng = np.random.default_rng(31)
    return drv.attention(rand(rng, 300, 32), rand(rng, 500, 32), rand(rng, 500, 32))[1]


def test_transaction_table_schema(drv, call):
    t = drv.trace.transactions()
    assert list(t.columns) == [
        "t_start_ns",
        "t_end_ns",
        "initiator",
        "target",
        "op",
        "address",
        "bytes",
        "job",
        "stream",
        "status",
        "wait_ns",
    ]
    assert t.t_start_ns.dtype == np.float64 and t.bytes.dtype == np.int64
    assert set(t.initiator.cat.categories) == {"host", "a3_0.dma"}
    assert {"dram", "a3_0.regs"} <= set(t.target.cat.categories)
    mine = t[t.job.isin(call.jobs)]
    assert set(mine.initiator.astype(str)) == {"a3_0.dma"}


def test_jobs_table_schema(drv, call):
    j = drv.trace.jobs()
    mine = j[j.job.isin(call.jobs)]
    assert {"queue", "fetch", "dma_in", "dot_product", "exponent", "output", "dma_out", "completion", "irq"} <= set(
        mine.phase.astype(str)
    )
    assert (mine.duration_ns >= 0).all()
    s = drv.trace.job_summary()
    mine_s = s[s.job.isin(call.jobs)]
    assert len(mine_s) == len(call.jobs) == 2 * (1 + math.ceil(300 / drv.q_rows))
    assert (mine_s.status_name == "OK").all()
    assert int(mine_s.bytes_rd.sum()) == call.bytes_read


def test_parquet_and_csv_roundtrip(drv, call, tmp_path):
    paths = drv.trace.to_parquet(tmp_path / "pq")
    t = pq.read_table(paths["transactions"]).to_pandas()
    ref = drv.trace.transactions()
    assert len(t) == len(ref)
    np.testing.assert_array_equal(t.bytes.values, ref.bytes.values)
    np.testing.assert_array_equal(t.address.values, ref.address.values)
    assert pq.read_table(paths["jobs"]).num_rows == len(drv.trace.jobs())
    csv = drv.trace.to_csv(tmp_path / "csv")
    back = pd.read_csv(csv["job_summary"])
    assert len(back) == len(drv.trace.job_summary())


def test_perfetto_json(drv, call, tmp_path):
    path = drv.trace.to_perfetto(tmp_path / "trace.json")
    doc = json.loads(path.read_text())
    ev = doc["traceEvents"]
    complete = [e for e in ev if e["ph"] == "X"]
    meta = [e for e in ev if e["ph"] == "M"]
    assert complete and meta
    for e in complete:
        assert {"name", "ts", "dur", "pid", "tid"} <= e.keys() and e["dur"] >= 0
    names = {e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert {"A3 unit 0", "system bus"} <= names
    # The call's phases appear with their job ids.
    jobs = {e["args"].get("job") for e in complete if e["pid"] == 1}
    assert set(call.jobs.tolist()) <= jobs


def test_ramulator_trace(drv, call, tmp_path):
    path = drv.trace.to_ramulator(tmp_path / "dram.trace")
    lines = path.read_text().splitlines()
    t = drv.trace.transactions()
    dram = t[(t.target == "dram") & (t.status == "ok")]
    first = dram.address.astype(np.int64) // 64
    last = (dram.address.astype(np.int64) + dram.bytes - 1) // 64
    assert len(lines) == int((last - first + 1).sum())
    addr, op = lines[0].split()
    assert addr.startswith("0x") and op in ("R", "W")


def test_dramsys_trace(drv, call, tmp_path):
    [path] = drv.trace.to_dramsys(tmp_path / "dram.stl", clock_mhz=1600.0)
    lines = path.read_text().splitlines()
    assert len(lines) == len(drv.trace.to_ramulator(tmp_path / "r.trace").read_text().splitlines())
    cycles = []
    for line in lines[:500]:
        clk, op, addr = line.split("\t")
        assert clk.endswith(":") and op in ("read", "write") and addr.startswith("0x")
        cycles.append(int(clk[:-1]))
    assert cycles == sorted(cycles)
    # The first request's cycle is its issue time at 1.6 GHz.
    t = drv.trace.transactions()
    first = t[(t.target == "dram") & (t.status == "ok")].t_start_ns.min()
    assert cycles[0] == int(first * 1.6 + 1e-9)


def test_transaction_recording_can_be_turned_off(drv):
    rng = np.random.default_rng(32)
    before = drv.trace.count("txn")
    drv.trace.enabled = False
    try:
        _, rec = drv.attention(rand(rng, 2, 8), rand(rng, 9, 8), rand(rng, 9, 8))
    finally:
        drv.trace.enabled = True
    assert drv.trace.count("txn") == before
    assert rec.bytes_read > 0 and rec.phases["dma_in"] > 0  # job and phase rows are still kept
