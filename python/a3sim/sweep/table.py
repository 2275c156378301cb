"""The results of a sweep: one row per point, in ``results.parquet``, written as points finish.

Every finished point is first appended to ``points.jsonl`` (one JSON object per line, flushed at
once: the journal), then the Parquet table is rewritten atomically (a temporary file renamed over
the old one), at most every ``flush_s`` seconds and always when the sweep ends or is interrupted.
So a finished point is never lost: an interrupted sweep, even one killed outright, keeps every point
that finished, and ``--resume`` reads both files (the journal wins where they differ).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

TABLE = "results.parquet"
JOURNAL = "points.jsonl"

#: Leading columns of the table, in this order; parameters, metrics and the rest follow.
ID_COLUMNS = ("index", "rep", "point_id", "status", "error")
#: Columns that measure the host, not the model: they differ from run to run.
WALL_COLUMNS = ("wall_s", "wall_run_s")


class ResultTable:
    """The rows of one sweep folder, keyed by ``point_id``."""

    def __init__(self, folder: Path, flush_s: float = 1.0) -> None:
        self.folder = Path(folder)
        self.path = self.folder / TABLE
        self.journal = self.folder / JOURNAL
        self.flush_s = flush_s
        self.rows: dict[str, dict[str, Any]] = {}
        self._last_write = 0.0
        self._dirty = False
        self._jf = None

    # ---- reading ----
    def exists(self) -> bool:
        return self.path.exists() or self.journal.exists()

    def load(self) -> None:
        """Read the rows already in the folder (table, then journal lines over them)."""
        if self.path.exists():
            for row in pd.read_parquet(self.path).to_dict("records"):
                self.rows[str(row["point_id"])] = {k: _py(v) for k, v in row.items()}
        self._read_journal()

    def _read_journal(self) -> None:
        if not self.journal.exists():
            return
        with self.journal.open() as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill: that point reruns
                    continue
                self.rows[str(row["point_id"])] = row

    def done(self) -> set[str]:
        """Point ids with a successful row (``--resume`` skips them)."""
        return {pid for pid, r in self.rows.items() if r.get("status") == "ok"}

    # ---- writing ----
    def reset(self) -> None:
        """Start an empty table (removes the folder's table and journal)."""
        self.rows.clear()
        for p in (self.path, self.journal):
            if p.exists():
                p.unlink()

    def add(self, row: Mapping[str, Any]) -> None:
        """Record one finished point: journal at once, table within ``flush_s``."""
        row = dict(row)
        if self._jf is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._jf = self.journal.open("a")
        self._jf.write(json.dumps(row, default=str) + "\n")  # the journal first: it is the record
        self._jf.flush()
        self.rows[str(row["point_id"])] = row
        self._dirty = True
        if time.monotonic() - self._last_write >= self.flush_s:
            self.write()

    def write(self) -> Path:
        """Rewrite the Parquet table now (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        df = self.frame()
        tmp = self.path.with_name(f".{TABLE}.{os.getpid()}.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, self.path)
        self._last_write = time.monotonic()
        self._dirty = False
        return self.path

    def close(self) -> None:
        """Final write: the journal is read back first, so a row journalled just before an
        interrupt is in the table even if the interrupt came before it reached memory."""
        if self._jf is not None:
            self._jf.close()
            self._jf = None
            self._read_journal()
            self._dirty = True
        if self._dirty or not self.path.exists():
            self.write()

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, sorted by point index, with stable column order and types."""
        return to_frame(self.rows.values())


def to_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame: ids first, then parameters, metrics, host columns; Parquet-safe types
    (integer columns with gaps become nullable ``Int64``; mixed columns become text)."""
    rows = list(rows)
    names: dict[str, None] = {c: None for c in ID_COLUMNS}
    for r in rows:
        names.update(dict.fromkeys(r))
    cols = list(names)
    top = ("workload", "mode", "preset", "M", "T")
    params = (
        [c for c in top if c in names]
        + sorted(c for c in cols if c.startswith("options."))
        + sorted(c for c in cols if c.startswith("config."))
    )
    tail = [c for c in ("config_hash", "host", *WALL_COLUMNS) if c in names]
    rest = [c for c in cols if c not in (*ID_COLUMNS, *params, *tail)]
    order = [*ID_COLUMNS, *params, *rest, *tail]
    df = pd.DataFrame({c: _column([r.get(c) for r in rows]) for c in order})
    if len(df):
        df = df.sort_values(["index", "rep"], kind="stable").reset_index(drop=True)
    return df


def _column(values: list[Any]) -> pd.Series:
    """One Parquet type per column: lists/dicts as JSON text, mixed scalars as text, integers with
    gaps as ``Int64``, missing values as None (text) or NaN (numbers)."""
    present = [v for v in values if not _missing(v)]
    kinds = {_kind(v) for v in present}
    if not present:  # NaN metrics (e.g. no energy model) stay numbers; absent values stay None
        if any(isinstance(v, float) for v in values):
            return pd.Series([math.nan] * len(values), dtype="float64")
        return pd.Series([None] * len(values), dtype=object)
    if kinds & {"list", "dict", "tuple"}:
        return pd.Series(
            [None if _missing(v) else json.dumps(v, sort_keys=True, default=str) for v in values], dtype=object
        )
    if kinds == {"int"}:
        return pd.Series(
            [None if _missing(v) else int(v) for v in values], dtype="Int64" if len(present) < len(values) else "int64"
        )
    if kinds <= {"int", "float"}:
        return pd.Series([math.nan if _missing(v) else float(v) for v in values], dtype="float64")
    if kinds == {"bool"} and len(present) == len(values):
        return pd.Series(values, dtype=bool)
    if kinds == {"str"}:
        return pd.Series([None if _missing(v) else v for v in values], dtype=object)
    return pd.Series([None if _missing(v) else str(v) for v in values], dtype=object)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    try:
        import numpy as np

        if isinstance(v, np.integer):
            return "int"
        if isinstance(v, np.floating):
            return "float"
    except ImportError:  # pragma: no cover
        pass
    return type(v).__name__


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _py(v: Any) -> Any:
    """numpy scalars from Parquet -> Python values (so that rows compare and serialise alike)."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    return None if v is pd.NA else v
