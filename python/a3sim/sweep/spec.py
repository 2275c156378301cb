"""Sweep specifications as data: :class:`SweepSpec` and its expansion into :class:`Point` objects.

The TOML format and the expansion rules are in :mod:`a3sim.sweep.specfile` and docs/sweeps.md.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import A3Error
from ..presets import MODES

#: Axes that are not options or configuration entries.
TOP_AXES = ("workload", "mode", "preset", "M", "T")
_HOOKS = {"on_call"}  # runner arguments that are callbacks, not workload options


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
        return {
            "workload": self.workload,
            "mode": self.mode,
            "preset": self.preset,
            "M": self.M,
            "T": self.T,
            "options": dict(sorted(self.options.items())),
            "config": dict(sorted(self.config.items())),
        }

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
        combos = (
            [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())] if self.grid else [{}]
        )
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
                    f"options for one workload only go in a [workloads.{workload}] table"
                )
        config = _check_config(s.get("config", {}), table)
        return {
            "workload": workload,
            "mode": mode,
            "preset": preset,
            "M": M,
            "T": T,
            "options": dict(sorted(options.items())),
            "config": dict(sorted(config.items())),
        }


def workload_options(workload: str) -> list[str]:
    """The keyword options of a workload's runner (read from its signature)."""
    from ..report import RUNNERS

    sig = inspect.signature(RUNNERS[workload])
    return [
        n
        for i, (n, p) in enumerate(sig.parameters.items())
        if i > 0 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in _HOOKS
    ]


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
