"""The call plan: everything one call will do, computed before anything is sent to the device.

A :class:`CallPlan` holds the tiling of K/V (``docs/spec.md`` 2: K/V beyond the SRAM banks are cut
into tiles merged on the host), the split of each tile's queries into ATTEND jobs the query bank can
hold, the value of M per tile, the arena layout of the call's buffers, and the list of device
operations (:class:`Op`) in submission order. :meth:`CallPlan.descriptors` turns the operations
into descriptor records (``protocol.DESCRIPTOR_DTYPE``) once the addresses are known.

The cost model of base A3 (:meth:`CallPlan.base_compute_cycles`) reads the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..protocol import (
    DESCRIPTOR_DTYPE,
    FLAG_NO_MIN_SKIP,
    FLAG_ROW_STATS,
    FLAG_SETS,
    FLAG_STREAM,
    ROW_STATS_DTYPE,
    Mode,
    Opcode,
    set_words,
)
from .checks import tile_M

#: Bytes of one query's row stats.
ROW_STATS_BYTES = ROW_STATS_DTYPE.itemsize
F32 = 4
ALIGN = 256  # arena alignment (bytes)
_LOAD_KV, _ATTEND, _LOAD_SORTED = int(Opcode.LOAD_KV), int(Opcode.ATTEND), int(Opcode.LOAD_SORTED)
_FLAGS, _FLAGS_SETS = int(FLAG_ROW_STATS), int(FLAG_ROW_STATS | FLAG_SETS)  # of an ATTEND
_STREAM = int(FLAG_STREAM)  # of a LOAD_KV whose rows beyond n_max stream from DRAM


def tiles(n: int, n_max: int) -> list[tuple[int, int]]:
    """Balanced row ranges of at most n_max rows covering [0, n)."""
    count = -(-n // n_max)
    size = -(-n // count)
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


class Descriptor(NamedTuple):
    """One descriptor record, field by field as ``protocol.DESCRIPTOR_DTYPE`` (and the C++
    ``a3::Descriptor``) lays it out; it is written into the ring as one row."""

    opcode: int
    mode: int
    flags: int
    tag: int
    n: int
    d: int
    m: int
    T: float
    M: int
    addr_a: int
    addr_b: int
    addr_c: int
    addr_d: int


assert Descriptor._fields == DESCRIPTOR_DTYPE.names


class Op(NamedTuple):
    """One device operation of a plan. Offsets are bytes from the arena base (None: the data lives
    in a :class:`KVContext`)."""

    opcode: Opcode
    item: int  # b, the batch item
    tile: int
    c0: int = 0  # ATTEND: first query of the job within the item
    mc: int = 0  # ATTEND: queries of the job
    kv_offset: tuple[int, int] | None = None  # LOAD_KV of arrays: K and V in the arena
    sorted_offset: int | None = None  # LOAD_SORTED of arrays: the sorted table in the arena


class CallAddresses(NamedTuple):
    """Device addresses of a call's buffers: the queries, and per tile the outputs, row stats and
    set bitmaps (0 when the call collects no sets)."""

    queries: int
    outs: list[int]
    stats: list[int]
    sets: list[int]


@dataclass
class Layout:
    """Where a call's buffers sit in the arena (byte offsets from its base)."""

    reserve: int  # bytes the arena must hold
    queries: int = 0
    outs: list[int] = field(default_factory=list)  # per tile, all items (item b at row b * m)
    stats: list[int] = field(default_factory=list)
    sets: list[int] = field(default_factory=list)
    top: int = 0

    def take(self, nbytes: int) -> int:
        off = self.top
        self.top += _aligned(nbytes)
        return off


@dataclass
class CallPlan:
    """One call: B items of m queries (d columns) against n keys, in ``mode``."""

    mode: Mode
    B: int
    m: int
    n: int
    d: int
    tiles: list[tuple[int, int]]
    q_rows: int
    want_sets: bool = False
    T: float = 0.0
    min_skip: bool = True  # candidate selection with the min-side skip (docs/spec.md 3.2 rule 3)
    ctx_id: int | None = None  # the K/V context (None: K/V arrays of this call)
    stream: bool = False  # one tile of all n > n_max rows, streamed beyond the banks (LOAD_KV flag STREAM)
    M: list[int] = field(default_factory=list)  # per tile (approx mode)
    ops: list[Op] = field(default_factory=list)
    #: The LOAD_KV and LOAD_SORTED operations of ``ops`` (the ones that move K/V data).
    loads: list[Op] = field(default_factory=list)
    layout: Layout | None = None
    #: What the banks hold after the call succeeds: (K/V key, sorted table loaded).
    resident_after: tuple[object, bool] = (None, False)

    @property
    def words(self) -> list[int]:
        """32-bit words of one candidate (or selected) bitmap per tile."""
        return [set_words(r1 - r0) for r0, r1 in self.tiles]

    def jobs(self) -> list[tuple[int, int]]:
        """(first query, queries) of each ATTEND job of one tile: as many as the query bank holds."""
        return [(c0, min(self.q_rows, self.m - c0)) for c0 in range(0, self.m, self.q_rows)]

    # ---- the cost model of base A3 ----
    def base_compute_cycles(self, stages: Callable[[int], Sequence[int]]) -> int:
        """Compute cycles of base A3 (the exact pipeline) for this plan's tiles and jobs, per item.

        ``stages(rows)`` gives the cycles of each module for one query against ``rows`` keys; per
        tile and job the first query takes their sum and each next one the slowest module's
        (the pipeline recurrence, ``docs/spec.md`` 3.6)."""
        total = 0
        for r0, r1 in self.tiles:
            cyc = [int(c) for c in stages(r1 - r0)]
            for _, mc in self.jobs():
                total += sum(cyc) + (mc - 1) * max(cyc)
        return total

    # ---- descriptors ----
    def addresses(self, base: int) -> CallAddresses:
        """Device addresses of the call's buffers in an arena at ``base``."""
        lay = self.layout
        assert lay is not None
        return CallAddresses(
            base + lay.queries,
            [base + o for o in lay.outs],
            [base + o for o in lay.stats],
            [base + o if self.want_sets else 0 for o in lay.sets],
        )

    def descriptors(
        self,
        queries: int,
        outs: Sequence[int],
        stats: Sequence[int],
        sets: Sequence[int],
        load: Callable[[Op], tuple[int, int]],
        load_sorted: Callable[[Op], int],
    ) -> np.ndarray:
        """The plan's descriptor records, a ``DESCRIPTOR_DTYPE`` array (tag 0, no IRQ flag: the
        queue sets those).

        ``queries``, ``outs``, ``stats`` and ``sets`` are device addresses of the call's buffers;
        ``load(op)`` returns the K and V addresses of a LOAD_KV and ``load_sorted(op)`` the table
        address of a LOAD_SORTED.
        """
        d, m = self.d, self.m
        flags = (_FLAGS_SETS if self.want_sets else _FLAGS) | (0 if self.min_skip else int(FLAG_NO_MIN_SKIP))
        words = self.words
        mode = int(self.mode)
        rows_of = [r1 - r0 for r0, r1 in self.tiles]
        recs: list[Descriptor] = []
        D = Descriptor
        for op in self.ops:
            rows = rows_of[op.tile]
            if op.opcode == _LOAD_KV:
                ka, va = load(op)
                tag = kv_tag(self.ctx_id, op.tile)  # the unit publishes it while the banks hold this K/V
                recs.append(D(_LOAD_KV, 0, _STREAM if self.stream else 0, 0, rows, d, 0, 0.0, tag, ka, va, 0, 0))
            elif op.opcode == _LOAD_SORTED:
                recs.append(D(_LOAD_SORTED, 0, 0, 0, rows, d, 0, 0.0, 0, load_sorted(op), 0, 0, 0))
            else:
                t, w = op.tile, words[op.tile]
                row = op.item * m + op.c0
                recs.append(D(
                    _ATTEND, mode, flags, 0, rows, d, op.mc, self.T, self.M[t],
                    queries + row * d * F32, outs[t] + row * d * F32, stats[t] + row * ROW_STATS_BYTES,
                    (sets[t] + row * 2 * w * F32) if self.want_sets else 0,
                ))  # fmt: skip
        return np.array(recs, dtype=DESCRIPTOR_DTYPE)


_TILE_BITS = 16  # a K/V tag is (context id << 16) | (tile + 1); 0 means "untagged"


def kv_tag(ctx_id: int | None, tile: int) -> int:
    """The tag a LOAD_KV carries in its M field (docs/descriptors.md): which context's tile it loads.
    The unit publishes it in RES_KV_TAG while its banks hold that K/V; K/V arrays of one call are
    untagged (0) and never count as resident."""
    if ctx_id is None or tile + 1 >= 1 << _TILE_BITS:
        return 0
    return (int(ctx_id) << _TILE_BITS) | (tile + 1)


def resident_key(tag: int) -> tuple[int, int] | None:
    """The plan's residency key ``(context id, tile)`` of a published tag (None for 0)."""
    if tag == 0:
        return None
    return tag >> _TILE_BITS, (tag & ((1 << _TILE_BITS) - 1)) - 1


def make_plan(
    *,
    mode: Mode,
    B: int,
    m: int,
    n: int,
    d: int,
    n_max: int,
    q_rows: int,
    tile_list: Sequence[tuple[int, int]] | None = None,
    ctx_id: int | None = None,
    want_sets: bool = False,
    M: int = 0,
    M_frac: float | None = None,
    T: float = 0.0,
    min_skip: bool = True,
    resident: tuple[object, bool] = (None, False),
    device_sorter: bool = False,
    stream: bool = False,
) -> CallPlan:
    """Plan a call. ``ctx_id`` names the K/V context (None: K/V arrays written into the arena per
    item); ``resident`` is what the banks hold now (K/V key, sorted table loaded); ``stream`` (exact
    mode): K/V beyond n_max are one tile that the unit streams, instead of tiles merged on the host."""
    stream = stream and n > n_max
    if tile_list is not None:
        tl = list(tile_list)
    else:
        tl = [(0, n)] if stream else tiles(n, n_max)
    plan = CallPlan(
        mode=mode,
        B=B,
        m=m,
        n=n,
        d=d,
        tiles=tl,
        q_rows=q_rows,
        want_sets=want_sets,
        T=T,
        min_skip=min_skip,
        ctx_id=ctx_id,
        stream=stream,
    )
    approx = mode == Mode.APPROX
    plan.M = [M if M_frac is None else tile_M(M_frac, r1 - r0) for r0, r1 in tl]
    ntiles, words = len(tl), plan.words
    # Arena: queries, per item and tile outputs, stats and set bitmaps, and the K/V (and sorted
    # tables) of a call that passed arrays rather than a context.
    per_item = ntiles * (m * d * F32 + m * ROW_STATS_BYTES + 512)
    if want_sets:
        per_item += sum(2 * m * w * F32 + 256 for w in words)
    if ctx_id is None:
        per_item += n * d * (16 if approx else 8) + 768 * ntiles
    lay = Layout(reserve=B * (m * d * F32 + per_item) + 512)
    lay.queries = lay.take(B * m * d * F32)
    lay.outs = [lay.take(B * m * d * F32) for _ in tl]
    lay.stats = [lay.take(B * m * ROW_STATS_BYTES) for _ in tl]
    lay.sets = [lay.take(B * 2 * m * w * F32) if want_sets else 0 for w in words]
    key, sorted_res = resident
    jobs = plan.jobs()
    for b in range(B):
        for t, (r0, r1) in enumerate(tl):
            rows = r1 - r0
            tile_key = (ctx_id, t) if ctx_id is not None else None
            if tile_key is None or key != tile_key:
                kv = None if ctx_id is not None else (lay.take(rows * d * F32), lay.take(rows * d * F32))
                plan.ops.append(Op(Opcode.LOAD_KV, b, t, kv_offset=kv))
                key, sorted_res = tile_key, False
            if approx and not sorted_res:
                if not device_sorter:
                    so = None if ctx_id is not None else lay.take(rows * d * 8)
                    plan.ops.append(Op(Opcode.LOAD_SORTED, b, t, sorted_offset=so))
                sorted_res = True
            plan.ops.extend(Op(Opcode.ATTEND, b, t, c0, mc) for c0, mc in jobs)
    plan.layout = lay
    plan.loads = [op for op in plan.ops if op.opcode != Opcode.ATTEND]
    plan.resident_after = (key, sorted_res)
    return plan


_PLANS: dict[tuple, CallPlan] = {}


def plan_for(
    mode: Mode,
    B: int,
    m: int,
    n: int,
    d: int,
    n_max: int,
    q_rows: int,
    tile_list: tuple[tuple[int, int], ...] | None,
    ctx_id: int | None,
    want_sets: bool,
    M: int,
    M_frac: float | None,
    T: float,
    min_skip: bool,
    resident: tuple[object, bool],
    device_sorter: bool,
    stream: bool = False,
) -> CallPlan:
    """:func:`make_plan` with positional arguments, cached for the driver's hot path: a repeated
    call of the same shape, parameters and bank state reuses its plan (the cache key is the argument
    tuple itself), so a plan must never be modified."""
    key = (mode, B, m, n, d, n_max, q_rows, tile_list, ctx_id, want_sets, M, M_frac, T, min_skip, resident,
           device_sorter, stream)  # fmt: skip
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= 256:
            _PLANS.clear()
        plan = _PLANS[key] = make_plan(
            mode=mode, B=B, m=m, n=n, d=d, n_max=n_max, q_rows=q_rows, tile_list=tile_list, ctx_id=ctx_id,
            want_sets=want_sets, M=M, M_frac=M_frac, T=T, min_skip=min_skip, resident=resident,
            device_sorter=device_sorter, stream=stream,
        )  # fmt: skip
    return plan


def exact_plan(m: int, n: int, d: int, n_max: int, q_rows: int) -> CallPlan:
    """The plan of one exact call (tiles and jobs only), as the cost model of base A3 reads it."""
    return CallPlan(mode=Mode.EXACT, B=1, m=m, n=n, d=d, tiles=tiles(n, n_max), q_rows=q_rows)
