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


MODEL_EXCEPTION = """
import json, numpy as np
from a3sim import A3Driver
from a3sim.errors import ModelError, PlatformError
drv = A3Driver()
r = np.random.default_rng(0)
K, V, Q = (r.standard_normal(s).astype(np.float32) for s in ((20, 8), (20, 8), (3, 8)))
before, _ = drv.attention(Q, K, V)
drv.device.set_fault("fi_model_exception", 1)
got = {}
try:
    drv.attention(Q, K, V)
except ModelError as e:
    got["first"] = str(e)
try:
    drv.attention(Q, K, V)
except ModelError:
    got["second"] = "ModelError"
except PlatformError as e:
    got["second"] = "PlatformError: " + str(e)
got["before"] = float(np.abs(before).sum())
print(json.dumps(got))
"""


def test_an_exception_inside_the_kernel_is_a_model_error_and_the_process_survives():
    """A C++ exception that escapes the SystemC kernel (fault fi_model_exception stands in for a model
    bug or a host limit) comes back as ModelError with the kernel's message (process and simulated
    time), never as a bare native exception; the platform is then unusable (PlatformError with the
    same message) while the Python process and what it already holds survive."""
    import json

    from conftest import in_fresh_process

    got = json.loads(in_fresh_process(MODEL_EXCEPTION).strip().splitlines()[-1])
    assert "injected model exception (fi_model_exception)" in got["first"]
    assert "a3_0.control" in got["first"] and "cannot be used any more" in got["first"]
    assert got["second"].startswith("PlatformError: ") and "fi_model_exception" in got["second"]
    assert got["before"] > 0
