"""Sweep specifications: a TOML file that names the points of a design-space study.

A specification has these tables (all optional except that it must name at least one point)::

    [sweep]
    name = "mt-workload"          # a label for plots and the progress bar (default: the file's stem)
    out = "out/sweeps/mt"         # output folder (default: out/sweeps/<name>); `--out` overrides
    repetitions = 1               # each point runs this many times (column `rep`)
    timeout_s = 600               # a point still running after this is killed and marked `timeout`

    [base]                        # settings every point starts from
    workload = "synthetic"        # a workload of `a3sim run`: minilm, memn2n, wordnet, synthetic
    mode = "approx"               # exact, approx, post_only
    preset = "conservative"       # or M / T (ignored in exact mode)
    options = { m = 64 }          # keyword arguments of the workload
    config = { n_max = 320 }      # hardware configuration entries (see `a3sim config`)

    [workloads.memn2n]            # options that apply only when the point's workload is memn2n
    limit = 50

    [grid]                        # axes: the cartesian product of their values
    M = [40, 80, 160]
    T = [0.0, 0.1]
    config.dram_bandwidth_gbps = [12.8, 25.6]

    [[points]]                    # an explicit list; each is crossed with the grid (if any)
    workload = "memn2n"

    [[plots]]                     # summary PNGs: a metric (y) against an axis (x)
    y = "sim_latency_us"
    x = "M"                       # default: the varying axis with the most values
    by = "T"                      # one line per value of these axes (default: all other axes)

Axis names are ``workload``, ``mode``, ``preset``, ``M``, ``T``, ``options.<name>`` and
``config.<entry>``; in TOML, ``config.x = [...]`` inside ``[grid]`` is the same as a ``[grid.config]``
table. Every configuration entry of the library in force is accepted (checked against its table,
so entries added to ``a3_config.h`` are sweepable with no change here); values are numbers.

Expansion: each explicit point (or one empty point) is crossed with every grid combination and laid
over ``[base]`` (grid over point over base; ``options`` and ``config`` merge key by key), then over
the workload's own ``[workloads.<name>]`` options, and repeated ``repetitions`` times. In exact
mode ``preset``, ``M`` and ``T`` do not apply: they are dropped and the points that become equal
are run once.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .spec import TOP_AXES, PlotSpec, SweepSpec, SweepSpecError, _nest

_SECTIONS = {"sweep", "base", "workloads", "grid", "points", "plots"}
_SWEEP_KEYS = {"name", "out", "repetitions", "timeout_s"}
_PLOT_KEYS = {"y", "x", "by", "logx", "logy"}


def _flatten_axes(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``{"M": [...], "config": {"x": [...]}}`` -> ``{"M": [...], "config.x": [...]}``, checked."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        if k in ("options", "config"):
            if not isinstance(v, Mapping):
                raise SweepSpecError(f"{where}.{k} must be a table of {k} entries")
            for kk, vv in v.items():
                out[f"{k}.{kk}"] = vv
        elif k in TOP_AXES:
            out[k] = v
        else:
            raise SweepSpecError(
                f"{where}: unknown setting {k!r}; settings are {', '.join(TOP_AXES)}, options.<name> and "
                "config.<entry> (hardware entries go under config, e.g. config.n_max)"
            )
    return out


def _check_scalar(where: str, v: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise SweepSpecError(f"{where} = {v!r} must be finite")
    if isinstance(v, Mapping):
        raise SweepSpecError(f"{where}: a value cannot be a table")


def parse_spec(data: Mapping[str, Any], *, name: str = "sweep", source: str = "") -> SweepSpec:
    """Build a :class:`SweepSpec` from parsed TOML (see the module docstring for the tables)."""
    unknown = set(data) - _SECTIONS
    if unknown:
        raise SweepSpecError(
            f"unknown table(s) {', '.join(sorted(unknown))}; a spec has {', '.join(sorted(_SECTIONS))}"
        )
    sw = dict(data.get("sweep", {}))
    bad = set(sw) - _SWEEP_KEYS
    if bad:
        raise SweepSpecError(
            f"[sweep] has unknown key(s) {', '.join(sorted(bad))}; known: {', '.join(sorted(_SWEEP_KEYS))}"
        )
    name = str(sw.get("name", name))
    reps = sw.get("repetitions", 1)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise SweepSpecError(f"[sweep] repetitions = {reps!r} must be an integer >= 1")
    timeout = sw.get("timeout_s", 600.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise SweepSpecError(f"[sweep] timeout_s = {timeout!r} must be a positive number of seconds")

    base = _nest(_flatten_axes(data.get("base", {}), "[base]"))
    wl = data.get("workloads", {})
    if not isinstance(wl, Mapping) or not all(isinstance(v, Mapping) for v in wl.values()):
        raise SweepSpecError("[workloads.<name>] tables hold options of one workload each")
    grid = _flatten_axes(data.get("grid", {}), "[grid]")
    for k, vals in grid.items():
        if not isinstance(vals, list) or not vals:
            raise SweepSpecError(f"[grid] {k} must be a non-empty list of values, got {vals!r}")
        for v in vals:
            _check_scalar(f"[grid] {k}", v)
        if len({json.dumps(v, sort_keys=True) for v in vals}) != len(vals):
            raise SweepSpecError(f"[grid] {k} lists a value twice")
    explicit = []
    pts = data.get("points", [])
    if not isinstance(pts, list):
        raise SweepSpecError("points must be an array of tables ([[points]])")
    for i, p in enumerate(pts):
        flat = _flatten_axes(p, f"[[points]] #{i + 1}")
        for k, v in flat.items():
            _check_scalar(f"[[points]] #{i + 1} {k}", v)
        explicit.append(flat)
    if any(set(p) & set(grid) for p in explicit):
        clash = sorted(set().union(*(set(p) & set(grid) for p in explicit)))
        raise SweepSpecError(f"{', '.join(clash)} is both a grid axis and set by [[points]]: choose one")

    plots = []
    for i, pl in enumerate(data.get("plots", [])):
        bad = set(pl) - _PLOT_KEYS
        if bad or "y" not in pl:
            raise SweepSpecError(f"[[plots]] #{i + 1}: needs y (a metric) and takes {', '.join(sorted(_PLOT_KEYS))}")
        by = pl.get("by")
        plots.append(
            PlotSpec(
                y=str(pl["y"]),
                x=pl.get("x"),
                by=None if by is None else tuple([by] if isinstance(by, str) else by),
                logx=bool(pl.get("logx", False)),
                logy=bool(pl.get("logy", False)),
            )
        )

    spec = SweepSpec(
        name=name,
        out=Path(sw.get("out", Path("out") / "sweeps" / name)),
        repetitions=reps,
        timeout_s=float(timeout),
        base=base,
        workload_options={k: dict(v) for k, v in wl.items()},
        grid={k: list(v) for k, v in grid.items()},
        explicit=explicit,
        plots=plots,
        source=source,
    )
    for pl in plots:
        for a in ([pl.x] if pl.x else []) + list(pl.by or ()):
            if a not in spec.axes and a not in _all_axis_names(base):
                raise SweepSpecError(
                    f"[[plots]] axis {a!r} is not a setting of this sweep (its axes: {', '.join(spec.axes) or 'none'})"
                )
    return spec


def _all_axis_names(nested: Mapping[str, Any]) -> list[str]:
    names = []
    for k, v in nested.items():
        if k in ("options", "config"):
            names += [f"{k}.{kk}" for kk in v]
        else:
            names.append(k)
    return names


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep specification file (TOML)."""
    path = Path(path)
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SweepSpecError(f"cannot read sweep spec {path}: {exc}") from None
    return parse_spec(data, name=path.stem, source=text)
