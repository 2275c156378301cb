"""The raw layer (issue 13, finding 7): the native API before a platform exists, the device-memory
allocator, run() limits and the smallest useful DRAM. Every misuse is a typed error; nothing
segfaults and the kernel keeps working."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim import errors as E
from conftest import exact_attention, in_fresh_process, rand


def test_native_calls_before_a_platform_exists_are_refused():
    out = in_fresh_process(
        """
        import ctypes
        import numpy as np
        from a3sim import _native
        a = _native.api()
        NP, BAD = int(a.NO_PLATFORM), int(a.BAD_ARGUMENT)
        snap = np.full(8, 7, np.uint64)
        buf = np.zeros(64, np.uint8)
        results = {
            "dram_size": a.dram_size(), "dram_ptr": a.dram_ptr(), "mmio_read": a.mmio_read(0x1000000000),
            "mmio_write": a.mmio_write(0x1000000000, 1), "run_until_irq": a.run_until_irq(10.0),
            "write_and_wait": a.write_and_wait(0x1000000030, 1, 10.0), "host_now_ns": a.host_now_ns(),
            "trace_enabled": a.trace_enabled(), "txn_count": a.txn_count(),
            "phase_count": a.phase_count(), "job_count": a.job_count(), "job_base": a.job_base(),
            "copy_txns": a.copy_txns(0, 1, buf.ctypes.data), "copy_phases": a.copy_phases(0, 1, buf.ctypes.data),
            "copy_jobs": a.copy_jobs(0, 1, buf.ctypes.data), "trace_dropped": a.trace_dropped(),
            "fault_set": a.fault_set("fi_irq_drop", 1.0), "fault_count": a.fault_count(0),
            "protocol_enabled": a.protocol_enabled(), "protocol_checked": a.protocol_checked(),
            "protocol_violations": a.protocol_violations(), "dram_count": a.dram_count(),
            "copy_dram": a.copy_dram(0, 1, buf.ctypes.data), "host_store": a.host_store(0, 64, 1),
            "host_transaction": a.host_transaction(False, 0, 0, 4, 4, 0xFFFFFFFF, False),
            "initiator_names": str(a.initiator_names()), "target_names": str(a.target_names()),
            "protocol_report": str(a.protocol_report()),
            "mmio_write2": a.mmio_write2(0x1000000000, 1, 0x1000000004, 2),
            "stage_f32": a.stage_f32(0x1000, np.zeros(4, np.float32), 4),
            "copy_call_rows": a.copy_call_rows(0, 0, buf.ctypes.data, buf.size), "last_irq_ps": a.last_irq_ps(),
        }
        a.snapshot(snap.ctypes.data)
        a.trace_enable(False); a.trace_clear(); a.protocol_clear(); a.snapshot(0)
        results["snapshot"] = int(snap.sum())
        print("error:", a.last_error())
        for k, v in results.items():
            print(k, v)
        # The tables that need no platform still answer; then a platform can be built as usual.
        assert "dram_mb" in str(a.config_table()) and "DMA_ERROR" in str(a.error_table())
        from a3sim.device import Device
        dev = Device.open()
        print("after_create", dev.dram_size, dev.read_reg(0, 0) == 0x41335349)
        """
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert "no platform" in lines["error:"]
    for name in (
        "mmio_read",
        "mmio_write",
        "run_until_irq",
        "write_and_wait",
        "fault_set",
        "host_transaction",
        "host_store",
        "mmio_write2",
        "stage_f32",
    ):
        assert lines[name] == "-1000", name
    for name in (
        "dram_size",
        "dram_ptr",
        "txn_count",
        "phase_count",
        "job_count",
        "job_base",
        "copy_txns",
        "copy_phases",
        "copy_jobs",
        "trace_dropped",
        "fault_count",
        "protocol_checked",
        "protocol_violations",
        "dram_count",
        "copy_dram",
        "snapshot",
        "copy_call_rows",
        "last_irq_ps",
    ):
        assert lines[name] == "0", name
    assert float(lines["host_now_ns"]) == 0.0
    assert lines["trace_enabled"] == "False" and lines["protocol_enabled"] == "False"
    assert lines["after_create"] == f"{1024 << 20} True"


def test_double_free_and_foreign_blocks_are_refused(drv):
    dev = drv.device
    b = dev.alloc(1000)
    used = dev.allocator.used
    dev.free(b)
    with pytest.raises(E.AllocationError, match="freed twice"):
        dev.free(b)
    assert dev.allocator.used == used - b.size  # the refused free changed nothing
    from a3sim.device import Block

    with pytest.raises(E.AllocationError):
        dev.free(Block(b.address + 256, 256))  # inside the heap but never allocated
    c = dev.alloc(1000)  # the allocator is intact
    assert c.address == b.address
    dev.free(c)


@pytest.mark.parametrize("nbytes", [-5, 0, 1.5, "64", True, None])
def test_alloc_needs_a_positive_integer(drv, nbytes):
    used = drv.device.allocator.used
    with pytest.raises(E.AllocationError):
        drv.device.alloc(nbytes)
    assert drv.device.allocator.used == used
    assert issubclass(E.AllocationError, ValueError)


@pytest.mark.parametrize("limit", [-1, -1e-9, float("nan"), "soon", None])
def test_run_refuses_a_bad_limit_and_the_kernel_goes_on(drv, limit):
    with pytest.raises(E.ParameterError):
        drv.device.run(limit)
    rng = np.random.default_rng(70)
    Q, K, V = rand(rng, 2, 8), rand(rng, 9, 8), rand(rng, 9, 8)
    out, _ = drv.attention(Q, K, V)
    np.testing.assert_allclose(out, exact_attention(Q, K, V), rtol=1e-5, atol=1e-6)


def test_run_without_a_limit(drv):
    # +inf (and anything beyond 1e15 ns) means no limit: an idle platform returns at once.
    t = drv.device.now_ns()
    assert drv.device.run(float("inf")) is False and drv.device.run(1e300) is False
    assert drv.device.now_ns() == t


def test_dram_below_the_minimum_is_refused_at_configuration():
    out = in_fresh_process(
        """
        import numpy as np
        from a3sim import A3Driver
        from a3sim.errors import ConfigError
        for mb in (1, 0, 1.5):
            try:
                A3Driver(config={"dram_mb": mb})
                print("accepted", mb)
            except ConfigError as e:
                print("refused", mb, "[2, 65536]" in str(e))
        # The minimum, 2 MiB, runs a design-point call: 320 keys, d = 64, 256 queries, approx.
        drv = A3Driver(config={"dram_mb": 2})
        rng = np.random.default_rng(0)
        K, V, Q = (rng.standard_normal(s).astype(np.float32) for s in ((320, 64), (320, 64), (256, 64)))
        ctx = drv.load(K, V)
        out, rec = drv.attention(Q, ctx, mode="approx", M=1000)
        print("design point:", out.shape, bool(np.isfinite(out).all()))
        """
    )
    assert out.count("True") >= 4 and "accepted" not in out
    assert "design point: (256, 64) True" in out


def test_describe_gives_the_same_tables_as_the_single_calls():
    """Start-up reads its tables through one native call (``describe``); each section must be
    what the function of that table returns on its own."""
    from a3sim.device import Device

    dev = Device.open()
    raw = dev.native._ns
    sections = {}
    for part in str(raw.describe()).split("@@")[1:]:
        name, _, body = part.partition("\n")
        sections[name] = body
    single = {
        "config": raw.config_table(),
        "errors": raw.error_table(),
        "initiators": raw.initiator_names(),
        "targets": raw.target_names(),
        "layout_txn": raw.txn_layout(),
        "layout_phase": raw.phase_layout(),
        "layout_job": raw.job_layout(),
        "layout_dram": raw.dram_layout(),
    }
    for name, text in single.items():
        assert sections[name].strip() == str(text).strip(), name
    window = dict(line.split("|") for line in sections["dram"].split())
    assert int(window["base"]) == int(raw.dram_base()) == dev.dram_base
    assert int(window["size"]) == int(raw.dram_size()) == dev.dram_size
    assert int(window["ptr"]) == int(raw.dram_ptr())
    assert dev.native.config_rows() and dev.native.initiator_names() == [
        s for s in str(raw.initiator_names()).split(";") if s
    ]
