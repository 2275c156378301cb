"""Which BLAS does the work, and which kernel it picked for this CPU.

The model links OpenBLAS from PyPI (``scipy-openblas32``, in ``liba3sim.so``); numpy carries its
own OpenBLAS build. With ``host_blas = 1`` (the default) the model's exact-mode GEMMs run on the
OpenBLAS numpy loaded, on numpy's thread pool (``origin`` "shared"); otherwise, or where numpy has
no OpenBLAS, on the linked one (``origin`` "linked"). Each chooses a kernel ("core") for the CPU
when it loads. An OpenBLAS that does not know the CPU falls back to a generic kernel (Prescott)
and runs several times slower, so the benchmark and ``a3sim config`` report the choice, and a test
fails on a generic kernel where the CPU has AVX2.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

#: Kernels OpenBLAS falls back to when it does not recognise the CPU (x86-64 baseline).
GENERIC_CORES = frozenset(
    {"prescott", "generic", "core2", "katmai", "coppermine", "northwood", "banias", "atom", "unknown"}
)


@dataclass(frozen=True)
class BlasInfo:
    """One BLAS library as loaded in this process."""

    library: str  # e.g. "OpenBLAS"
    version: str  # e.g. "0.3.34.481.3"
    corename: str  # the kernel selected at run time, e.g. "SkylakeX", "Zen", "Haswell"
    threads: int  # threads it uses now
    config: str  # the library's own build string (numpy's: the library's file name)
    origin: str = "linked"  # "linked" (the model's scipy-openblas32), "shared" (numpy's, used by the model), "numpy"

    @property
    def generic(self) -> bool:
        """True when the selected kernel is a generic fallback."""
        return self.corename.strip().lower() in GENERIC_CORES

    def as_dict(self) -> dict[str, object]:
        """Plain dict (for JSON), with ``generic``."""
        return {**asdict(self), "generic": self.generic}


def _split_config(config: str) -> tuple[str, str]:
    m = re.match(r"\s*(\S+)\s+(\d[\w.]*)", config)
    return (m.group(1), m.group(2)) if m else (config.split(" ")[0] if config else "", "")


def model_blas(linked: bool = False) -> BlasInfo:
    """The BLAS the model's GEMMs run on (``linked=True``: the one linked into the library, whether
    in use or not). Loads the library if needed; before the platform is built, the linked one."""
    from . import _native

    fields = dict(line.split("|", 1) for line in str(_native.api().blas_info()).splitlines() if "|" in line)
    origin = fields.get("origin", "linked")
    if linked and not origin.startswith("linked"):
        config = fields.get("linked_config", "")
        library, version = _split_config(config)
        threads = int(fields.get("linked_threads", "0"))
        return BlasInfo(library, version, fields.get("linked_corename", ""), threads, config, "linked")
    config = fields.get("config", "")
    library, version = _split_config(config)
    kind = "shared" if origin.startswith("shared") else "linked"
    if kind == "shared":  # which file: its name only (no local paths)
        config = f"{config} ({Path(origin.split(' ', 1)[1]).name})"
    return BlasInfo(library, version, fields.get("corename", ""), int(fields.get("threads", "0")), config, kind)


def numpy_blas() -> BlasInfo | None:
    """numpy's BLAS, as threadpoolctl sees it (None if numpy has no BLAS threadpoolctl knows)."""
    import numpy  # noqa: F401  (loads numpy's BLAS so that threadpoolctl finds it)
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in str(pool.get("filepath", "")):
            return BlasInfo(
                str(pool.get("internal_api", "")),
                str(pool.get("version", "")),
                str(pool.get("architecture", "")),
                int(pool.get("num_threads", 0)),
                Path(str(pool.get("filepath", ""))).name,
                "numpy",
            )  # file name only: no local paths
    return None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """Flags of the first CPU in /proc/cpuinfo (empty where there is no such file)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()
