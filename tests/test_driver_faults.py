"""Injected faults seen through the driver (docs/descriptors.md section 9): a corrupted completion
record becomes a typed error and the unit is re-programmed; a lost or late interrupt costs nothing
because the driver polls the completion ring; a DMA error response becomes DmaFaultError. After
each, the same driver computes exact attention again. Every test runs in a forked child, so the
faults never reach the session's platform."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim import errors as E
from conftest import assert_exact_close, in_fork, rand


def _shapes(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rand(rng, 8, 16), rand(rng, 24, 16), rand(rng, 24, 16)


def _check_again(drv) -> None:
    Q, K, V = _shapes(1)
    out, _ = drv.attention(Q, K, V)
    assert_exact_close(out, Q, K, V)


def test_corrupted_completion_is_a_typed_error_and_the_driver_recovers(drv):
    def child():
        Q, K, V = _shapes()
        drv.device.set_fault("fi_corrupt_completion", 1)
        with pytest.raises(E.CorruptCompletionError, match="check word"):
            drv.attention(Q, K, V)
        assert drv.device.faults_injected()["corrupt_completion"] == 1
        _check_again(drv)
        return True

    assert in_fork(child)


@pytest.mark.parametrize("fault, value", [("fi_irq_drop", 1), ("fi_irq_delay_ns", 5000.0)])
def test_lost_or_late_interrupt_still_gives_the_right_result(drv, fault, value):
    def child():
        Q, K, V = _shapes()
        drv.device.set_fault(fault, value)
        out, _ = drv.attention(Q, K, V)
        assert_exact_close(out, Q, K, V)
        drv.device.set_fault(fault, 0)
        _check_again(drv)
        return True

    assert in_fork(child)


def test_dma_error_response_is_a_typed_error_and_the_driver_recovers(drv):
    def child():
        Q, K, V = _shapes()
        drv.device.set_fault("fi_dma_error_rate", 1.0)
        with pytest.raises(E.DmaFaultError) as info:
            drv.attention(Q, K, V)
        assert info.value.name == "DMA_ERROR"
        drv.device.set_fault("fi_dma_error_rate", 0.0)
        _check_again(drv)
        return True

    assert in_fork(child)


def test_stuck_busy_unit_times_out_and_the_driver_recovers(drv):
    def child():
        from a3sim import A3Driver

        Q, K, V = _shapes()
        d = A3Driver(timeout_ns=1e6)
        d.device.set_fault("fi_stuck_busy", 1)
        with pytest.raises(E.DeviceTimeoutError):
            d.attention(Q, K, V)
        assert d.device.faults_injected()["stuck_busy"] == 1
        _check_again(d)  # the driver re-programs the unit (soft reset) before its next call
        return True

    assert in_fork(child)
