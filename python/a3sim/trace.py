"""Traces of the simulated SoC: every bus transaction and every job phase, as pandas tables, and
exports that open in the tools users already have (Parquet/CSV, Chrome/Perfetto trace JSON, DRAM
request traces for Ramulator 1 and 2 and DRAMSys).

The native recorder keeps rows in C++; this module copies them out in bulk (one memcpy per table)
and builds the tables on demand. Columns are documented in ``docs/trace-schema.md``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import errors as E
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

    def __init__(self, device: Device) -> None:
        self.device = device
        api = device.api
        self._api = api
        self.txn_dtype = dtype_from_layout(api.layout("txn"))
        self.phase_dtype = dtype_from_layout(api.layout("phase"))
        self.job_dtype = dtype_from_layout(api.layout("job"))
        self.dram_dtype = dtype_from_layout(api.layout("dram"))
        self._copy = {"txn": api.copy_txns, "phase": api.copy_phases, "job": api.copy_jobs, "dram": api.copy_dram}
        self._count = {"txn": api.txn_count, "phase": api.phase_count, "job": api.job_count, "dram": api.dram_count}
        self._dtype = {"txn": self.txn_dtype, "phase": self.phase_dtype, "job": self.job_dtype, "dram": self.dram_dtype}
        self._scratch = {}
        for kind, dt in self._dtype.items():
            buf = np.empty(_SMALL_ROWS * dt.itemsize, np.uint8)
            self._scratch[kind] = (buf, int(buf.ctypes.data))

    # ---- raw rows ----
    def count(self, kind: str) -> int:
        """Rows held of ``kind`` ("txn", "phase", "job" or "dram")."""
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
    def transactions(self) -> pd.DataFrame:
        """One row per bus transaction: t_start_ns, t_end_ns, initiator, target, op, address,
        bytes, job, stream, status, wait_ns (time waiting for the DRAM port's grant)."""
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
                "wait_ns": (r["t_grant_ps"] - r["t_start_ps"]) / 1000.0,
            }
        )

    def dram_bursts(self) -> pd.DataFrame:
        """One row per DRAM burst (recorded with the transactions): t_arrive_ns, t_data_ns, t_done_ns,
        latency_ns, initiator, op, address, bytes, channel, rank, bank, row, kind (row ``hit``,
        ``miss``, ``conflict``, or ``none`` under the simple policy), job, stream."""
        import pandas as pd

        from .memory import BURST_KINDS

        r = self.rows("dram")
        names_i = list(self.device.initiators) + ["unknown"]
        ini = r["initiator"].astype(np.int64)
        ini = np.where(ini == 255, len(names_i) - 1, ini)
        return pd.DataFrame(
            {
                "t_arrive_ns": r["t_arrive_ps"] / 1000.0,
                "t_data_ns": r["t_data_ps"] / 1000.0,
                "t_done_ns": r["t_done_ps"] / 1000.0,
                "latency_ns": (r["t_done_ps"] - r["t_arrive_ps"]) / 1000.0,
                "initiator": pd.Categorical.from_codes(ini, names_i),
                "op": pd.Categorical.from_codes(r["op"].astype(np.int64), ["read", "write"]),
                "address": r["address"].astype(np.uint64),
                "bytes": r["bytes"].astype(np.int64),
                "channel": r["channel"].astype(np.int64),
                "rank": r["rank"].astype(np.int64),
                "bank": r["bank"].astype(np.int64),
                "row": r["row"].astype(np.int64),
                "kind": pd.Categorical.from_codes(r["kind"].astype(np.int64), list(BURST_KINDS)),
                "job": np.where(r["job"] == 0xFFFFFFFF, -1, r["job"].astype(np.int64)),
                "stream": pd.Categorical.from_codes(r["stream"].astype(np.int64), list(STREAMS)),
            }
        )

    def job_summary(self) -> pd.DataFrame:
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

    def jobs(self) -> pd.DataFrame:
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
        cols = [
            "job",
            "unit",
            "tag",
            "opcode",
            "mode",
            "status",
            "status_name",
            "n",
            "d",
            "m",
            "phase",
            "t_start_ns",
            "t_end_ns",
            "duration_ns",
        ]
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
        for name, df in (
            ("transactions", self.transactions()),
            ("jobs", self.jobs()),
            ("job_summary", self.job_summary()),
        ):
            paths[name] = folder / f"{name}.csv"
            df.to_csv(paths[name], index=False)
        return paths

    def to_perfetto(self, path: str | Path, *, transactions: bool = True, max_transactions: int = 200_000) -> Path:
        """Write a Chrome/Perfetto trace-event JSON file (open it in ui.perfetto.dev).

        One process per A3 unit with a track per phase kind, and one process for the bus with
        tracks per initiator (up to ``max_transactions`` transactions, the earliest first). Event
        boundaries are whole nanoseconds; events that overlap in time (the outstanding bursts of a
        DMA engine, the queue phases of a batch) go to extra tracks ("lanes") of their kind, so that
        no track holds two overlapping events (docs/trace-schema.md section 7).
        """
        from .perfetto import write_perfetto

        return write_perfetto(self, path, transactions=transactions, max_transactions=max_transactions)

    # ---- DRAM request traces ----
    def dram_requests(self, line_bytes: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The DRAM traffic as line requests: (issue time in ps, line address, is_write), one entry per
        ``line_bytes``-aligned line of every successful DRAM transaction, in issue-time order
        (stable). ``address`` is the full bus address of the line."""
        line_bytes = _positive_int("line_bytes", line_bytes)
        t = self.rows("txn")
        t = t[(t["target"] == 0) & (t["status"] == 0)]
        t = t[np.argsort(t["t_start_ps"], kind="stable")]
        addr = t["address"].astype(np.uint64)
        first = addr // np.uint64(line_bytes)
        last = (addr + t["bytes"].astype(np.uint64) - np.uint64(1)) // np.uint64(line_bytes)
        count = (last - first + np.uint64(1)).astype(np.int64)
        idx = np.repeat(np.arange(len(t)), count)
        within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        lines = (first[idx] + within.astype(np.uint64)) * np.uint64(line_bytes)
        return t["t_start_ps"][idx].astype(np.uint64), lines, t["op"][idx].astype(bool)

    def to_ramulator(self, path: str | Path, *, line_bytes: int = 64) -> Path:
        """Write DRAM traffic as a **Ramulator 1** memory trace (its ``DRAM`` trace mode): one
        ``0x<address> R|W`` line per ``line_bytes`` line of every DRAM transaction, in issue order;
        no time stamps. For Ramulator 2 use :meth:`to_ramulator2`."""
        _, lines, write = self.dram_requests(line_bytes)
        ops = np.where(write, "W", "R")
        return _write_lines(path, (f"0x{a:x} {o}" for a, o in zip(lines.tolist(), ops.tolist())))

    def to_ramulator2(self, path: str | Path, *, line_bytes: int = 64) -> Path:
        """Write DRAM traffic as a **Ramulator 2** load/store trace (its ``LoadStoreTrace`` frontend):
        one ``LD 0x<address>`` or ``ST 0x<address>`` line per ``line_bytes`` line, in issue order."""
        _, lines, write = self.dram_requests(line_bytes)
        ops = np.where(write, "ST", "LD")
        return _write_lines(path, (f"{o} 0x{a:x}" for a, o in zip(lines.tolist(), ops.tolist())))

    def to_dramsys(
        self, path: str | Path, *, clock_mhz: float = 1600.0, line_bytes: int = 64, split: bool = False
    ) -> list[Path]:
        """Write DRAM traffic as a DRAMSys STL trace: ``<cycle>:<TAB>read|write<TAB>0x<address>``, one
        request per ``line_bytes`` line of every DRAM transaction, at the transaction's issue time
        in cycles of ``clock_mhz`` (default 1600 MHz, the DDR4-3200 command clock), rounded down.

        For a faithful replay the trace player's ``clkMhz`` must equal ``clock_mhz`` and the DRAM
        burst (the memspec's burst length x data width) must equal ``line_bytes``. A cycle count
        that does not fit 32 bits raises a :class:`TraceOverflowWarning`; with ``split=True`` the
        trace is cut into files ``<stem>.<k><suffix>`` of fewer than 2^32 cycles each, cycle
        counts rebased to each part's start (part k starts at k x 2^32 cycles). Returns the
        paths written."""
        clock = _positive_float("clock_mhz", clock_mhz)
        t_ps, lines, write = self.dram_requests(line_bytes)
        cycles = (t_ps.astype(np.float64) * clock / 1e6).astype(np.uint64) if len(t_ps) else t_ps
        ops = np.where(write, "write", "read")
        path = Path(path)
        limit = np.uint64(1 << 32)
        parts = (cycles // limit).astype(np.int64) if len(cycles) else np.zeros(0, np.int64)
        if len(parts) and parts.max() > 0:
            if not split:
                warnings.warn(
                    f"DRAMSys trace {path}: cycle counts up to {int(cycles.max())} exceed 32 bits "
                    "(readers with 32-bit cycle fields wrap); pass split=True to cut the trace",
                    E.TraceOverflowWarning,
                    stacklevel=2,
                )
                parts = np.zeros_like(parts)
            else:
                cycles = cycles % limit
        out = []
        for k in np.unique(parts) if len(parts) else [0]:
            sel = parts == k
            p = path if k == 0 else path.with_name(f"{path.stem}.{int(k)}{path.suffix}")
            out.append(
                _write_lines(
                    p,
                    (
                        f"{c}:\t{o}\t0x{a:08x}"
                        for c, o, a in zip(cycles[sel].tolist(), ops[sel].tolist(), lines[sel].tolist())
                    ),
                )
            )
        return out


def _positive_int(name: str, v: Any) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise E.ExportError(f"{name} must be a positive integer, got {v!r}") from None
    if iv != v or iv <= 0:
        raise E.ExportError(f"{name} must be a positive integer (bytes of one DRAM request), got {v!r}")
    return iv


def _positive_float(name: str, v: Any) -> float:
    try:
        fv = float(v)
    except (TypeError, ValueError):
        raise E.ExportError(f"{name} must be a positive number, got {v!r}") from None
    if not (fv > 0 and np.isfinite(fv)):
        raise E.ExportError(f"{name} must be a positive, finite number (the trace clock in MHz), got {v!r}")
    return fv


def _write_lines(path: str | Path, lines: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    return path
