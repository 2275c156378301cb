"""Structural properties the simulator's speed rests on (not timed): a resident K/V is not
transferred again, one device job per head, and trace records move from C++ in bulk."""

from __future__ import annotations

import numpy as np

from conftest import rand


def _jobs(drv, rec):
    s = drv.trace.job_summary()
    return s[s.job.isin(rec.jobs)]


def test_resident_kv_is_not_transferred_again(drv):
    rng = np.random.default_rng(31)
    m, n, d = 300, 320, 64
    ctx = drv.load(rand(rng, n, d), rand(rng, n, d))
    _, first = drv.attention(rand(rng, m, d), ctx)
    _, second = drv.attention(rand(rng, m, d), ctx)
    t = drv.trace.transactions()
    for rec, loads in ((first, 1), (second, 0)):
        jobs = _jobs(drv, rec)
        assert int((jobs.opcode.astype(str) == "load_kv").sum()) == loads
        mine = t[t.job.isin(rec.jobs)]
        by = mine.groupby("stream", observed=True).bytes.sum()
        assert int(by.get("K", 0)) == loads * n * d * 4 and int(by.get("V", 0)) == loads * n * d * 4
        assert int(by["Q"]) == m * d * 4  # the queries do move every call
    ctx.close()


def test_one_attend_job_per_head(drv):
    # MiniLM's shape: 12 heads of 128 tokens, d = 32, one submission (attention_batch).
    rng = np.random.default_rng(32)
    B, m, d = 12, 128, 32
    assert m <= drv.q_rows
    _, rec = drv.attention_batch(rand(rng, B, m, d), rand(rng, B, m, d), rand(rng, B, m, d), sets=False)
    ops = _jobs(drv, rec).opcode.astype(str)
    assert int((ops == "attend").sum()) == B
    assert int((ops == "load_kv").sum()) == B
    assert len(rec.jobs) == 2 * B


def test_trace_records_move_in_bulk(drv, monkeypatch):
    """One native copy per table and request, whatever the number of rows (no per-row round trips)."""
    rng = np.random.default_rng(33)
    tr = drv.trace
    calls: dict[str, list[int]] = {"txn": [], "phase": [], "job": []}
    for kind, fn in dict(tr._copy).items():

        def counting(start, count, dst, _fn=fn, _kind=kind):
            calls[_kind].append(int(count))
            return _fn(start, count, dst)

        monkeypatch.setitem(tr._copy, kind, counting)
    p0 = tr.count("phase")
    _, rec = drv.attention(rand(rng, 1024, 64), rand(rng, 320, 64), rand(rng, 320, 64))
    # The call's record: its job rows and its phase rows, each in one copy.
    assert len(calls["job"]) == 1 and calls["job"][0] == len(rec.jobs) == 5
    assert len(calls["phase"]) == 1 and calls["phase"][0] == tr.count("phase") - p0 > 5
    # The transaction table of the whole trace: one copy of every row.
    held = tr.count("txn")
    t = tr.transactions()
    assert len(t) == held > 1000
    assert calls["txn"] == [held]
