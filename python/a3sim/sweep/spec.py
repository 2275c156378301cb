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

import hashlib
import inspect
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import A3Error
from ..presets import MODES

#: Axes that are not options or configuration entries.
TOP_AXES = ("workload", "mode", "preset", "M", "T")
_SECTIONS = {"sweep", "base", "workloads", "grid", "points", "plots"}
_SWEEP_KEYS = {"name", "out", "repetitions", "timeout_s"}
_PLOT_KEYS = {"y", "x", "by", "logx", "logy"}


class SweepSpecError(A3Error, ValueError):
    """A sweep specification is not valid (the message says which entry and what to change)."""


@dataclass(frozen=True)
class Point:
    """One simulation of a sweep: a workload run in one mode on one hardware configuration.

    ``config`` holds only the entries the sweep sets (the rest keep the library's defaults);
    ``options`` are keyword arguments of the workload's runner (:data:`a3sim.report.RUNNERS`).
    """

    index: int
    workload: str
    mode: str
    preset: str | None
    M: int | None
    T: float | None
    options: Mapping[str, Any]
    config: Mapping[str, float]
    rep: int = 0

    def settings(self) -> dict[str, Any]:
        """The point's settings without its index and repetition, as plain JSON-able data."""
        return {"workload": self.workload, "mode": self.mode, "preset": self.preset, "M": self.M, "T": self.T,
                "options": dict(sorted(self.options.items())), "config": dict(sorted(self.config.items()))}

    @property
    def point_id(self) -> str:
        """A hash of the settings and the repetition: the key of ``--resume``."""
        return _hash({**self.settings(), "rep": self.rep})

    def params(self) -> dict[str, Any]:
        """Flat parameters as table columns: ``workload``, ..., ``options.<k>``, ``config.<k>``."""
        out: dict[str, Any] = {k: getattr(self, k) for k in TOP_AXES}
        out.update({f"options.{k}": v for k, v in sorted(self.options.items())})
        out.update({f"config.{k}": v for k, v in sorted(self.config.items())})
        return out

    def payload(self) -> dict[str, Any]:
        """What the point runner (``python -m a3sim.sweep.point``) reads."""
        return {"index": self.index, "rep": self.rep, "point_id": self.point_id, **self.settings()}


@dataclass(frozen=True)
class PlotSpec:
    """One summary plot: metric ``y`` against axis ``x``, one line per value of the ``by`` axes."""

    y: str
    x: str | None = None
    by: tuple[str, ...] | None = None
    logx: bool = False
    logy: bool = False


@dataclass
class SweepSpec:
    """A parsed specification; :meth:`points` expands it."""

    name: str
    out: Path
    repetitions: int = 1
    timeout_s: float = 600.0
    base: dict[str, Any] = field(default_factory=dict)
    workload_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    explicit: list[dict[str, Any]] = field(default_factory=list)  # flat: axis name -> value
    plots: list[PlotSpec] = field(default_factory=list)
    source: str = ""

    @property
    def axes(self) -> list[str]:
        """Names of the settings that vary between points (grid axes first, then explicit keys)."""
        names = list(self.grid)
        for p in self.explicit:
            for k in p:
                if k not in names:
                    names.append(k)
        return names

    def points(self, config_table: Mapping[str, Any] | None = None) -> list[Point]:
        """Expand the specification into points (see the module docstring for the rules).

        ``config_table`` (entry name -> entry, e.g. ``Device``'s table or
        :func:`library_config_table`) checks configuration keys and turns values into floats; with
        None the table of the library in force is loaded.
        """
        table = library_config_table() if config_table is None else config_table
        combos = [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())] \
            if self.grid else [{}]
        explicit = self.explicit or [{}]
        seen: set[str] = set()
        settings: list[dict[str, Any]] = []
        for p in explicit:
            for g in combos:
                s = _merge(self.base, _nest(p), _nest(g))
                s = self._complete(s, table)
                key = _hash(s)
                if key not in seen:
                    seen.add(key)
                    settings.append(s)
        points = []
        for s in settings:
            for rep in range(self.repetitions):
                points.append(Point(index=len(points), rep=rep, **s))
        return points

    def _complete(self, s: dict[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
        from ..report import RUNNERS

        workload = s.get("workload")
        if workload is None:
            raise SweepSpecError("no workload: set [base] workload = ... (or a workload axis)")
        if workload not in RUNNERS:
            raise SweepSpecError(f"unknown workload {workload!r}; choose from {', '.join(RUNNERS)}")
        mode = s.get("mode", "exact")
        if mode not in MODES:
            raise SweepSpecError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        preset, M, T = s.get("preset"), s.get("M"), s.get("T")
        if mode == "exact":
            preset = M = T = None
        if M is not None and (isinstance(M, bool) or not isinstance(M, int) or M < 0):
            raise SweepSpecError(f"M = {M!r}: M must be a non-negative integer")
        if T is not None:
            if isinstance(T, bool) or not isinstance(T, (int, float)):
                raise SweepSpecError(f"T = {T!r}: T must be a number in [0, 1]")
            T = float(T)
        if preset is not None and not isinstance(preset, str):
            raise SweepSpecError(f"preset = {preset!r}: a preset is a name")
        options = {**self.workload_options.get(workload, {}), **s.get("options", {})}
        accepted = workload_options(workload)
        for k in options:
            if k not in accepted:
                raise SweepSpecError(
                    f"workload {workload} takes no option {k!r} (it takes: {', '.join(accepted) or 'none'}); "
                    f"options for one workload only go in a [workloads.{workload}] table")
        config = _check_config(s.get("config", {}), table)
        return {"workload": workload, "mode": mode, "preset": preset, "M": M, "T": T,
                "options": dict(sorted(options.items())), "config": dict(sorted(config.items()))}


def workload_options(workload: str) -> list[str]:
    """The keyword options of a workload's runner (read from its signature)."""
    from ..report import RUNNERS

    sig = inspect.signature(RUNNERS[workload])
    return [n for i, (n, p) in enumerate(sig.parameters.items())
            if i > 0 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def library_config_table() -> dict[str, Any]:
    """The configuration table of the model library in force (loads it; builds no platform)."""
    from .. import _native
    from ..config import entries

    return entries(_native.native())


def _check_config(config: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, float]:
    from ..config import normalise
    from ..errors import ConfigError

    try:
        return normalise(dict(config), table)
    except ConfigError as exc:
        raise SweepSpecError(f"sweep config: {exc}") from None


def _merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win; ``options`` and ``config`` merge key by key."""
    out: dict[str, Any] = {"options": {}, "config": {}}
    for layer in layers:
        for k, v in layer.items():
            if k in ("options", "config"):
                out[k] = {**out[k], **v}
            else:
                out[k] = v
    return out


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
                "config.<entry> (hardware entries go under config, e.g. config.n_max)")
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`_flatten_axes` for one point's values."""
    out: dict[str, Any] = {}
    for k, v in flat.items():
        if "." in k:
            sect, name = k.split(".", 1)
            out.setdefault(sect, {})[name] = v
        else:
            out[k] = v
    return out


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_scalar(where: str, v: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise SweepSpecError(f"{where} = {v!r} must be finite")
    if isinstance(v, Mapping):
        raise SweepSpecError(f"{where}: a value cannot be a table")


def parse_spec(data: Mapping[str, Any], *, name: str = "sweep", source: str = "") -> SweepSpec:
    """Build a :class:`SweepSpec` from parsed TOML (see the module docstring for the tables)."""
    unknown = set(data) - _SECTIONS
    if unknown:
        raise SweepSpecError(f"unknown table(s) {', '.join(sorted(unknown))}; a spec has "
                             f"{', '.join(sorted(_SECTIONS))}")
    sw = dict(data.get("sweep", {}))
    bad = set(sw) - _SWEEP_KEYS
    if bad:
        raise SweepSpecError(f"[sweep] has unknown key(s) {', '.join(sorted(bad))}; "
                             f"known: {', '.join(sorted(_SWEEP_KEYS))}")
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
        plots.append(PlotSpec(y=str(pl["y"]), x=pl.get("x"), by=None if by is None else tuple(
            [by] if isinstance(by, str) else by), logx=bool(pl.get("logx", False)), logy=bool(pl.get("logy", False))))

    spec = SweepSpec(name=name, out=Path(sw.get("out", Path("out") / "sweeps" / name)), repetitions=reps,
                     timeout_s=float(timeout), base=base, workload_options={k: dict(v) for k, v in wl.items()},
                     grid={k: list(v) for k, v in grid.items()},
                     explicit=explicit, plots=plots, source=source)
    for pl in plots:
        for a in ([pl.x] if pl.x else []) + list(pl.by or ()):
            if a not in spec.axes and a not in _all_axis_names(base):
                raise SweepSpecError(f"[[plots]] axis {a!r} is not a setting of this sweep "
                                     f"(its axes: {', '.join(spec.axes) or 'none'})")
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


def expand(spec: SweepSpec, config_table: Mapping[str, Any] | None = None) -> list[Point]:
    """The points of a specification (same as ``spec.points(config_table)``)."""
    return spec.points(config_table)


def varying_axes(points: Sequence[Point]) -> list[str]:
    """Parameter columns whose value differs between points, in a stable order."""
    if not points:
        return []
    cols: list[str] = []
    for p in points:
        for k in p.params():
            if k not in cols:
                cols.append(k)
    out = []
    for c in cols:
        vals = {json.dumps(p.params().get(c), sort_keys=True, default=str) for p in points}
        if len(vals) > 1:
            out.append(c)
    return out
