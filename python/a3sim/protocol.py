"""The host side of the device contract: register offsets, descriptor and completion layouts,
status codes, trace enumerations.

This is the driver's own statement of ``docs/register-map.md`` and ``docs/descriptors.md``,
written independently of ``systemc/a3/a3_protocol.h``; the host-integration tests check that the two
agree.
"""

from __future__ import annotations

import enum
import zlib

import numpy as np

DRAM_BASE = 0x0
MMIO_BASE = 0x10_0000_0000
MMIO_STRIDE = 0x1000
DEVICE_ID = 0x41335349
DEVICE_VERSION = 0x00010000
#: Largest M (candidate-selection iterations) the driver sends: the unit counts iterations in a
#: 32-bit counter [ours]; with it a job's cycle count stays far below 2**64 (docs/descriptors.md).
M_MAX = 2**32 - 1
#: Entries of a descriptor or completion ring: at least this many (the largest is CAP_QUEUE_MAX).
QUEUE_ENTRIES_MIN = 2


class Reg(enum.IntEnum):
    """Register offsets within a unit's 4 KiB window (all 32-bit)."""

    ID = 0x000
    VERSION = 0x004
    CTRL = 0x008
    STATUS = 0x00C
    IRQ_STATUS = 0x010
    IRQ_ENABLE = 0x014
    IRQ_ACK = 0x018
    SCRATCH = 0x01C
    SQ_BASE_LO = 0x020
    SQ_BASE_HI = 0x024
    SQ_SIZE = 0x028
    SQ_HEAD = 0x02C
    SQ_TAIL = 0x030
    CQ_BASE_LO = 0x040
    CQ_BASE_HI = 0x044
    CQ_SIZE = 0x048
    CQ_HEAD = 0x04C
    CQ_TAIL = 0x050
    CAP_N_MAX = 0x080
    CAP_D_MAX = 0x084
    CAP_Q_ROWS = 0x088
    CAP_CLOCK_MHZ = 0x08C
    CAP_BURST_BYTES = 0x090
    CAP_FEATURES = 0x094
    CAP_QUEUE_MAX = 0x098
    CAP_ITER_BITS = 0x09C
    RES_KV_TAG_LO = 0x0A0
    RES_KV_TAG_HI = 0x0A4
    RES_FLAGS = 0x0A8
    PERF_BASE = 0x100
    PERF_CLEAR = 0x1F0


class Ctrl(enum.IntFlag):
    """Bits of CTRL."""

    ENABLE = 1 << 0
    SOFT_RESET = 1 << 1  # write 1; self-clearing


class StatusBit(enum.IntFlag):
    """Bits of STATUS; bits 15:8 hold the last error code (``STATUS_LAST_ERROR_*``)."""

    BUSY = 1 << 0
    ERROR = 1 << 1
    ENABLED = 1 << 2


class Irq(enum.IntFlag):
    """Bits of IRQ_STATUS, IRQ_ENABLE and IRQ_ACK."""

    DONE = 1 << 0
    ERROR = 1 << 1


CTRL_ENABLE, CTRL_SOFT_RESET = Ctrl.ENABLE, Ctrl.SOFT_RESET
STATUS_BUSY, STATUS_ERROR, STATUS_ENABLED = StatusBit.BUSY, StatusBit.ERROR, StatusBit.ENABLED
STATUS_LAST_ERROR_SHIFT = 8
STATUS_LAST_ERROR_MASK = 0xFF  # after the shift
IRQ_DONE, IRQ_ERROR = Irq.DONE, Irq.ERROR


class ResFlag(enum.IntFlag):
    """RES_FLAGS bits: which banks hold valid data (the unit owns bank residency)."""

    KV = 1 << 0  # the K/V banks hold the load tagged RES_KV_TAG
    SORTED = 1 << 1  # the sorted-key bank holds that K's table


RES_KV, RES_SORTED = ResFlag.KV, ResFlag.SORTED


class Feature(enum.IntFlag):
    """CAP_FEATURES bits: what the unit implements (docs/register-map.md)."""

    APPROX = 1 << 0  # the approximate pipeline (always present)
    DEVICE_SORTER = 1 << 1  # LOAD_SORTED may sort K on the device
    MIN_SKIP = 1 << 2  # candidate selection has the min-side skip (docs/spec.md 3.2 rule 3)
    FIXED_POINT = 1 << 3  # the fixed-point datapath is in force (docs/spec.md 2.1)


FEAT_APPROX, FEAT_DEVICE_SORTER = Feature.APPROX, Feature.DEVICE_SORTER
FEAT_MIN_SKIP, FEAT_FIXED_POINT = Feature.MIN_SKIP, Feature.FIXED_POINT

PERF_COUNTERS = (
    "JOBS",
    "ERRORS",
    "QUERIES",
    "BUSY_CYCLES",
    "CYC_CAND_SEL",
    "CYC_SCAN",
    "CYC_DOT",
    "CYC_EXP",
    "CYC_OUT",
    "CYC_SORT",
    "BYTES_RD",
    "BYTES_WR",
    "CANDIDATES",
    "SELECTED",
    "SRAM_RD",
    "SRAM_WR",
)


def perf_offset(name: str) -> int:
    """Offset of the low word of a 64-bit performance counter."""
    return Reg.PERF_BASE + 8 * PERF_COUNTERS.index(name)


class Opcode(enum.IntEnum):
    """Descriptor opcodes (docs/descriptors.md)."""

    NOP = 0
    LOAD_KV = 1
    ATTEND = 2
    LOAD_SORTED = 3


class Mode(enum.IntEnum):
    """ATTEND modes (``docs/spec.md`` 3.4)."""

    EXACT = 0
    APPROX = 1
    POST_ONLY = 2


class Flag(enum.IntFlag):
    """Descriptor flags."""

    IRQ = 1 << 0  # raise the DONE interrupt when this descriptor completes
    ROW_STATS = 1 << 1  # ATTEND: write per-query stats to addr_c
    NO_MIN_SKIP = 1 << 2  # ATTEND approx: candidate selection without the min-side skip (spec 3.2)
    SETS = 1 << 3  # ATTEND: write candidate/selected bitmaps to addr_d


FLAG_IRQ, FLAG_ROW_STATS, FLAG_NO_MIN_SKIP, FLAG_SETS = Flag.IRQ, Flag.ROW_STATS, Flag.NO_MIN_SKIP, Flag.SETS

DESCRIPTOR_DTYPE = np.dtype(
    [
        ("opcode", "<u1"),
        ("mode", "<u1"),
        ("flags", "<u2"),
        ("tag", "<u4"),
        ("n", "<u4"),
        ("d", "<u4"),
        ("m", "<u4"),
        ("T", "<f4"),
        ("M", "<u8"),
        ("addr_a", "<u8"),
        ("addr_b", "<u8"),
        ("addr_c", "<u8"),
        ("addr_d", "<u8"),
    ]
)
COMPLETION_DTYPE = np.dtype(
    [
        ("tag", "<u4"),
        ("status", "<u2"),
        ("opcode", "<u1"),
        ("phase", "<u1"),
        ("cycles", "<u8"),
        ("sq_index", "<u4"),
        ("queries", "<u4"),
        ("detail", "<u4"),
        ("check", "<u4"),
    ]
)
ROW_STATS_DTYPE = np.dtype([("s_max", "<f8"), ("sum_exp", "<f8"), ("n_cand", "<u4"), ("n_sel", "<u4")])
assert DESCRIPTOR_DTYPE.itemsize == 64 and COMPLETION_DTYPE.itemsize == 32 and ROW_STATS_DTYPE.itemsize == 24


class Status(enum.IntEnum):
    """Completion status codes (docs/descriptors.md)."""

    OK = 0
    BAD_OPCODE = 1
    BAD_MODE = 2
    BAD_SHAPE = 3
    N_TOO_LARGE = 4
    D_TOO_LARGE = 5
    M_TOO_LARGE = 6
    BAD_PARAM = 7
    NO_KV = 8
    KV_MISMATCH = 9
    NO_SORTED_TABLE = 10
    DMA_FAULT = 11
    NONFINITE = 12
    QUEUE_CONFIG = 13
    CQ_OVERFLOW = 14
    BAD_ALIGN = 15
    BAD_TABLE = 16
    DMA_ERROR = 17
    BAD_ITERATIONS = 18


PHASES = (
    "queue",
    "fetch",
    "dma_in",
    "sort",
    "candidate_selection",
    "score_scan",
    "dot_product",
    "exponent",
    "output",
    "dma_out",
    "completion",
    "irq",
)
#: The compute stages of each mode, in pipeline order (docs/spec.md 2, 3.6).
STAGES = {
    "exact": ("dot_product", "exponent", "output"),
    "approx": ("candidate_selection", "score_scan", "dot_product", "exponent", "output"),
    "post_only": ("dot_product", "exponent", "output"),
}
STREAMS = ("none", "descriptor", "K", "V", "sorted", "Q", "out", "stats", "sets", "completion", "mmio")
OPCODES = ("nop", "load_kv", "attend", "load_sorted")
MODES = ("exact", "approx", "post_only")


def completion_check(record: np.void | np.ndarray) -> int:
    """The check word a completion record must carry: CRC-32 (zlib's) of its first 28 bytes."""
    return zlib.crc32(np.asarray(record, dtype=COMPLETION_DTYPE).tobytes()[:28])


def completion_ok(record: np.void | np.ndarray) -> bool:
    """True if a completion record's check word matches its contents (not corrupted)."""
    return int(np.asarray(record, dtype=COMPLETION_DTYPE)["check"]) == completion_check(record)


def set_words(n: int) -> int:
    """32-bit words of one candidate or selected bitmap of n rows."""
    return (n + 31) // 32
