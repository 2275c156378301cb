"""One place for the approximation's knobs: the modes, the preset table and the accuracy bounds
the presets are calibrated against (``docs/spec.md`` 3.4, ``docs/calibration.md``).

The CLI's choices, the driver, :mod:`a3sim.report` and :mod:`a3sim.calibrate` all read these.
"""

from __future__ import annotations

from typing import Final, TypedDict

from .protocol import MODES

__all__ = [
    "WORKLOADS",
    "MODES",
    "PRESETS",
    "PAPER_PRESETS",
    "CALIBRATED_PRESETS",
    "PRESET_NAMES",
    "DEFAULT_PRESET",
    "BOUNDS",
    "REPORT_MODES",
    "Preset",
]


class Preset(TypedDict):
    """M as a fraction of a tile's rows (M = ceil(M_frac * n)), and the post-scoring threshold T."""

    M_frac: float
    T: float


#: The workloads of `a3sim run`, `mem` and `sweep` (the runners of :mod:`a3sim.runners`, same order).
WORKLOADS: Final[tuple[str, ...]] = ("minilm", "memn2n", "wordnet", "synthetic")

#: The paper's presets (``docs/spec.md`` 3.4, paper Sec. VI-B): M = ceil(M_frac * n), at least 1.
PAPER_PRESETS: Final[dict[str, Preset]] = {
    "conservative": {"M_frac": 0.5, "T": 0.05},
    "aggressive": {"M_frac": 0.125, "T": 0.1},
}
#: Presets calibrated on our tasks by ``a3sim calibrate --out docs/calibration.md`` (min-side skip
#: on) on MemN2N qa2/qa3 and the WordNet tasks: the setting with the largest modelled gain whose
#: worst task loss stays within the bound in the name (:data:`BOUNDS`). See docs/calibration.md.
CALIBRATED_PRESETS: Final[dict[str, Preset]] = {
    "calibrated-1.6": {"M_frac": 0.875, "T": 0.1},
    "calibrated-9": {"M_frac": 0.5, "T": 0.3},
}
#: Every named preset.
PRESETS: Final[dict[str, Preset]] = {**PAPER_PRESETS, **CALIBRATED_PRESETS}
PRESET_NAMES: Final[tuple[str, ...]] = tuple(PRESETS)
#: The preset an approximate call uses when it names none.
DEFAULT_PRESET: Final = "conservative"

#: Worst task-accuracy loss (percentage points) each calibrated preset may cost: the paper's loss
#: figures for its conservative (about 1-1.6 points) and aggressive (8-9 points) presets.
BOUNDS: Final[dict[str, float]] = {"calibrated-1.6": 1.6, "calibrated-9": 9.0}

#: The (mode, preset) rows of the main job's report: exact, then the paper's presets in approx mode.
REPORT_MODES: Final[tuple[tuple[str, str | None], ...]] = (("exact", None),) + tuple(
    ("approx", p) for p in PAPER_PRESETS
)


def mode_label(mode: str, preset: object = None) -> str:
    """How a run is named in tables: the preset's name in approx mode, else the mode, with the
    preset after a slash (``post_only`` stays ``post_only/...`` when a preset supplied its T)."""
    if isinstance(preset, dict):
        preset = ",".join(f"{k}={v:g}" for k, v in preset.items())
    if preset is None or mode == "exact":
        return mode
    return str(preset) if mode == "approx" else f"{mode}/{preset}"
