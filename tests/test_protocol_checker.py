"""The TLM-2.0 base-protocol checkers (docs/register-map.md section 10): on every hop of the test
platform, silent over correct traffic (the whole suite's count is checked by conftest at the end),
and they catch a deliberately broken transaction without stopping the kernel. The rules one by
one, against a deliberately broken target, are in tests/cpp/test_protocol_checker.cpp."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim.protocol import MMIO_BASE, Reg
from conftest import exact_attention, in_fork, rand

# TLM response status values (IEEE 1666-2011 table 57)
OK, ADDRESS_ERROR, BURST_ERROR, BYTE_ENABLE_ERROR = 1, -2, -4, -5


def test_checkers_on_every_hop_see_traffic_and_no_violation(drv):
    dev = drv.device
    before = dev.protocol_report()
    assert before["enabled"]
    rng = np.random.default_rng(80)
    Q, K, V = rand(rng, 3, 16), rand(rng, 40, 16), rand(rng, 40, 16)
    drv.attention(Q, K, V, mode="approx", M=50)
    after = dev.protocol_report()
    # Every transaction crosses two checked hops (initiator -> bus, bus -> target).
    txns = drv.trace.count("txn")
    assert after["checked"] - before["checked"] >= 2 * min(txns, 10)
    assert after["violations"] == 0 and after["by_rule"] == {}
    names = str(dev.api.target_names())
    assert "dram" in names


@pytest.mark.parametrize(
    "write, address, nbytes, width, be_mask, expected",
    [
        (False, 0x10000, 256, 256, 0xFFFFFFFF, OK),  # DRAM burst
        (True, 0x10000, 4, 4, 0xFFFFFFFF, OK),
        (False, 0x10000, 64, 64, 0x0000FFFF, BYTE_ENABLE_ERROR),  # DRAM has no byte enables
        (False, 0x10000, 64, 16, 0xFFFFFFFF, BURST_ERROR),  # nor streaming
        (False, (1 << 30) - 8, 16, 16, 0xFFFFFFFF, ADDRESS_ERROR),  # crosses the end of DRAM
        (False, MMIO_BASE + Reg.ID, 4, 4, 0xFFFFFFFF, OK),  # a register
        (False, MMIO_BASE + Reg.ID, 4, 4, 0x3, BYTE_ENABLE_ERROR),
        (False, MMIO_BASE + Reg.ID, 8, 8, 0xFFFFFFFF, BURST_ERROR),  # registers are 32-bit
        (False, MMIO_BASE + Reg.ID, 4, 2, 0xFFFFFFFF, BURST_ERROR),
        (True, MMIO_BASE + 0x7F0, 4, 4, 0xFFFFFFFF, ADDRESS_ERROR),  # unmapped offset
        (False, 0x20_0000_0000, 4, 4, 0xFFFFFFFF, ADDRESS_ERROR),  # nothing there (decode)
    ],
)
def test_targets_answer_every_access_by_the_rules(drv, write, address, nbytes, width, be_mask, expected):
    dev = drv.device
    v0 = dev.protocol_report()["violations"]
    buf = np.zeros(nbytes, np.uint8)
    # Not recorded: other tests check that the session's recorded DRAM traffic is all OK.
    drv.trace.enabled = False
    try:
        st = int(dev.api.host_transaction(write, address, buf.ctypes.data, nbytes, width, be_mask, False))
    finally:
        drv.trace.enabled = True
    assert st == expected
    if expected == OK and address == MMIO_BASE + Reg.ID:
        assert int.from_bytes(buf.tobytes(), "little") == 0x41335349
    assert dev.protocol_report()["violations"] == v0


def _broken_transaction() -> dict:
    from a3sim.device import Device

    dev = Device.open()
    dev.api.protocol_clear()
    # An initiator bug: the response status is preset to OK instead of INCOMPLETE.
    st = int(dev.api.host_transaction(False, 0x10000, 0, 4, 4, 0xFFFFFFFF, True))
    rep = dev.protocol_report()
    # The kernel is alive and the platform computes correct results.
    from a3sim import A3Driver

    drv = A3Driver()
    rng = np.random.default_rng(81)
    Q, K, V = rand(rng, 2, 8), rand(rng, 9, 8), rand(rng, 9, 8)
    out, _ = drv.attention(Q, K, V)
    np.testing.assert_allclose(out, exact_attention(Q, K, V), rtol=1e-5, atol=1e-6)
    rep["status"] = st
    rep["after"] = dev.protocol_report()["violations"]
    return rep


def test_a_broken_transaction_is_caught_and_the_kernel_survives():
    rep = in_fork(_broken_transaction)
    assert rep["status"] == OK  # DRAM served it; only the protocol was broken
    # Caught on the host hop and again on the DRAM hop (the bus passes the status on).
    assert rep["violations"] == 2 and rep["by_rule"] == {"I1-status-incomplete": 2}
    assert "check_host" in rep["messages"][0] and "check_dram" in rep["messages"][1]
    assert rep["after"] == 2  # the driver's traffic afterwards adds none
