"""Design-space sweeps: a TOML spec of axes over hardware configuration entries, workloads and
modes; every point in a fresh process, on Dask (a LocalCluster or an existing cluster) or a local
process pool; one row of metrics per point in a Parquet table; summary plots.

    from a3sim.sweep import load_spec, run_sweep
    res = run_sweep(load_spec("sweeps/example.toml"), executor="dask")
    res.table                                   # one row per point (docs/sweeps.md, section 4)

The command line is ``a3sim sweep SPEC`` (see ``docs/sweeps.md``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "DaskExecutor": "execute",
    "ProcessExecutor": "execute",
    "make_executor": "execute",
    "run_point": "execute",
    "SweepError": "run",
    "SweepResult": "run",
    "print_summary": "run",
    "run_sweep": "run",
    "Point": "spec",
    "PlotSpec": "spec",
    "SweepSpec": "spec",
    "SweepSpecError": "spec",
    "expand": "spec",
    "load_spec": "specfile",
    "parse_spec": "specfile",
    "varying_axes": "spec",
    "WALL_COLUMNS": "table",
    "ResultTable": "table",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:  # lazy: `a3sim --help` does not import pandas or Dask
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
