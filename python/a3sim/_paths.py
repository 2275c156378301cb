"""Where a3sim finds its data files, installed or in a source checkout."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def workloads_dir() -> Path:
    """The folder of workload data (bAbI, WordNet subset, trained weights).

    Order: ``$A3SIM_WORKLOADS``; ``a3sim/workloads`` inside an installed package (CMake installs the
    repository's ``workloads/`` there); ``workloads/`` of the source checkout.
    """
    env = os.environ.get("A3SIM_WORKLOADS")
    if env:
        return Path(env)
    installed = _PKG / "workloads"
    if installed.is_dir():
        return installed
    return _PKG.parent.parent / "workloads"
