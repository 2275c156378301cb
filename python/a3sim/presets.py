"""One place for the approximation's knobs: the modes, the preset table and the accuracy bounds
the presets are calibrated against (``docs/spec.md`` 3.4, ``docs/calibration.md``).

The CLI's choices, the driver, :mod:`a3sim.report` and :mod:`a3sim.calibrate` all read these.
"""

from __future__ import annotations

from typing import Final, TypedDict

from .protocol import MODES

__all__ = ["MODES", "PRESETS", "PRESET_NAMES", "DEFAULT_PRESET", "BOUNDS", "REPORT_MODES", "Preset"]


class Preset(TypedDict):
    """M as a fraction of a tile's rows (M = ceil(M_frac * n)), and the post-scoring threshold T."""

    M_frac: float
    T: float


#: Presets of the approximation. Calibrated by ``a3sim calibrate --out docs/calibration.md`` on
#: MemN2N qa2/qa3 and the WordNet tasks: the setting with the largest modelled gain whose worst task
#: loss stays within :data:`BOUNDS`. See docs/calibration.md.
PRESETS: Final[dict[str, Preset]] = {
    "conservative": {"M_frac": 0.875, "T": 0.1},
    "aggressive": {"M_frac": 0.5, "T": 0.3},
}
PRESET_NAMES: Final[tuple[str, ...]] = tuple(PRESETS)
#: The preset an approximate call uses when it names none.
DEFAULT_PRESET: Final = "conservative"

#: Worst task-accuracy loss (percentage points) each preset may cost: the paper's figures.
BOUNDS: Final[dict[str, float]] = {"conservative": 1.6, "aggressive": 9.0}

#: The (mode, preset) rows of the main job's report: exact, then each preset in approx mode.
REPORT_MODES: Final[tuple[tuple[str, str | None], ...]] = (("exact", None),) + tuple(
    ("approx", p) for p in PRESET_NAMES
)


def mode_label(mode: str, preset: object = None) -> str:
    """How a run is named in tables: the preset's name in approx mode, else the mode, with the
    preset after a slash (``post_only`` stays ``post_only/...`` when a preset supplied its T)."""
    if isinstance(preset, dict):
        preset = ",".join(f"{k}={v:g}" for k, v in preset.items())
    if preset is None or mode == "exact":
        return mode
    return str(preset) if mode == "approx" else f"{mode}/{preset}"
