"""Python smoke run of the sanitizer build (make sanitize): the driver, the approximate pipeline,
tiling, every fault kind, the protocol checkers and a short raw fuzz, on a library built with
AddressSanitizer + UndefinedBehaviorSanitizer (CMakePresets.json, preset "sanitize"). Any report
aborts the process with a non-zero exit; the end prints one summary line.

    make sanitize        # builds the preset, runs ctest under it, then this script (twice: the
                         # second time with --overlap: overlap = 1 and timed host stores)
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np


def reference(Q, K, V):
    S = Q.astype(np.float64) @ K.T.astype(np.float64)
    P = np.exp(S - S.max(axis=1, keepdims=True))
    return (P / P.sum(axis=1, keepdims=True)) @ V.astype(np.float64)


def main(overlap: bool = False) -> None:
    from a3sim import A3Driver
    from a3sim.device import Device
    from a3sim.errors import A3Error

    # --overlap: the prefetch and writeback threads and second banks (overlap = 1), and the host's
    # stores as timed bus writes (host_stores = 1).
    dev = Device.open({"protocol_check": 1} | ({"overlap": 1, "host_stores": 1} if overlap else {}))
    drv = A3Driver()
    rng = np.random.default_rng(0)
    calls = 0
    for n, d, m in ((16, 8, 2), (320, 64, 256), (700, 32, 40)):
        K, V, Q = (rng.standard_normal(s).astype(np.float32) for s in ((n, d), (n, d), (m, d)))
        out, _ = drv.attention(Q, K, V)
        np.testing.assert_allclose(out, reference(Q, K, V), rtol=1e-4, atol=1e-5)
        for kw in (
            {"mode": "approx", "M": 64},
            {"mode": "post_only", "T": 0.05},
            {"mode": "approx", "preset": "aggressive"},
        ):
            out, _ = drv.attention(Q, K, V, **kw)
            assert np.isfinite(out).all()
        calls += 4
    ctx = drv.load(K, V)
    drv.attention(Q, ctx)
    ctx.close()
    # K/V beyond the SRAM streamed from DRAM by the unit (n = 700 > n_max), arrays and a context.
    out, _ = drv.attention(Q, K, V, overflow="stream")
    np.testing.assert_allclose(out, reference(Q, K, V), rtol=1e-4, atol=1e-5)
    ctx = drv.load(K, V, overflow="stream")
    out, _ = drv.attention(Q[:5], ctx)
    np.testing.assert_allclose(out, reference(Q[:5], K, V), rtol=1e-4, atol=1e-5)
    ctx.close()
    calls += 2
    # Faults through the driver (a DMA error is a typed error, a late interrupt is absorbed), then
    # every fault at the raw level (tests/test_faults.py) and a short raw fuzz (tests/test_fuzz.py).
    for name, value in (("fi_dma_error_rate", 0.2), ("fi_irq_delay_ns", 2000.0)):
        dev.set_fault(name, value)
        for _ in range(5):
            try:
                drv.attention(Q[:4], K[:64], V[:64])
            except A3Error:
                pass
        dev.set_fault(name, 0)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    import test_faults
    import test_fuzz

    test_faults._dma_error_at_address()
    test_faults._dma_error_rate(7)
    test_faults._lost_interrupt()
    test_faults._late_interrupt()
    test_faults._stuck_busy()
    test_faults._corrupted_completions()
    tried, codes = test_fuzz.fuzz(15, seed=0)
    drv2 = A3Driver()
    out, _ = drv2.attention(Q[:3], K[:50], V[:50])
    np.testing.assert_allclose(out, reference(Q[:3], K[:50], V[:50]), rtol=1e-4, atol=1e-5)
    rep = dev.protocol_report()
    assert rep["violations"] == 0, rep
    print(
        f"sanitize smoke{' (overlap, timed host stores)' if overlap else ''}: {calls} driver calls, faults injected {dev.faults_injected()}, "
        f"{tried} fuzz sequences ({len(codes)} codes), {rep['checked']} transactions checked, 0 violations"
    )


if __name__ == "__main__":
    main(overlap="--overlap" in sys.argv[1:])
