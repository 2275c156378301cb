"""Parity of every table the two languages share: the C++ protocol header (as compiled into the
library, through ``protocol_table()``, ``error_table()`` and ``perf_table()``) against the driver's
own statement of it in ``a3sim.protocol``: opcodes, modes, phases, streams, descriptor flags,
register offsets, control/status/interrupt bits, queue limits, error codes, performance counters
and the byte layout of descriptors, completions and row stats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from a3sim import errors as E
from a3sim import protocol as P

HEADER = Path(__file__).resolve().parent.parent / "systemc" / "a3" / "a3_protocol.h"

# Python names of the trace enumerations, index by index, against the C++ enumerator names.
PHASE_NAMES = {"QUEUE": "queue", "FETCH": "fetch", "DMA_IN": "dma_in", "SORT": "sort",
               "CAND_SEL": "candidate_selection", "SCAN": "score_scan", "DOT": "dot_product",
               "EXP": "exponent", "OUTPUT": "output", "DMA_OUT": "dma_out", "COMPLETE": "completion", "IRQ": "irq"}  # fmt: skip
STREAM_NAMES = {"NONE": "none", "DESC": "descriptor", "K": "K", "V": "V", "SORTED": "sorted", "Q": "Q",
                "OUT": "out", "STATS": "stats", "SETS": "sets", "COMPLETION": "completion", "MMIO": "mmio"}  # fmt: skip


@pytest.fixture(scope="module")
def tables(drv):
    return drv.device.native.enum_table()


def test_opcodes_and_modes(tables):
    assert tables["opcode"] == {o.name: o.value for o in P.Opcode}
    assert tables["mode"] == {m.name: m.value for m in P.Mode}
    assert [n.lower() for n, _ in sorted(tables["opcode"].items(), key=lambda kv: kv[1])] == list(P.OPCODES)
    assert [n.lower() for n, _ in sorted(tables["mode"].items(), key=lambda kv: kv[1])] == list(P.MODES)


def test_phases_and_streams(tables):
    assert sorted(tables["phase"].values()) == list(range(len(P.PHASES)))
    assert {v: PHASE_NAMES[k] for k, v in tables["phase"].items()} == dict(enumerate(P.PHASES))
    assert sorted(tables["stream"].values()) == list(range(len(P.STREAMS)))
    assert {v: STREAM_NAMES[k] for k, v in tables["stream"].items()} == dict(enumerate(P.STREAMS))


def test_registers_and_bits(tables):
    assert tables["reg"] == {r.name: r.value for r in P.Reg}
    assert tables["dflag"] == {
        "IRQ": P.FLAG_IRQ,
        "ROW_STATS": P.FLAG_ROW_STATS,
        "NO_MIN_SKIP": P.FLAG_NO_MIN_SKIP,
        "SETS": P.FLAG_SETS,
    }
    assert tables["ctrl_bit"] == {"ENABLE": P.CTRL_ENABLE, "SOFT_RESET": P.CTRL_SOFT_RESET}
    assert tables["status_bit"] == {"BUSY": P.STATUS_BUSY, "ERROR": P.STATUS_ERROR, "ENABLED": P.STATUS_ENABLED,
                                    "LAST_ERROR_SHIFT": P.STATUS_LAST_ERROR_SHIFT}  # fmt: skip
    assert tables["irq_bit"] == {"DONE": P.IRQ_DONE, "ERROR": P.IRQ_ERROR}
    assert tables["res_bit"] == {"KV": P.RES_KV, "SORTED": P.RES_SORTED}
    assert tables["feat_bit"] == {f.name: f.value for f in P.Feature}
    lim = tables["limit"]
    assert lim["QUEUE_ENTRIES_MIN"] == P.QUEUE_ENTRIES_MIN
    assert (lim["DEVICE_ID"], lim["DEVICE_VERSION"]) == (P.DEVICE_ID, P.DEVICE_VERSION)
    assert (lim["MMIO_BASE"], lim["MMIO_STRIDE"], lim["DRAM_BASE"]) == (P.MMIO_BASE, P.MMIO_STRIDE, P.DRAM_BASE)
    # Every error code fits the status register's LAST_ERROR field.
    assert max(s.value for s in P.Status) <= P.STATUS_LAST_ERROR_MASK


def test_queue_limit_is_published(drv, tables):
    assert drv.read_reg(P.Reg.CAP_QUEUE_MAX) == tables["limit"]["QUEUE_ENTRIES_MAX"] == drv.queue_max
    with pytest.raises(E.ConfigError, match=str(drv.queue_max)):
        type(drv)(queue_entries=drv.queue_max + 1)


@pytest.mark.parametrize("name, dtype", [("descriptor", P.DESCRIPTOR_DTYPE), ("completion", P.COMPLETION_DTYPE),
                                         ("row_stats", P.ROW_STATS_DTYPE)])  # fmt: skip
def test_record_layouts(tables, name, dtype):
    layout = {k.split(".", 1)[1]: v for k, v in tables["layout"].items() if k.startswith(name + ".")}
    assert layout.pop("__size__") == dtype.itemsize
    assert layout == {f: dtype.fields[f][1] for f in dtype.names}


def test_error_codes_and_counters(drv):
    native = drv.device.native
    codes = native.error_codes()
    assert {c: e.name for c, e in codes.items()} == {s.value: s.name for s in P.Status}
    assert set(P.Status.__members__) - {"OK"} == set(E.ERROR_CLASSES)
    assert [n for n, _ in native.perf_counters()] == list(P.PERF_COUNTERS)


def test_header_text_matches_the_compiled_tables(tables):
    """The header as written (what docs/register-map.md quotes) and the library agree: a stale
    build or a hand edit of one side shows here."""
    text = HEADER.read_text()
    block = text[text.index("namespace reg {") : text.index("}  // namespace reg")]
    regs = {m[1]: int(m[2], 16) for m in re.finditer(r"constexpr uint32_t (\w+) = (0x[0-9A-Fa-f]+);", block)}
    assert regs == tables["reg"]
    errs = {m[1]: int(m[2]) for m in re.finditer(r"X\((\w+), (\d+), \"", text)}
    assert errs == {s.name: s.value for s in P.Status}
