"""The native loader and its typed facade.

:func:`api` finds the CMake-built model library, loads it into cppyy and includes the thin header
``a3sim_api.h`` (no SystemC headers: those cost ~0.6 s to parse). :class:`Native` wraps that
namespace with types and named results: the text tables of the C++ side (configuration, error
codes, performance counters, protocol enumerations) are parsed here, once, and nowhere else.

Search order for the library: ``$A3SIM_LIB``; ``a3sim/_lib/liba3sim.so`` of the installed package;
``build/*/liba3sim.so`` of a source checkout.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import PlatformError

_PKG = Path(__file__).resolve().parent
LIB_NAME = "liba3sim.so"
HEADER_NAME = "a3sim_api.h"

#: What ``snapshot()`` writes: eight uint64 (see ``a3sim_api.h``).
SNAPSHOT_DTYPE = np.dtype(
    [
        ("job_base", "<u8"),  # id of the first held job row
        ("job_rows", "<u8"),
        ("phase_rows", "<u8"),
        ("txn_rows", "<u8"),
        ("host_ps", "<u8"),  # host time
        ("last_irq_ps", "<u8"),  # delivery time of the last interrupt
        ("now_ps", "<u8"),  # simulation time
        ("irqs", "<u8"),  # interrupts delivered
    ]
)


class Formula(enum.IntEnum):
    """Cycle formulas of the timing model (``timing_formula``'s stage argument, docs/spec.md 3.6)."""

    DOT = 0  # (rows, -): dot-product module, exact (n rows) or on C (|C| rows)
    EXPONENT = 1  # (n, -): exponent module of base A3
    OUTPUT = 2  # (rows, -): output module, exact (n rows) or on SEL (|SEL| rows)
    CAND_SEL = 3  # (M, -)
    SCAN = 4  # (n, -): greedy-score scan
    POST_EXPONENT = 5  # (|C|, |SEL|): post-scoring + exponent
    SORT = 6  # (n, d)


@dataclass(frozen=True)
class ErrorCode:
    """One device status code (``A3_ERROR_TABLE`` of ``a3_protocol.h``)."""

    code: int
    name: str
    message: str


class ConfigRow(NamedTuple):
    """One row of the native configuration table."""

    name: str
    value: float
    default: float
    unit: str
    source: str


def find_library() -> Path:
    """Path of the model library, or :class:`PlatformError` saying how to build it."""
    env = os.environ.get("A3SIM_LIB")
    candidates = [Path(env)] if env else []
    candidates.append(_PKG / "_lib" / LIB_NAME)
    root = _PKG.parent.parent
    candidates.extend(sorted((root / "build").glob(f"*/{LIB_NAME}"), key=lambda p: -p.stat().st_mtime))
    for c in candidates:
        if c.is_file():
            return c
    raise PlatformError(
        f"cannot find {LIB_NAME} (looked in {', '.join(str(c) for c in candidates)}); "
        "build it with `make setup` or `pip install .`, or point $A3SIM_LIB at it"
    )


def _find_header(lib: Path) -> Path:
    for c in (lib.parent / HEADER_NAME, _PKG.parent.parent / "systemc" / "api" / HEADER_NAME):
        if c.is_file():
            return c
    raise PlatformError(f"cannot find {HEADER_NAME} next to {lib}")


def _lines(text: Any, fields: int) -> list[list[str]]:
    return [line.split("|", fields - 1) for line in str(text).splitlines() if line.strip()]


class Native:
    """Typed view of the native ``a3sim`` namespace (one per process, see :func:`native`).

    The hot calls are the cppyy functions themselves, bound as attributes (no extra Python frame).
    """

    # platform
    create: Callable[[str], int]
    exists: Callable[[], bool]
    # MMIO: read returns the value or the negative TLM status; write returns 1 or the TLM status
    mmio_read: Callable[[int], int]
    mmio_write: Callable[[int, int], int]
    mmio_base: Callable[[int], int]
    # two MMIO writes in one call (IRQ_ACK then CQ_HEAD): 1 or the TLM status of the failed write
    mmio_write2: Callable[[int, int, int, int], int]
    # index of the first NaN / infinity of a C-contiguous float32 array (data, count), or -1
    first_nonfinite: Callable[[Any, int], int]
    # copy float32 data into DRAM at a bus address and check it: first NaN / infinity index, -1, or
    # BAD_ARGUMENT (outside DRAM)
    stage_f32: Callable[[int, Any, int], int]
    dram_base: Callable[[], int]
    dram_size: Callable[[], int]
    dram_ptr: Callable[[], int]
    # simulation: 1 when an interrupt reached the host; write_and_wait -1 on a bus error
    run_until_irq: Callable[[float], int]
    write_and_wait: Callable[[int, int, float], int]
    now_ns: Callable[[], float]
    host_now_ns: Callable[[], float]
    last_irq_ps: Callable[[], int]  # delivery time of the last interrupt (ps)
    # trace buffers (used by a3sim.trace)
    trace_enable: Callable[[bool], None]
    trace_enabled: Callable[[], bool]
    trace_clear: Callable[[], None]
    txn_count: Callable[[], int]
    phase_count: Callable[[], int]
    job_count: Callable[[], int]
    job_base: Callable[[], int]
    txn_layout: Callable[[], str]
    phase_layout: Callable[[], str]
    job_layout: Callable[[], str]
    copy_txns: Callable[[int, int, int], int]
    copy_phases: Callable[[int, int, int], int]
    copy_jobs: Callable[[int, int, int], int]
    # a call's job rows (from a job id) and phase rows (from an index) in one copy:
    # copy_call_rows(job_id, phase_start, dst, capacity) -> (jobs << 32) | phases
    copy_call_rows: Callable[[int, int, int, int], int]
    # cycles of one timing formula: timing_formula(Formula, a, b) (see also :meth:`timing`)
    timing_formula: Callable[[int, int, int], int]
    # timed host store of DRAM bytes over the bus (host_stores = 1): 1, 0 (backdoor) or TLM status
    host_store: Callable[[int, int, int], int]
    # DRAM policy: parameters, statistics (text tables parsed by a3sim.memory), latency histogram,
    # the DRAM burst trace (used by a3sim.trace)
    dram_spec: Callable[[], str]
    dram_stats: Callable[[], str]
    dram_reset_stats: Callable[[], None]
    dram_latency_hist: Callable[[int, int], int]
    dram_count: Callable[[], int]
    dram_layout: Callable[[], str]
    copy_dram: Callable[[int, int, int], int]
    # fault injection and the TLM-2.0 protocol checkers (docs/robustness.md)
    fault_set: Callable[[str, float], int]
    fault_count: Callable[[int], int]
    protocol_report: Callable[[], str]
    protocol_enabled: Callable[[], bool]
    protocol_checked: Callable[[], int]
    protocol_violations: Callable[[], int]

    _BOUND = (
        "create exists mmio_read mmio_write mmio_write2 first_nonfinite stage_f32 mmio_base dram_base dram_size dram_ptr run_until_irq "
        "write_and_wait now_ns host_now_ns last_irq_ps trace_enable trace_enabled trace_clear txn_count phase_count "
        "job_count job_base txn_layout phase_layout job_layout copy_txns copy_phases copy_jobs copy_call_rows timing_formula "
        "host_store dram_spec dram_stats dram_reset_stats dram_latency_hist dram_count dram_layout copy_dram "
        "fault_set fault_count protocol_report protocol_enabled protocol_checked protocol_violations"
    ).split()

    def __init__(self, ns: Any) -> None:
        self._ns = ns
        for name in self._BOUND:
            setattr(self, name, getattr(ns, name))
        self._snap = np.zeros(1, SNAPSHOT_DTYPE)
        self._snap_addr = int(self._snap.ctypes.data)
        self._snap_fn = ns.snapshot
        self._snap_u64 = self._snap.view(np.uint64)
        self._described: dict[str, str] | None = None  # describe() of the built platform

    def _tables(self) -> dict[str, str]:
        """The start-up tables (:func:`describe` sections), read in one native call: cppyy
        compiles a wrapper at the first call of each function (~3-4 ms each). Kept once the
        platform exists (one per process, its tables fixed); read afresh before."""
        if self._described is not None:
            return self._described
        out: dict[str, str] = {}
        for part in str(self._ns.describe()).split("@@")[1:]:
            name, _, body = part.partition("\n")
            out[name] = body
        if bool(self._ns.exists()):
            self._described = out
        return out

    def layout(self, table: str) -> str:
        """Row layout of a trace table ("txn", "phase", "job", "dram"): "name:kind:offset;..."."""
        return self._tables()["layout_" + table]

    def dram_window(self) -> tuple[int, int, int]:
        """The DRAM's bus base address, size in bytes and host address of its backing store."""
        v = dict(_lines(self._tables()["dram"], 2))
        return int(v["base"]), int(v["size"]), int(v["ptr"])

    def __getattr__(self, name: str) -> Any:
        """Native functions without a typed binding above (fuzzing and protocol tests) pass through
        to the raw namespace."""
        return getattr(self._ns, name)

    # ---- named results ----
    def last_error(self) -> str:
        """Why the last ``create`` failed."""
        return str(self._ns.last_error())

    def snapshot(self) -> np.void:
        """Counters and clocks in one native call: a record of :data:`SNAPSHOT_DTYPE` (overwritten
        by the next call: copy it to keep it)."""
        self._snap_fn(self._snap_addr)
        return self._snap[0]

    def snapshot_values(self) -> list[int]:
        """:meth:`snapshot` as eight Python ints, in :data:`SNAPSHOT_DTYPE` order (the driver's
        per-call read: no numpy scalars)."""
        self._snap_fn(self._snap_addr)
        return self._snap_u64.tolist()

    def config_rows(self) -> list[ConfigRow]:
        """The configuration in force (or the defaults before ``create``)."""
        return [ConfigRow(n, float(v), float(d), u, s) for n, v, d, u, s in _lines(self._tables()["config"], 5)]

    def error_codes(self) -> dict[int, ErrorCode]:
        """Status code -> :class:`ErrorCode`."""
        return {int(c): ErrorCode(int(c), n, m) for c, n, m in _lines(self._tables()["errors"], 3)}

    def perf_counters(self) -> list[tuple[str, str]]:
        """(name, description) of each 64-bit performance counter, in register order."""
        return [(n, doc) for n, doc in _lines(self._ns.perf_table(), 2)]

    def enum_table(self) -> dict[str, dict[str, int]]:
        """The protocol's enumerations as the C++ side defines them: table -> {name: value}.
        Tables: opcode, mode, phase, stream, dflag, reg, status_bit, irq_bit, ctrl_bit, layout
        (descriptor, completion and row-stats field offsets and sizes)."""
        out: dict[str, dict[str, int]] = {}
        for table, name, value in _lines(self._ns.protocol_table(), 3):
            out.setdefault(table, {})[name] = int(value)
        return out

    def initiator_names(self) -> list[str]:
        """Bus initiators in index order."""
        return [s for s in self._tables()["initiators"].strip().split(";") if s]

    def target_names(self) -> list[str]:
        """Bus targets in index order."""
        return [s for s in self._tables()["targets"].strip().split(";") if s]

    def timing(self, formula: Formula, a: int, b: int = 0) -> int:
        """Cycles of one formula of the timing model in force."""
        return int(self._ns.timing_formula(int(formula), int(a), int(b)))


@lru_cache(maxsize=1)
def api() -> Any:
    """The raw ``a3sim`` C++ namespace of the loaded library (loaded once per process)."""
    os.environ.setdefault("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1")
    try:
        import cppyy
    except ImportError as exc:  # pragma: no cover - cppyy is a dependency
        raise PlatformError(f"cppyy is not installed: {exc}") from exc
    lib = find_library()
    header = _find_header(lib)
    # Cling compiles as C++20; libsystemc was built as C++17: say so before including the header.
    cppyy.cppdef("#define SC_CPLUSPLUS 201703L")
    try:
        cppyy.load_library(str(lib))
    except Exception as exc:
        raise PlatformError(f"cannot load {lib}: {exc}") from exc
    cppyy.include(str(header))
    return cppyy.gbl.a3sim


@lru_cache(maxsize=1)
def native() -> Native:
    """The typed facade of the loaded library."""
    return Native(api())
