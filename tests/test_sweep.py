"""`a3sim sweep`: spec expansion, one fresh process per point, the same table on every executor
(process pool, Dask LocalCluster, an external `dask scheduler` + `dask worker`), failures recorded
without stopping the sweep, `--resume`, and Ctrl-C keeping every finished point.

Points are short synthetic runs (about 2 s each, mostly the start of a process)."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from a3sim.sweep import WALL_COLUMNS, load_spec, parse_spec, run_point, run_sweep
from a3sim.sweep.point import config_hash, energy_of
from a3sim.sweep.spec import SweepSpecError, library_config_table, varying_axes

# Three points that succeed (approx at two M and two DRAM bandwidths) and one the model rejects.
SMALL = """
[sweep]
name = "small"
timeout_s = 300

[base]
workload = "synthetic"
mode = "approx"
T = 0.0
options = { n = 64, m = 16 }

[[points]]
M = 8
config.dram_bandwidth_gbps = 12.8

[[points]]
M = 8
config.dram_bandwidth_gbps = 25.6

[[points]]
M = 32
config.dram_bandwidth_gbps = 12.8

[[points]]
mode = "exact"
config = { clock_mhz = 0.5 }

[[plots]]
y = "sim_latency_us"
x = "config.dram_bandwidth_gbps"
by = "M"
"""


def _env() -> dict[str, str]:
    return dict(os.environ, OPENBLAS_NUM_THREADS="1")


def _write(tmp: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp / name
    p.write_text(textwrap.dedent(text))
    return p


def _model_columns(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in WALL_COLUMNS if c in df]).reset_index(drop=True)


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory):
    """The small sweep on the local process pool (the reference table of the executor tests)."""
    tmp = tmp_path_factory.mktemp("pool")
    spec = load_spec(_write(tmp, SMALL))
    res = run_sweep(spec, out=tmp / "out", executor="processes", workers=2, progress=False)
    return spec, res


# ---- the spec --------------------------------------------------------------------------------------
def test_expansion_crosses_points_with_the_grid_and_merges_layers():
    table = library_config_table()
    spec = parse_spec(
        {
            "sweep": {"repetitions": 2},
            "base": {"workload": "synthetic", "mode": "approx", "config": {"n_max": 128}},
            "workloads": {"memn2n": {"limit": 5}, "synthetic": {"m": 16}},
            "grid": {"M": [4, 8, 16], "config": {"dram_latency_ns": [30.0, 60.0]}},
            "points": [{}, {"workload": "memn2n", "options": {"task": 1}}, {"mode": "exact"}],
        }
    )
    pts = spec.points(table)
    # explicit 1 and 2 give 3 x 2 grid points each; the exact point drops M, leaving 2 distinct
    assert len(pts) == (6 + 6 + 2) * 2
    assert [p.index for p in pts] == list(range(len(pts)))
    assert len({p.point_id for p in pts}) == len(pts)
    combos = {(p.M, p.config["dram_latency_ns"]) for p in pts if p.workload == "synthetic" and p.mode == "approx"}
    assert combos == set(itertools.product([4, 8, 16], [30.0, 60.0]))
    mem = [p for p in pts if p.workload == "memn2n"]
    assert all(p.options == {"limit": 5, "task": 1} and p.config["n_max"] == 128.0 for p in mem)
    syn = [p for p in pts if p.workload == "synthetic"]
    assert all(p.options == {"m": 16} for p in syn)  # [workloads.memn2n] applies to memn2n only
    assert all(p.M is None and p.T is None for p in pts if p.mode == "exact")
    assert {p.rep for p in pts} == {0, 1}
    assert varying_axes(pts)[:3] == ["workload", "mode", "M"]


def test_every_entry_of_the_library_table_is_an_axis():
    table = library_config_table()
    grid = {"config": {name: [e.default] for name, e in table.items()}}
    pts = parse_spec({"base": {"workload": "synthetic"}, "grid": grid}).points(table)
    assert len(pts) == 1 and pts[0].config == {name: e.default for name, e in table.items()}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"base": {"workload": "synthetic"}, "grid": {"config": {"n_maxx": [1]}}}, "did you mean n_max"),
        ({"base": {"workload": "synthetic"}, "grid": {"n_max": [1]}}, "go under config"),
        ({"base": {"workload": "nope"}}, "unknown workload"),
        ({"base": {"workload": "synthetic", "mode": "fast"}}, "unknown mode"),
        ({"base": {"workload": "synthetic", "options": {"task": 3}}}, "takes no option 'task'"),
        ({"base": {"workload": "synthetic", "options": {"on_call": 3}}}, "takes no option 'on_call'"),
        ({"base": {"workload": "synthetic"}, "grid": {"M": []}}, "non-empty list"),
        ({"base": {"workload": "synthetic"}, "grid": {"M": [1, 1]}}, "twice"),
        ({"base": {"workload": "synthetic"}, "grid": {"M": [1]}, "points": [{"M": 2}]}, "both a grid axis"),
        ({"sweep": {"repetitions": 0}, "base": {"workload": "synthetic"}}, "repetitions"),
        ({"base": {"workload": "synthetic"}, "plots": [{"y": "metric", "x": "T"}]}, "not a setting"),
    ],
)
def test_bad_specs_say_what_to_change(data, message):
    with pytest.raises(SweepSpecError, match=message):
        parse_spec(data).points(library_config_table())


def test_energy_is_read_by_feature_detection_and_never_invented():
    class Rec:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    assert math.isnan(energy_of([Rec(latency_ns=1.0)])[0])  # no energy model: NaN
    assert math.isnan(energy_of([Rec(energy_pj=5.0), Rec(latency_ns=1.0)])[0])  # partly missing: NaN
    assert energy_of([Rec(energy_pj=5.0), Rec(energy_nj=0.25)]) == (255.0, {})
    total, comps = energy_of([Rec(energy_pj={"dram": 10.0, "core": 2.5}), Rec(energy_pj={"dram": 1.0})])
    assert total == 13.5 and comps == {"dram": 11.0, "core": 2.5}


def test_config_hash_ignores_simulator_settings():
    table = library_config_table()

    def with_(**kw):
        return {k: type(e)(e.name, kw.get(k, e.value), e.default, e.unit, e.source) for k, e in table.items()}

    assert config_hash(with_(sim_threads=1)) == config_hash(with_(sim_threads=4))
    assert config_hash(with_(n_max=128)) != config_hash(with_())


# ---- running points --------------------------------------------------------------------------------
def test_a_row_equals_a_direct_run_in_a_fresh_process(pool_run):
    spec, res = pool_run
    row = res.table.iloc[2]
    assert (row["M"], row["config.dram_bandwidth_gbps"]) == (32, 12.8)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
        import json
        from a3sim import A3Driver
        from a3sim.report import run
        drv = A3Driver(config={"dram_bandwidth_gbps": 12.8})
        r = run("synthetic", drv, mode="approx", M=32, T=0.0, n=64, m=16)
        print(json.dumps([r.latency_ns, r.bytes_read, r.bytes_written, r.queries, r.metric, r.gain, r.energy_pj]))
    """),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lat, rd, wr, q, metric, gain, energy = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["status"] == "ok" and row["sim_latency_us"] == lat / 1e3
    assert (row["bytes_read"], row["bytes_written"], row["queries"]) == (rd, wr, q)
    assert row["metric"] == metric and row["gain_vs_base"] == gain
    assert row["throughput_qps"] == pytest.approx(q / (lat * 1e-9), rel=1e-12)
    assert row["dma_GBps"] == pytest.approx((rd + wr) / lat, rel=1e-12)
    assert row["metric_name"] == "planted_hits" and math.isnan(row["accuracy"])
    # energy: the sweep sums the call records' components; the report sums its layer statistics
    assert energy > 0 and row["energy_pj"] == pytest.approx(energy, rel=1e-9)
    parts = row[[c for c in row.index if c.startswith("energy_pj.")]]
    assert len(parts) > 1 and parts.sum() == pytest.approx(row["energy_pj"], rel=1e-12)


def test_pool_sweep_records_failures_and_plots(pool_run):
    spec, res = pool_run
    t = res.table
    assert len(t) == 4 and list(t["index"]) == list(range(4))
    bad = t[t["status"] != "ok"]
    assert list(bad["index"]) == [3] and bad["status"].iloc[0] == "failed"
    assert "clock_mhz = 0.5 is out of range" in bad["error"].iloc[0]
    assert bad["queries"].isna().all() and bad["config.clock_mhz"].iloc[0] == 0.5
    slow, fast, more = (t.iloc[i] for i in range(3))
    # the DRAM bandwidth changes the hardware (hash) and the time, not the work; M changes the work
    assert slow["config_hash"] == more["config_hash"] != fast["config_hash"]
    assert slow["sim_latency_us"] > fast["sim_latency_us"] and slow["bytes_total"] == fast["bytes_total"]
    assert more["candidates_per_query"] > slow["candidates_per_query"]
    assert (res.folder / "results.parquet").exists() and len(
        (res.folder / "points.jsonl").read_text().splitlines()
    ) == 4
    assert [p.name for p in res.plots] == ["sim_latency_us_vs_config_dram_bandwidth_gbps.png"]
    assert res.plots[0].read_bytes()[:4] == b"\x89PNG"


def test_local_cluster_gives_the_same_table(pool_run, tmp_path):
    spec, ref = pool_run
    res = run_sweep(
        spec, out=tmp_path / "out", executor="dask", workers=2, progress=False, plots=False, dashboard=False
    )
    assert res.executor.startswith("Dask LocalCluster")
    pd.testing.assert_frame_equal(_model_columns(res.table), _model_columns(ref.table))


def test_timeout_is_recorded():
    row = run_point(
        {"point_id": "t", "workload": "synthetic", "mode": "exact", "options": {}, "config": {}}, timeout_s=0.2
    )
    assert row["status"] == "timeout" and "0.2 s" in row["error"]


# ---- robustness through the command line -----------------------------------------------------------
def _default_sigint() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and children inherit
    # that: give the sweep the SIGINT of a terminal's Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "a3sim.cli", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_default_sigint,
    )


def _point_processes(parent: int, point_id: str | None = None) -> list[psutil.Process]:
    try:
        kids = psutil.Process(parent).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            cmd = k.cmdline()
        except psutil.Error:
            continue
        if "a3sim.sweep.point" in cmd and (point_id is None or point_id in cmd):
            out.append(k)
    return out


def _points_alive(ids: set[str]) -> list[psutil.Process]:
    alive = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "a3sim.sweep.point" in cmd and ids & set(cmd):
            alive.append(p)
    return alive


def test_a_killed_point_is_marked_and_resume_completes_it(tmp_path):
    spec_path = _write(
        tmp_path,
        """
        [base]
        workload = "synthetic"
        mode = "exact"
        options = { n = 64, m = 16 }
        [grid]
        config.dram_latency_ns = [30.0, 60.0]
    """,
    )
    victim = load_spec(spec_path).points()[1].point_id
    out = tmp_path / "out"
    proc = _cli(str(spec_path), "--executor", "processes", "--workers", "2", "--out", str(out), "--no-progress")
    killed = False
    deadline = time.monotonic() + 120
    while not killed and proc.poll() is None and time.monotonic() < deadline:
        for p in _point_processes(proc.pid, victim):
            p.kill()
            killed = True
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=300)
    assert killed, "the point's process was never seen"
    assert proc.returncode == 1, stderr
    t = pd.read_parquet(out / "results.parquet")
    assert len(t) == 2
    dead = t[t["point_id"] == victim].iloc[0]
    assert dead["status"] == "crashed" and "SIGKILL" in dead["error"]
    assert (t[t["point_id"] != victim]["status"] == "ok").all()

    again = _cli(str(spec_path), "--executor", "processes", "--out", str(out), "--resume", "--no-progress")
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert "2 points, 1 to run, 1 already done" in stderr
    t2 = pd.read_parquet(out / "results.parquet")
    assert (t2["status"] == "ok").all() and len(t2) == 2
    kept = t[t["point_id"] != victim].set_index("point_id").drop(columns="error")
    # the finished points were not run again: their rows, wall times included, are unchanged
    pd.testing.assert_frame_equal(
        t2.set_index("point_id").loc[kept.index].drop(columns="error"), kept, check_dtype=False
    )
    # latency grows with the DRAM latency
    assert t2.sort_values("config.dram_latency_ns")["sim_latency_us"].is_monotonic_increasing


def test_ctrl_c_keeps_every_finished_point(tmp_path):
    spec_path = _write(
        tmp_path,
        """
        [base]
        workload = "synthetic"
        mode = "exact"
        options = { n = 64, m = 16 }
        [grid]
        config.dram_latency_ns = [30.0, 40.0, 50.0]
    """,
    )
    out = tmp_path / "out"
    proc = _cli(str(spec_path), "--executor", "processes", "--workers", "1", "--out", str(out), "--no-progress")
    journal = out / "points.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    finished = [json.loads(line) for line in journal.read_text().splitlines()]
    t = pd.read_parquet(out / "results.parquet")
    assert 1 <= len(finished) < 3 and sorted(t["point_id"]) == sorted(r["point_id"] for r in finished)
    assert (t["status"] == "ok").all()
    ids = {p.point_id for p in load_spec(spec_path).points()}
    time.sleep(0.5)
    assert not _points_alive(ids)  # no point outlives the sweep

    again = _cli(
        str(spec_path), "--executor", "processes", "--workers", "2", "--out", str(out), "--resume", "--no-progress"
    )
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert f"{3 - len(t)} to run, {len(t)} already done" in stderr
    assert len(pd.read_parquet(out / "results.parquet")) == 3


def test_an_existing_dask_cluster_gives_the_same_table(pool_run, tmp_path):
    spec, ref = pool_run
    sched_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    procs = [
        subprocess.Popen(
            [
                *dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            subprocess.Popen(
                [
                    *dask,
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "2",
                    "--no-nanny",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_env(),
            )
        )
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(1, timeout=60)
        spec_path = _write(tmp_path, SMALL)
        cli = _cli(str(spec_path), "--scheduler", address, "--out", str(tmp_path / "out"), "--no-progress")
        stdout, stderr = cli.communicate(timeout=300)
        assert cli.returncode == 1, stderr  # one point of the spec fails by design
        assert f"Dask cluster at {address}" in stderr
        t = pd.read_parquet(tmp_path / "out" / "results.parquet")
        pd.testing.assert_frame_equal(_model_columns(t), _model_columns(ref.table))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
