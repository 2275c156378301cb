"""Traces of the simulated SoC: every bus transaction and every job phase, as pandas tables, and
exports that open in the tools users already have (Parquet/CSV, Chrome/Perfetto trace JSON, a
Ramulator-style DRAM request trace).

The native recorder keeps rows in C++; this module copies them out in bulk (one memcpy per table)
and builds the tables on demand. Columns are documented in ``docs/trace-schema.md``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .protocol import MODES, OPCODES, PHASES, STREAMS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .device import Device


def dtype_from_layout(layout: str) -> np.dtype:
    """numpy dtype of a native row layout ``name:kind:offset;...;__size__:V:bytes``."""
    names, formats, offsets, size = [], [], [], 0
    for item in layout.split(";"):
        if not item:
            continue
        name, kind, off = item.split(":")
        if name == "__size__":
            size = int(off)
            continue
        names.append(name)
        formats.append("<" + kind)
        offsets.append(int(off))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": size})


_SMALL_ROWS = 256  # requests up to this many rows go through a reused buffer (Trace.rows)


class Trace:
    """The recorded transactions and job phases of the process's device."""

    def __init__(self, device: "Device") -> None:
        self.device = device
        api = device.api
        self._api = api
        self.txn_dtype = dtype_from_layout(str(api.txn_layout()))
        self.phase_dtype = dtype_from_layout(str(api.phase_layout()))
        self.job_dtype = dtype_from_layout(str(api.job_layout()))
        self._copy = {"txn": api.copy_txns, "phase": api.copy_phases, "job": api.copy_jobs}
        self._count = {"txn": api.txn_count, "phase": api.phase_count, "job": api.job_count}
        self._dtype = {"txn": self.txn_dtype, "phase": self.phase_dtype, "job": self.job_dtype}
        self._scratch = {}
        for kind, dt in self._dtype.items():
            buf = np.empty(_SMALL_ROWS * dt.itemsize, np.uint8)
            self._scratch[kind] = (buf, int(buf.ctypes.data))

    # ---- raw rows ----
    def count(self, kind: str) -> int:
        """Rows held of ``kind`` ("txn", "phase" or "job")."""
        return int(self._count[kind]())

    def rows(self, kind: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` of a table as a structured numpy array (a copy), moved from C++
        by one ``memcpy``.

        Small requests (the few rows of one call) go through a reused byte buffer whose address
        is known: taking the address of a fresh structured array (``.ctypes``) costs several times
        the copy itself. Large ones are copied into a new array directly."""
        total = self.count(kind)
        stop = total if stop is None else min(stop, total)
        n = max(0, stop - start)
        dtype = self._dtype[kind]
        if n == 0:
            return np.empty(0, dtype=dtype)
        if n > _SMALL_ROWS:
            out = np.empty(n, dtype=dtype)
            self._copy[kind](start, n, out.ctypes.data)
            return out
        buf, addr = self._scratch[kind]
        self._copy[kind](start, n, addr)
        return buf[: n * dtype.itemsize].copy().view(dtype)

    @property
    def enabled(self) -> bool:
        """Whether bus transactions are recorded (job and phase rows always are)."""
        return bool(self._api.trace_enabled())

    @enabled.setter
    def enabled(self, on: bool) -> None:
        self._api.trace_enable(bool(on))

    def clear(self) -> None:
        """Drop every recorded row (job ids keep counting up)."""
        self._api.trace_clear()

    @property
    def job_base(self) -> int:
        """Id of the first job row held."""
        return int(self._api.job_base())

    # ---- tables ----
    def transactions(self) -> "pd.DataFrame":
        """One row per bus transaction: t_start_ns, t_end_ns, initiator, target, op, address,
        bytes, job, stream, status."""
        import pandas as pd

        r = self.rows("txn")
        names_i = self.device.initiators
        names_t = self.device.targets + ["decode_error"]
        target = r["target"].astype(np.int64)
        target = np.where(target == 255, len(names_t) - 1, target)
        return pd.DataFrame(
            {
                "t_start_ns": r["t_start_ps"] / 1000.0,
                "t_end_ns": r["t_end_ps"] / 1000.0,
                "initiator": pd.Categorical.from_codes(r["initiator"].astype(np.int64), names_i),
                "target": pd.Categorical.from_codes(target, names_t),
                "op": pd.Categorical.from_codes(r["op"].astype(np.int64), ["read", "write"]),
                "address": r["address"].astype(np.uint64),
                "bytes": r["bytes"].astype(np.int64),
                "job": np.where(r["job"] == 0xFFFFFFFF, -1, r["job"].astype(np.int64)),
                "stream": pd.Categorical.from_codes(r["stream"].astype(np.int64), list(STREAMS)),
                "status": pd.Categorical.from_codes(r["status"].astype(np.int64), ["ok", "error"]),
            }
        )

    def job_summary(self) -> "pd.DataFrame":
        """One row per job: identity, shape, status, times, DMA bytes, stage cycles, counts."""
        import pandas as pd

        r = self.rows("job")
        df = pd.DataFrame({name: r[name] for name in r.dtype.names})
        for col in ("t_doorbell_ps", "t_start_ps", "t_end_ps"):
            df[col.replace("_ps", "_ns")] = df.pop(col) / 1000.0
        op = df["opcode"].astype(np.int64)
        md = df["mode"].astype(np.int64)
        df["opcode"] = pd.Categorical.from_codes(np.where(op < len(OPCODES), op, len(OPCODES)), [*OPCODES, "invalid"])
        df["mode"] = pd.Categorical.from_codes(np.where(md < len(MODES), md, len(MODES)), [*MODES, "invalid"])
        errors = self.device.errors
        df["status_name"] = [errors.get(int(s), ("UNKNOWN", ""))[0] for s in df["status"]]
        df["latency_ns"] = df["t_end_ns"] - df["t_doorbell_ns"]
        first = ["job", "unit", "tag", "opcode", "mode", "status", "status_name", "n", "d", "m", "M", "T"]
        return df[first + [c for c in df.columns if c not in first]]

    def jobs(self) -> "pd.DataFrame":
        """One row per job and phase: job, unit, tag, opcode, mode, status, phase, t_start_ns,
        t_end_ns, duration_ns."""
        import pandas as pd

        p = self.rows("phase")
        ph = pd.DataFrame(
            {
                "job": p["job"].astype(np.int64),
                "unit": p["unit"].astype(np.int64),
                "phase": pd.Categorical.from_codes(p["phase"].astype(np.int64), list(PHASES)),
                "t_start_ns": p["t_start_ps"] / 1000.0,
                "t_end_ns": p["t_end_ps"] / 1000.0,
            }
        )
        ph["duration_ns"] = ph["t_end_ns"] - ph["t_start_ns"]
        js = self.job_summary()[["job", "tag", "opcode", "mode", "status", "status_name", "n", "d", "m"]]
        out = ph.merge(js, on="job", how="left")
        cols = ["job", "unit", "tag", "opcode", "mode", "status", "status_name", "n", "d", "m", "phase",
                "t_start_ns", "t_end_ns", "duration_ns"]
        return out[cols]

    # ---- exports ----
    def to_parquet(self, folder: str | Path) -> dict[str, Path]:
        """Write transactions, jobs (phases) and job summary as Parquet files in ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "transactions": folder / "transactions.parquet",
            "jobs": folder / "jobs.parquet",
            "job_summary": folder / "job_summary.parquet",
        }
        self.transactions().to_parquet(paths["transactions"], index=False)
        self.jobs().to_parquet(paths["jobs"], index=False)
        self.job_summary().to_parquet(paths["job_summary"], index=False)
        return paths

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        """Write the same three tables as CSV files in ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, df in (("transactions", self.transactions()), ("jobs", self.jobs()),
                         ("job_summary", self.job_summary())):
            paths[name] = folder / f"{name}.csv"
            df.to_csv(paths[name], index=False)
        return paths

    def to_perfetto(self, path: str | Path, *, transactions: bool = True, max_transactions: int = 200_000) -> Path:
        """Write a Chrome/Perfetto trace-event JSON file (open it in ui.perfetto.dev).

        One process per A3 unit with a track per phase kind, and one process for the bus with a
        track per initiator (up to ``max_transactions`` transactions, the earliest first).
        """
        path = Path(path)
        events: list[dict[str, Any]] = []
        p = self.rows("phase")
        jobs = self.rows("job")
        job_info = {int(j["job"]): j for j in jobs}
        tracks = {"queue": 1, "fetch": 2, "dma_in": 2, "dma_out": 2, "completion": 2, "sort": 3,
                  "candidate_selection": 4, "dot_product": 5, "exp_output": 6, "irq": 7}
        track_names = {1: "queue", 2: "dma", 3: "sorter", 4: "stage: candidate selection",
                       5: "stage: dot product", 6: "stage: exp + output", 7: "interrupt"}
        units = sorted({int(u) for u in p["unit"]}) or [0]
        for u in units:
            events.append({"ph": "M", "pid": 1 + u, "name": "process_name", "args": {"name": f"A3 unit {u}"}})
            for tid, tname in track_names.items():
                events.append({"ph": "M", "pid": 1 + u, "tid": tid, "name": "thread_name", "args": {"name": tname}})
                events.append({"ph": "M", "pid": 1 + u, "tid": tid, "name": "thread_sort_index",
                               "args": {"sort_index": tid}})
        for row in p:
            phase = PHASES[int(row["phase"])]
            j = job_info.get(int(row["job"]))
            args = {"job": int(row["job"])}
            if j is not None:
                op, md = int(j["opcode"]), int(j["mode"])
                args.update(tag=int(j["tag"]), opcode=OPCODES[op] if op < len(OPCODES) else "invalid",
                            mode=MODES[md] if md < len(MODES) else "invalid", n=int(j["n"]), d=int(j["d"]),
                            m=int(j["m"]), status=int(j["status"]))
            events.append({"ph": "X", "pid": 1 + int(row["unit"]), "tid": tracks[phase], "name": phase,
                           "ts": row["t_start_ps"] / 1e6, "dur": (row["t_end_ps"] - row["t_start_ps"]) / 1e6,
                           "args": args})
        if transactions:
            t = self.rows("txn", 0, max_transactions)
            bus_pid = 100
            events.append({"ph": "M", "pid": bus_pid, "name": "process_name", "args": {"name": "system bus"}})
            for i, name in enumerate(self.device.initiators):
                events.append({"ph": "M", "pid": bus_pid, "tid": i, "name": "thread_name", "args": {"name": name}})
            for row in t:
                events.append({
                    "ph": "X", "pid": bus_pid, "tid": int(row["initiator"]),
                    "name": f"{'write' if row['op'] else 'read'} {STREAMS[int(row['stream'])]}",
                    "ts": row["t_start_ps"] / 1e6, "dur": (row["t_end_ps"] - row["t_start_ps"]) / 1e6,
                    "args": {"address": hex(int(row["address"])), "bytes": int(row["bytes"]),
                             "job": int(row["job"]) if row["job"] != 0xFFFFFFFF else -1},
                })
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
        return path

    def to_ramulator(self, path: str | Path, *, line_bytes: int = 64) -> Path:
        """Write DRAM traffic as a Ramulator memory trace: one ``0x<address> R|W`` line per
        ``line_bytes`` cache line of every DRAM transaction, in time order."""
        path = Path(path)
        t = self.rows("txn")
        t = t[(t["target"] == 0) & (t["status"] == 0)]
        t = t[np.argsort(t["t_start_ps"], kind="stable")]
        with path.open("w") as f:
            for row in t:
                op = "W" if row["op"] else "R"
                a0 = int(row["address"]) // line_bytes * line_bytes
                a1 = int(row["address"]) + int(row["bytes"])
                for a in range(a0, a1, line_bytes):
                    f.write(f"0x{a:x} {op}\n")
        return path

    def to_dramsys(self, path: str | Path, *, clock_mhz: float = 1600.0, line_bytes: int = 64) -> Path:
        """Write DRAM traffic as a DRAMSys STL trace (``<cycle>:<TAB>read|write<TAB>0x<address>``), one
        request per ``line_bytes`` line of every DRAM transaction, timed at the transaction's issue
        time in cycles of ``clock_mhz`` (default 1600 MHz, the DDR4-3200 command clock)."""
        path = Path(path)
        t = self.rows("txn")
        t = t[(t["target"] == 0) & (t["status"] == 0)]
        t = t[np.argsort(t["t_start_ps"], kind="stable")]
        ps_per_cycle = 1e6 / clock_mhz
        with path.open("w") as f:
            for row in t:
                op = "write" if row["op"] else "read"
                cycle = int(row["t_start_ps"] // ps_per_cycle)
                a0 = int(row["address"]) // line_bytes * line_bytes
                a1 = int(row["address"]) + int(row["bytes"])
                for a in range(a0, a1, line_bytes):
                    f.write(f"{cycle}:\t{op}\t0x{a:08x}\n")
        return path

