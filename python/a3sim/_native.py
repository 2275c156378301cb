"""The native loader: finds the CMake-built model library, loads it into cppyy and includes the
thin header ``a3sim_api.h`` (no SystemC headers: those cost ~0.6 s to parse).

Search order for the library: ``$A3SIM_LIB``; ``a3sim/_lib/liba3sim.so`` of the installed package;
``build/*/liba3sim.so`` of a source checkout.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import PlatformError

_PKG = Path(__file__).resolve().parent
LIB_NAME = "liba3sim.so"
HEADER_NAME = "a3sim_api.h"


def find_library() -> Path:
    """Path of the model library, or :class:`PlatformError` saying how to build it."""
    env = os.environ.get("A3SIM_LIB")
    candidates = [Path(env)] if env else []
    candidates.append(_PKG / "_lib" / LIB_NAME)
    root = _PKG.parent.parent
    candidates.extend(sorted((root / "build").glob(f"*/{LIB_NAME}"), key=lambda p: -p.stat().st_mtime))
    for c in candidates:
        if c.is_file():
            return c
    raise PlatformError(
        f"cannot find {LIB_NAME} (looked in {', '.join(str(c) for c in candidates)}); "
        "build it with `make setup` or `pip install .`, or point $A3SIM_LIB at it"
    )


def _find_header(lib: Path) -> Path:
    for c in (lib.parent / HEADER_NAME, _PKG.parent.parent / "systemc" / "api" / HEADER_NAME):
        if c.is_file():
            return c
    raise PlatformError(f"cannot find {HEADER_NAME} next to {lib}")


@lru_cache(maxsize=1)
def api() -> Any:
    """The ``a3sim`` C++ namespace of the loaded library (loaded once per process)."""
    os.environ.setdefault("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1")
    try:
        import cppyy
    except ImportError as exc:  # pragma: no cover - cppyy is a dependency
        raise PlatformError(f"cppyy is not installed: {exc}") from exc
    lib = find_library()
    header = _find_header(lib)
    # Cling compiles as C++20; libsystemc was built as C++17 (see notes/systemc-cppyy.md).
    cppyy.cppdef("#define SC_CPLUSPLUS 201703L")
    try:
        cppyy.load_library(str(lib))
    except Exception as exc:
        raise PlatformError(f"cannot load {lib}: {exc}") from exc
    cppyy.include(str(header))
    return cppyy.gbl.a3sim
