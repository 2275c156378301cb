"""Chrome/Perfetto trace-event JSON of a :class:`~a3sim.trace.Trace` (open it in ui.perfetto.dev).

Event boundaries are whole nanoseconds; events that overlap in time go to lanes (extra tracks) of
their kind, so that no track holds two overlapping events (docs/trace-schema.md section 7).
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .protocol import MODES, OPCODES, PHASES, STREAMS

if TYPE_CHECKING:  # pragma: no cover
    from .trace import Trace


def write_perfetto(
    trace: Trace, path: str | Path, *, transactions: bool = True, max_transactions: int = 200_000
) -> Path:
    """Write ``trace`` as trace-event JSON at ``path`` (see :meth:`a3sim.trace.Trace.to_perfetto`)."""

    path = Path(path)
    events: list[dict[str, Any]] = []
    p = trace.rows("phase")
    jobs = trace.rows("job")
    job_info = {int(j["job"]): j for j in jobs}
    tracks = {
        "queue": 1,
        "fetch": 2,
        "dma_in": 2,
        "dma_out": 2,
        "completion": 2,
        "sort": 3,
        "candidate_selection": 4,
        "score_scan": 5,
        "dot_product": 6,
        "exponent": 7,
        "output": 8,
        "irq": 9,
    }
    track_names = {
        1: "queue",
        2: "dma",
        3: "sorter",
        4: "stage: candidate selection",
        5: "stage: greedy-score scan",
        6: "stage: dot product",
        7: "stage: (post-scoring +) exponent",
        8: "stage: output",
        9: "interrupt",
    }
    # Phase events with integer-ns boundaries, lanes per (unit, track).
    t0 = _ns(p["t_start_ps"])
    t1 = _ns(p["t_end_ps"])
    kind = np.array([tracks[PHASES[int(k)]] for k in p["phase"]], dtype=np.int64)
    unit = p["unit"].astype(np.int64)
    lane = np.zeros(len(p), dtype=np.int64)
    for u in np.unique(unit):
        for k in np.unique(kind):
            sel = np.flatnonzero((unit == u) & (kind == k))
            lane[sel] = _lanes(t0[sel], t1[sel])
    named: set[tuple[int, int]] = set()
    units = sorted({int(u) for u in unit}) or [0]
    for u in units:
        events.append({"ph": "M", "pid": 1 + u, "name": "process_name", "args": {"name": f"A3 unit {u}"}})
    for i, row in enumerate(p):
        phase = PHASES[int(row["phase"])]
        pid, tid = 1 + int(row["unit"]), int(kind[i]) * 100 + int(lane[i])
        if (pid, tid) not in named:
            named.add((pid, tid))
            base = track_names[int(kind[i])]
            events.append(
                {
                    "ph": "M",
                    "pid": pid,
                    "tid": tid,
                    "name": "thread_name",
                    "args": {"name": base if lane[i] == 0 else f"{base} #{lane[i] + 1}"},
                }
            )
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
        j = job_info.get(int(row["job"]))
        args = {"job": int(row["job"])}
        if j is not None:
            op, md = int(j["opcode"]), int(j["mode"])
            args.update(
                tag=int(j["tag"]),
                opcode=OPCODES[op] if op < len(OPCODES) else "invalid",
                mode=MODES[md] if md < len(MODES) else "invalid",
                n=int(j["n"]),
                d=int(j["d"]),
                m=int(j["m"]),
                status=int(j["status"]),
            )
        events.append(
            {
                "ph": "X",
                "pid": pid,
                "tid": tid,
                "name": phase,
                "ts": _us(t0[i]),
                "dur": _us(t1[i] - t0[i]),
                "args": args,
            }
        )
    if transactions:
        t = trace.rows("txn", 0, max_transactions)
        bus_pid = 100
        events.append({"ph": "M", "pid": bus_pid, "name": "process_name", "args": {"name": "system bus"}})
        s0, s1 = _ns(t["t_start_ps"]), _ns(t["t_end_ps"])
        ini = t["initiator"].astype(np.int64)
        lane = np.zeros(len(t), dtype=np.int64)
        for i in np.unique(ini):
            sel = np.flatnonzero(ini == i)
            lane[sel] = _lanes(s0[sel], s1[sel])
        names = trace.device.initiators
        for i, ln in sorted({(int(a), int(b)) for a, b in zip(ini, lane)}):
            tid = i * 1000 + ln
            events.append(
                {
                    "ph": "M",
                    "pid": bus_pid,
                    "tid": tid,
                    "name": "thread_name",
                    "args": {"name": names[i] if ln == 0 else f"{names[i]} #{ln + 1}"},
                }
            )
            events.append(
                {"ph": "M", "pid": bus_pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}}
            )
        for k, row in enumerate(t):
            events.append(
                {
                    "ph": "X",
                    "pid": bus_pid,
                    "tid": int(ini[k]) * 1000 + int(lane[k]),
                    "name": f"{'write' if row['op'] else 'read'} {STREAMS[int(row['stream'])]}",
                    "ts": _us(s0[k]),
                    "dur": _us(s1[k] - s0[k]),
                    "args": {
                        "address": hex(int(row["address"])),
                        "bytes": int(row["bytes"]),
                        "job": int(row["job"]) if row["job"] != 0xFFFFFFFF else -1,
                        "wait_ns": (int(row["t_grant_ps"]) - int(row["t_start_ps"])) / 1000.0,
                    },
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
    return path


def _ns(ps: np.ndarray) -> np.ndarray:
    """Picoseconds to whole nanoseconds (rounded half up), as int64."""
    return ((ps.astype(np.int64) + 500) // 1000).astype(np.int64)


def _us(ns: int | np.integer) -> float:
    """Whole nanoseconds as the trace-event format's microseconds (exact to 1 ns in decimal)."""
    return round(int(ns) / 1000.0, 3)


def _lanes(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Greedy interval colouring: lane per event such that events of one lane do not overlap (an
    event may start when the previous one of its lane ends)."""
    order = np.lexsort((end, start))
    free: list[tuple[int, int]] = []  # (end, lane) heap of lanes in use
    lanes = np.zeros(len(start), dtype=np.int64)
    spare: list[int] = []
    n = 0
    for i in order:
        s = int(start[i])
        while free and free[0][0] <= s:
            heapq.heappush(spare, heapq.heappop(free)[1])
        if spare:
            ln = heapq.heappop(spare)
        else:
            ln, n = n, n + 1
        lanes[i] = ln
        heapq.heappush(free, (int(end[i]), ln))
    return lanes
