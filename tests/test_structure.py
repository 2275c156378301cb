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
    """One native copy per table and request, whatever the number of rows (no per-row round trips);
    a call's record takes its job and phase rows together in one copy."""
    rng = np.random.default_rng(33)
    tr = drv.trace
    calls: dict[str, list[int]] = {"txn": [], "phase": [], "job": [], "call": []}
    for kind, fn in dict(tr._copy).items():

        def counting(start, count, dst, _fn=fn, _kind=kind):
            calls[_kind].append(int(count))
            return _fn(start, count, dst)

        monkeypatch.setitem(tr._copy, kind, counting)
    call_rows = drv._rows._copy  # the driver's RowReader: native copy_call_rows

    def counting_call(job0, phase0, dst, cap):
        got = int(call_rows(job0, phase0, dst, cap))
        calls["call"].append(got)
        return got

    monkeypatch.setattr(drv._rows, "_copy", counting_call)
    p0 = tr.count("phase")
    _, rec = drv.attention(rand(rng, 1024, 64), rand(rng, 320, 64), rand(rng, 320, 64))
    # The call's record: its job rows and its phase rows, in one copy (a buffer too small for a
    # call's rows takes a second); no per-table copies.
    assert 1 <= len(calls["call"]) <= 2 and calls["job"] == calls["phase"] == []
    jobs, phases = calls["call"][-1] >> 32, calls["call"][-1] & 0xFFFF_FFFF
    assert jobs == len(rec.jobs) == 5
    assert phases == tr.count("phase") - p0 == len(rec._phases) > 5
    assert (rec._phases["job"] >= rec.jobs.min()).all()
    # The transaction table of the whole trace: one copy of every row.
    held = tr.count("txn")
    t = tr.transactions()
    assert len(t) == held > 1000
    assert calls["txn"] == [held]
