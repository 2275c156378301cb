"""Trace exports read back: the Ramulator 1, Ramulator 2 and DRAMSys traces parse (with the
parsers below, written from the formats of docs/trace-schema.md section 7) to the bytes and times
of the transaction table; the Perfetto JSON has whole-nanosecond boundaries and no two overlapping
events on one track; bad export settings raise typed errors; a 32-bit cycle overflow warns or
splits; exports create their folders."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from a3sim.errors import ExportError, TraceOverflowWarning
from conftest import rand


@pytest.fixture(scope="module")
def traced(drv):
    rng = np.random.default_rng(41)
    drv.trace.clear()
    # Odd sizes: transactions that are not line-aligned (row stats of 24 B per query).
    drv.attention(rand(rng, 37, 24), rand(rng, 350, 24), rand(rng, 350, 24))
    t = drv.trace.transactions()
    return t[(t.target == "dram") & (t.status == "ok")].sort_values("t_start_ns", kind="stable")


def expand(t, line: int):
    """(line address, op, issue ns) of every line each transaction touches."""
    out = []
    for a, b, op, ts in zip(t.address.astype(np.int64), t.bytes, t.op.astype(str), t.t_start_ns):
        for x in range(a // line * line, a + b, line):
            out.append((x, op, ts))
    return out


def parse_ramulator1(text: str):
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"0x([0-9a-f]+) ([RW])", line)
        assert m, line
        rows.append((int(m.group(1), 16), "write" if m.group(2) == "W" else "read"))
    return rows


def parse_ramulator2(text: str):
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"(LD|ST) 0x([0-9a-f]+)", line)
        assert m, line
        rows.append((int(m.group(2), 16), "write" if m.group(1) == "ST" else "read"))
    return rows


def parse_dramsys(text: str):
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"(\d+):\t(read|write)\t0x([0-9a-f]{8,})", line)
        assert m, line
        rows.append((int(m.group(1)), m.group(2), int(m.group(3), 16)))
    return rows


@pytest.mark.parametrize("line", [64, 32, 128])
def test_ramulator_round_trip(drv, traced, tmp_path, line):
    want = expand(traced, line)
    r1 = parse_ramulator1(drv.trace.to_ramulator(tmp_path / "a" / "r1.trace", line_bytes=line).read_text())
    r2 = parse_ramulator2(drv.trace.to_ramulator2(tmp_path / "b" / "r2.trace", line_bytes=line).read_text())
    assert r1 == r2 == [(a, op) for a, op, _ in want]
    # Bytes: every byte of every transaction lies in exactly one exported line of its kind.
    covered = {(a, op) for a, op in r1}
    for a, b, op in zip(traced.address.astype(np.int64), traced.bytes, traced.op.astype(str)):
        assert (a // line * line, op) in covered and ((a + b - 1) // line * line, op) in covered
    assert len(r1) * line >= int(traced.bytes.sum())


@pytest.mark.parametrize("clock", [1600.0, 933.0])
def test_dramsys_round_trip(drv, traced, tmp_path, clock):
    [path] = drv.trace.to_dramsys(tmp_path / "new" / "dir" / "t.stl", clock_mhz=clock, line_bytes=64)
    rows = parse_dramsys(path.read_text())
    want = expand(traced, 64)
    assert [(op, a) for _, op, a in rows] == [(op, a) for a, op, _ in want]
    # Times: each request at its transaction's issue cycle (rounded down), within one cycle.
    got_ns = np.array([c for c, _, _ in rows]) * 1000.0 / clock
    want_ns = np.array([ts for _, _, ts in want])
    assert np.all(got_ns <= want_ns + 1e-6) and np.all(want_ns - got_ns < 1000.0 / clock + 1e-6)


def test_export_settings_are_checked(drv, traced, tmp_path):
    with pytest.raises(ExportError):
        drv.trace.to_ramulator(tmp_path / "x", line_bytes=0)
    with pytest.raises(ExportError):
        drv.trace.to_ramulator2(tmp_path / "x", line_bytes=-64)
    with pytest.raises(ExportError):
        drv.trace.to_dramsys(tmp_path / "x", clock_mhz=0)
    with pytest.raises(ExportError):
        drv.trace.to_dramsys(tmp_path / "x", clock_mhz=float("nan"))
    with pytest.raises(ValueError):  # ExportError is a ValueError
        drv.trace.to_dramsys(tmp_path / "x", line_bytes=0)


def test_dramsys_32_bit_overflow_warns_or_splits(drv, traced, tmp_path):
    clock = 1e9  # 1000 cycles per ps: microseconds of simulated time overflow 32 bits
    with pytest.warns(TraceOverflowWarning):
        drv.trace.to_dramsys(tmp_path / "w.stl", clock_mhz=clock)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = drv.trace.to_dramsys(tmp_path / "s.stl", clock_mhz=clock, split=True)
    assert len(paths) > 1
    assert all(re.fullmatch(r"s\.\d+\.stl", p.name) for p in paths[1:])
    absolute = []
    for p in paths:
        k = int(p.name.split(".")[1]) if p.name.count(".") == 2 else 0
        rows = parse_dramsys(p.read_text())
        assert all(c < 2**32 for c, _, _ in rows)
        absolute += [k * 2**32 + c for c, _, _ in rows]
    want = [ts * 1000.0 * clock / 1e6 for _, _, ts in expand(traced, 64)]
    assert len(absolute) == len(want)
    assert np.all(np.abs(np.array(absolute, dtype=np.float64) - np.floor(want)) <= 1)


def test_perfetto_tracks_do_not_overlap(drv, traced, tmp_path):
    doc = json.loads(drv.trace.to_perfetto(tmp_path / "p" / "trace.json").read_text())
    ev = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert ev
    per_track: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for e in ev:
        ts, dur = round(e["ts"] * 1000), round(e["dur"] * 1000)
        # Whole nanoseconds, written exactly.
        assert abs(e["ts"] * 1000 - ts) < 1e-6 and abs(e["dur"] * 1000 - dur) < 1e-6 and dur >= 0
        per_track.setdefault((e["pid"], e["tid"]), []).append((ts, ts + dur))
    for v in per_track.values():
        v.sort()
        for (a0, a1), (b0, b1) in zip(v, v[1:]):
            assert b0 >= a1, (a0, a1, b0, b1)
    # The bus transactions of the DMA engine needed several lanes (bursts in flight overlap) and
    # every transaction is there once.
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "a3_0.dma #2" in names
    assert sum(1 for e in ev if e["pid"] == 100) == drv.trace.count("txn")
    # Every phase row is there once.
    assert sum(1 for e in ev if e["pid"] != 100) == drv.trace.count("phase")
