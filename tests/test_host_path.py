"""The host driver's per-call path (issue 10): the submit/collect split, the native helpers the
driver's hot path uses (input staging with its finiteness check, two MMIO writes in one call, a
call's trace rows in one copy), and that doing the same work cheaper kept its results."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim import errors as E
from a3sim.protocol import Reg
from conftest import assert_exact_close, exact_attention, rand


def test_submit_then_collect_is_attention(drv):
    rng = np.random.default_rng(101)
    q, K, V = rand(rng, 5, 16), rand(rng, 40, 16), rand(rng, 40, 16)
    jobs_before = drv.trace.count("job")
    pending = drv.submit(q, K, V)
    # Submitted, doorbell rung, nothing simulated yet: no job has been fetched.
    assert not pending.done and pending.unit == drv.unit
    assert drv.trace.count("job") == jobs_before
    out, rec = drv.collect(pending)
    assert_exact_close(out, q, K, V)
    assert out.shape == (5, 16) and rec.m == 5 and rec.n == 40 and rec.tiles == 1
    assert len(rec.jobs) == 2 and rec.latency_ns > 0
    # The same call through attention gives the same bits and the same simulated costs.
    out2, rec2 = drv.attention(q, K, V)
    assert np.array_equal(out, out2)
    assert rec2.compute_cycles == rec.compute_cycles and rec2.bytes_read == rec.bytes_read
    with pytest.raises(E.A3InputError, match="already collected"):
        drv.collect(pending)


def test_one_call_in_flight_per_driver(drv):
    rng = np.random.default_rng(102)
    Q, K, V = rand(rng, 3, 4, 8), rand(rng, 3, 12, 8), rand(rng, 3, 12, 8)
    pending = drv.submit_batch(Q, K, V)
    with pytest.raises(E.A3InputError, match="in flight"):
        drv.attention(Q[0], K[0], V[0])
    out, rec = drv.collect(pending)
    for b in range(3):
        assert_exact_close(out[b], Q[b], K[b], V[b])
    assert rec.m == 12 and len(rec.jobs) == 6
    out, _ = drv.attention(Q[0], K[0], V[0])  # the driver takes calls again
    assert_exact_close(out, Q[0], K[0], V[0])


def test_collect_waits_across_several_doorbells():
    """A call with more descriptors than the ring holds rings one doorbell per ring's worth; the
    pending call advances through them (in a fresh driver with a small ring)."""
    from a3sim import A3Driver

    small = A3Driver(queue_entries=4)  # 3 descriptors per doorbell
    try:
        rng = np.random.default_rng(103)
        Q, K, V = rand(rng, 5, 2, 8), rand(rng, 5, 9, 8), rand(rng, 5, 9, 8)  # 10 descriptors
        pending = small.submit_batch(Q, K, V)
        out, rec = small.collect(pending)
        for b in range(5):
            assert_exact_close(out[b], Q[b], K[b], V[b])
        assert len(rec.jobs) == 10
    finally:
        small.close()


def test_nonfinite_inputs_are_named_by_the_staging_check(drv):
    """Finiteness of float32 inputs is checked while they are staged into device memory: the same
    typed error, naming the argument as the user passed it, and nothing reaches the device."""
    rng = np.random.default_rng(104)
    Q, K, V = rand(rng, 2, 3, 8), rand(rng, 2, 10, 8), rand(rng, 2, 10, 8)
    jobs = drv.trace.count("job")
    bad = V.copy()
    bad[1, 7, 2] = -np.inf
    with pytest.raises(E.NonFiniteError, match=r"V holds a non-finite value \(-inf\) at index \(1, 7, 2\)"):
        drv.attention_batch(Q, K, bad)
    q = rand(rng, 8)
    q[6] = np.nan
    with pytest.raises(E.NonFiniteError, match=r"q holds a non-finite value \(nan\) at index \(6,\)"):
        drv.attention(q, K[0], V[0])
    assert drv.trace.count("job") == jobs
    # A non-contiguous or float64 argument takes the converting path, with the same check.
    Kt = np.asfortranarray(K[0]).astype(np.float64)
    Kt[4, 1] = np.nan
    with pytest.raises(E.NonFiniteError, match=r"K holds a non-finite value \(nan\) at index \(4, 1\)"):
        drv.attention(Q[0], Kt, V[0])
    assert drv.trace.count("job") == jobs
    out, _ = drv.attention(Q[0], K[0], V[0])
    assert_exact_close(out, Q[0], K[0], V[0])


def test_native_finiteness_scan(drv):
    nat = drv.device.native
    x = np.zeros(1000, np.float32)
    assert nat.first_nonfinite(x, x.size) == -1
    assert nat.first_nonfinite(x, 0) == -1
    for i, v in ((0, np.nan), (255, np.inf), (256, -np.inf), (300, np.nan), (999, np.inf)):
        y = x.copy()
        y[i] = v
        y[-1] = np.nan if i != 999 else y[-1]  # a later one must not win
        assert nat.first_nonfinite(y, y.size) == i
    # The largest finite values and the smallest subnormals are finite.
    z = np.array([np.finfo(np.float32).max, -np.finfo(np.float32).max, 1e-45, -0.0], np.float32)
    assert nat.first_nonfinite(z, z.size) == -1


def test_stage_f32_writes_and_checks(drv):
    dev = drv.device
    nat = dev.native
    blk = dev.alloc(4096)
    try:
        x = np.arange(100, dtype=np.float32)
        assert nat.stage_f32(blk.address, x, x.size) == -1
        assert np.array_equal(dev.view(blk.address, np.float32, 100), x)
        x[42] = np.nan
        assert nat.stage_f32(blk.address, x, x.size) == 42
        # Outside DRAM: refused, nothing written.
        bad = int(nat.stage_f32(dev.dram_base + dev.dram_size - 8, x, x.size))
        assert bad == int(dev.native.BAD_ARGUMENT) and "outside DRAM" in nat.last_error()
        assert int(nat.stage_f32(dev.dram_base + dev.dram_size, x, 1)) == int(dev.native.BAD_ARGUMENT)
        assert int(nat.stage_f32(dev.dram_base + dev.dram_size - 4, x, 1)) == -1  # the last word is inside
    finally:
        dev.free(blk)


def test_two_mmio_writes_in_one_call(drv):
    base = drv.device.reg_address(drv.unit, 0)
    assert drv.device.native.mmio_write2(base + Reg.SCRATCH, 0x1234, base + Reg.SCRATCH, 0xABCD) == 1
    assert drv.read_reg(Reg.SCRATCH) == 0xABCD  # both writes, in order
    # A failed first write stops there (the second is not issued) and reports the TLM status.
    hole = drv.device.dram_base + drv.device.dram_size + 0x1000  # nothing is mapped there
    assert drv.device.native.mmio_read(hole) < 0
    assert drv.device.native.mmio_write2(hole, 1, base + Reg.SCRATCH, 7) < 0
    assert drv.read_reg(Reg.SCRATCH) == 0xABCD
    out, _ = drv.attention(np.ones(4, np.float32), np.eye(4, dtype=np.float32), np.eye(4, dtype=np.float32))
    assert np.allclose(out, exact_attention(np.ones(4), np.eye(4), np.eye(4)), atol=1e-6)


def test_record_fields_come_from_the_plan_and_rows(drv):
    rng = np.random.default_rng(105)
    n = drv.n_max + 40  # two tiles
    q, K, V = rand(rng, 3, 16), rand(rng, n, 16), rand(rng, n, 16)
    out, rec = drv.attention(q, K, V, mode="approx", M=20, T=0.05)
    assert (rec.mode, rec.m, rec.n, rec.d, rec.tiles, rec.M, rec.T) == ("approx", 3, n, 16, 2, 20, np.float32(0.05))
    js = drv.trace.job_summary()
    mine = js[js.job.isin(rec.jobs)]
    assert len(mine) == len(rec.jobs) == 2 * 3  # per tile LOAD_KV, LOAD_SORTED, ATTEND
    assert rec.bytes_read == int(mine.bytes_rd.sum()) and rec.compute_cycles == int(mine.compute_cycles.sum())
    assert len(rec.n_candidates) == 3 and (rec.n_selected <= rec.n_candidates).all()
    assert "CallRecord(mode='approx'" in repr(rec)
