"""Regression tests of the driver-side findings of the host-integration probe (issue 13, findings
1-6): bounded waits, residency only after the device confirms, M bounded by what the unit counts,
threads, ownership after close, and typed exceptions for every bad argument."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest

from a3sim import A3Driver
from a3sim import errors as E
from a3sim._native import Formula
from a3sim.protocol import M_MAX
from conftest import exact_attention, in_fork, rand


def test_timeout_never_loops_forever():
    """Finding 1: a call longer than timeout_ns raises DeviceTimeoutError at once, time advances
    past every window, and the unit is usable again afterwards."""

    def child():
        rng = np.random.default_rng(1)
        Q, K, V = rand(rng, 256, 64), rand(rng, 320, 64), rand(rng, 320, 64)
        short = A3Driver(timeout_ns=1000.0)
        t0, now0 = time.perf_counter(), short.device.now_ns()
        with pytest.raises(E.DeviceTimeoutError) as info:
            short.attention(Q, K, V)
        assert isinstance(info.value, TimeoutError) and time.perf_counter() - t0 < 30
        assert short.device.now_ns() >= now0 + 1000.0 - 1e-6  # the window passed
        now1 = short.device.now_ns()
        short.device.run(500.0)  # work is pending beyond the window: time still moves
        assert short.device.now_ns() == pytest.approx(now1 + 500.0)
        # The next call waits (at most timeout_ns) for the work in flight, then fails the same way.
        with pytest.raises(E.DeviceTimeoutError):
            short.attention(Q[:1], K, V)
        patient = A3Driver()  # re-programs the unit once the old work is done
        out, _ = patient.attention(Q[:4], K, V)
        return float(np.abs(out - exact_attention(Q[:4], K, V)).max())

    assert in_fork(child) < 1e-5


def test_residency_changes_only_after_the_device_confirms(drv, monkeypatch):
    """Finding 2: a call on context b that fails before or during submission must not leave b
    marked resident while the banks still hold a's K/V."""
    rng = np.random.default_rng(2)
    Ka, Va, Kb, Vb, q = rand(rng, 40, 16), rand(rng, 40, 16), rand(rng, 40, 16), rand(rng, 40, 16), rand(rng, 3, 16)
    a, b = drv.load(Ka, Va), drv.load(Kb, Vb)
    drv.attention(q, a)
    with pytest.raises(E.ParameterError):
        drv.attention(q, b, mode="approx", preset={"M_frac": 1e30})
    out, _ = drv.attention(q, b)
    assert np.abs(out - exact_attention(q, Kb, Vb)).max() < 1e-5
    drv.attention(q, a)

    def no_memory(t):
        raise E.OutOfDeviceMemory("simulated: no room for the sorted table")

    monkeypatch.setattr(b, "sorted_table", no_memory)
    with pytest.raises(E.OutOfDeviceMemory):
        drv.attention(q, b, mode="approx")
    monkeypatch.undo()
    out, _ = drv.attention(q, b)
    assert np.abs(out - exact_attention(q, Kb, Vb)).max() < 1e-5


def test_M_is_bounded_by_what_the_unit_counts(drv):
    """Finding 3: M above M_MAX (a 32-bit iteration counter) is refused before the device; a large
    valid M gives the timing formula's cycles, and no phase ends before it starts."""
    rng = np.random.default_rng(3)
    q, K, V = rand(rng, 2, 16), rand(rng, 24, 16), rand(rng, 24, 16)
    for M in (2**62, 10**15, 1e18, M_MAX + 1):
        with pytest.raises(E.ParameterError, match="M_MAX"):
            drv.attention(q, K, V, mode="approx", M=M)
    with pytest.raises(E.ParameterError, match="M_MAX"):
        drv.attention(q, K, V, mode="approx", preset={"M_frac": 1e17})
    M = 10**6
    _, rec = drv.attention(q, K, V, mode="approx", M=M, T=0.0)
    assert rec.M == M
    assert rec.stage_cycles["candidate_selection"] == 2 * drv.device.native.timing(Formula.CAND_SEL, M)
    ph = rec._phases
    assert (ph["t_end_ps"] >= ph["t_start_ps"]).all()
    assert rec.compute_cycles < 2**40


def test_threads_never_get_a_wrong_result(drv):
    """Finding 4: several threads on one driver, and on two drivers, are serialised by the device
    lock: every result is right and no call fails."""
    other = A3Driver()
    errors: list[BaseException] = []
    wrong = []

    def worker(d, seed):
        rng = np.random.default_rng(seed)
        K, V = rand(rng, 30, 16), rand(rng, 30, 16)
        ctx = d.load(K, V)
        for i in range(150):
            q = rand(rng, 2, 16)
            try:
                out, _ = d.attention(q, ctx if i % 2 else K, None if i % 2 else V)
            except BaseException as exc:  # every failure is a finding
                errors.append(exc)
                return
            if np.abs(out - exact_attention(q, K, V)).max() > 1e-5:
                wrong.append((seed, i))

    threads = [threading.Thread(target=worker, args=(d, s)) for s, d in enumerate((drv, drv, other, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    other.close()
    assert not errors and not wrong, (errors[:3], wrong[:5])


def test_closed_driver_refuses_every_call(drv):
    """Finding 5: a closed driver raises DriverClosedError and cannot touch memory that another
    driver took over."""
    rng = np.random.default_rng(5)
    K, V, q = rand(rng, 20, 8), rand(rng, 20, 8), rand(rng, 2, 8)
    d1, d2 = A3Driver(), A3Driver()
    d1.close()
    ctx = d2.load(K, V)  # may reuse d1's freed ring memory
    for call in (lambda: d1.attention(q, K, V), lambda: d1.attention(q, ctx), lambda: d1.load(K, V),
                 lambda: d1.attention_batch(q[None], K[None], V[None]), lambda: d1.perf_counters()):  # fmt: skip
        with pytest.raises(E.DriverClosedError):
            call()
    d1.close()  # closing twice is harmless
    out, _ = d2.attention(q, ctx)
    assert d1.closed and np.abs(out - exact_attention(q, K, V)).max() < 1e-5
    d2.close()


def test_every_bad_argument_is_a_typed_error(drv):
    """Finding 6: typed a3sim errors that are also the ValueError / TypeError Python expects."""
    rng = np.random.default_rng(6)
    q, K, V = rand(rng, 2, 8), rand(rng, 12, 8), rand(rng, 12, 8)
    cases = [
        (dict(mode="approx", preset=["aggressive"]), E.ArgumentTypeError, TypeError),
        (dict(mode="approx", preset={"M_frac": None}), E.ArgumentTypeError, TypeError),
        (dict(mode="approx", preset={"M_frac": 1e30}), E.ParameterError, ValueError),
        (dict(mode="approx", T="0.5"), E.ArgumentTypeError, TypeError),
        (dict(mode="approx", M=True), E.ArgumentTypeError, TypeError),
        (dict(mode=3), E.ParameterError, ValueError),
        (dict(mode="exact", sets=1), E.ArgumentTypeError, TypeError),
        (dict(modes="exact"), E.ArgumentTypeError, TypeError),
    ]
    for kw, cls, builtin in cases:
        with pytest.raises(cls) as info:
            drv.attention(q, K, V, **kw)
        assert isinstance(info.value, builtin), kw
    big = K.astype(np.float64)
    big[3, 5] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning either
        with pytest.raises(E.NonFiniteError, match="float32 range"):
            drv.attention(q, big, V)
    masked = np.ma.masked_invalid(np.where(np.arange(K.size).reshape(K.shape) == 7, np.nan, K))
    with pytest.raises(E.MaskedInputError):
        drv.attention(q, masked, V)
    out, _ = drv.attention(q, np.ma.masked_array(K, mask=False), V)
    assert np.abs(out - exact_attention(q, K, V)).max() < 1e-5
    for kw in (dict(unit="0"), dict(queue_entries=2.5), dict(timeout_ns=-1.0), dict(timeout_ns=float("nan"))):
        with pytest.raises((E.ArgumentTypeError, E.ConfigError)):
            A3Driver(**kw)


def test_the_unit_owns_bank_residency(drv):
    """The unit publishes what its banks hold (RES_FLAGS, RES_KV_TAG: docs/register-map.md); the
    driver plans from those registers, so a second driver of the unit sees the same state."""
    from a3sim.driver.plan import kv_tag
    from a3sim.protocol import RES_KV, RES_SORTED, Reg

    rng = np.random.default_rng(11)
    K, V, q = rand(rng, 40, 16), rand(rng, 40, 16), rand(rng, 4, 16)
    with drv.load(K, V) as ctx:
        drv.attention(q, ctx)
        tag = drv.read_reg(Reg.RES_KV_TAG_LO) | (drv.read_reg(Reg.RES_KV_TAG_HI) << 32)
        assert tag == kv_tag(ctx.id, 0) and drv.read_reg(Reg.RES_FLAGS) == RES_KV
        drv.attention(q, ctx, mode="approx", M=8, T=0.0)
        assert drv.read_reg(Reg.RES_FLAGS) == RES_KV | RES_SORTED
        _, rec = drv.attention(q, ctx, mode="approx", M=8, T=0.0)
        assert rec.bytes_read < 40 * 16 * 4  # neither K/V nor the table moved again
    drv.attention(q, K, V)  # K/V arrays: loaded untagged, never resident for a later call
    assert drv.read_reg(Reg.RES_KV_TAG_LO) == 0 and drv.read_reg(Reg.RES_FLAGS) == RES_KV
