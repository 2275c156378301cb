"""The hardware configuration: defaults from the model's one table (``systemc/soc/a3_config.h``), with
overrides from a dict, a TOML file or ``key=value`` text.

``docs/configuration.md`` lists every entry with its unit and source; ``a3sim config`` prints the
same table from the library in force.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from ._native import Native

ConfigLike = Mapping[str, float] | str | Path | None


@dataclass(frozen=True)
class ConfigEntry:
    """One hardware parameter: its name, value in force, default, unit and source."""

    name: str
    value: float
    default: float
    unit: str
    source: str


def entries(native: Native) -> dict[str, ConfigEntry]:
    """The native configuration table (in force, or the defaults before the platform exists)."""
    return {r.name: ConfigEntry(*r) for r in native.config_rows()}


def normalise(config: ConfigLike, known: Mapping[str, ConfigEntry]) -> dict[str, float]:
    """Turn a dict, a TOML path or ``key=value;...`` text into checked ``{key: value}`` overrides.

    A TOML file may hold the keys at top level or in an ``[a3]`` table.
    """
    if config is None:
        return {}
    if isinstance(config, Path) or (isinstance(config, str) and config.endswith(".toml")):
        path = Path(config)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read hardware config {path}: {exc}") from exc
        config = data.get("a3", data)
    elif isinstance(config, str):
        items = {}
        for part in config.replace("\n", ";").split(";"):
            if not part.strip():
                continue
            if "=" not in part:
                raise ConfigError(f"config item {part.strip()!r} is not key=value")
            k, v = (s.strip() for s in part.split("=", 1))
            if k in items:
                raise ConfigError(f"config key {k!r} is given twice ({items[k]} and {v}); give it once")
            items[k] = v
        config = items
    out: dict[str, float] = {}
    for key, value in dict(config).items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"unknown hardware config key {key!r}{hint}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config {key} = {value!r} is not a number") from None
        if not math.isfinite(v):
            raise ConfigError(f"config {key} = {value!r} must be finite")
        out[key] = v
    return out


def to_text(overrides: Mapping[str, float]) -> str:
    """``key=value;...`` text for the native ``create()``."""
    return ";".join(f"{k}={float(v)!r}" for k, v in overrides.items())
