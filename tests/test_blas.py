"""The model's BLAS: the pinned OpenBLAS from PyPI, a kernel that fits the CPU, found at run time."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from pathlib import Path

from a3sim import _native
from a3sim.blas import GENERIC_CORES, BlasInfo, cpu_flags, model_blas, numpy_blas


def _pinned(name: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    return re.search(rf'"{re.escape(name)}==([^"]+)"', text).group(1)


def test_model_links_the_pinned_openblas():
    info = model_blas()
    assert info.library == "OpenBLAS"
    # The build string names the same version as the installed, pinned package.
    pinned = _pinned("scipy-openblas32")
    assert importlib.metadata.version("scipy-openblas32") == pinned
    assert info.version == pinned, info.config
    assert "DYNAMIC_ARCH" in info.config  # the kernel is chosen for the CPU at run time
    assert info.threads >= 1


def test_selected_kernel_is_not_a_generic_fallback_on_an_avx2_cpu():
    flags = cpu_flags()
    info = model_blas()
    assert info.corename, info.config
    if "avx2" in flags:
        assert not info.generic, f"OpenBLAS fell back to {info.corename} on a CPU with AVX2"
        assert info.corename.lower() not in GENERIC_CORES
    else:
        # Without AVX2 a generic kernel may be right; the test then only checks the report.
        assert info.generic == (info.corename.lower() in GENERIC_CORES)


def test_generic_classification():
    assert BlasInfo("OpenBLAS", "0.3.21", "Prescott", 1, "").generic
    assert not BlasInfo("OpenBLAS", "0.3.34", "SkylakeX", 1, "").generic
    assert not BlasInfo("OpenBLAS", "0.3.34", "Zen", 1, "").generic


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(f) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_numpy_blas_is_reported():
    info = numpy_blas()
    assert info is not None and info.library == "openblas" and info.corename


def test_library_finds_openblas_through_its_runpath():
    lib = _native.find_library()
    out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if "libscipy_openblas" in ln), "")
    assert "=>" in line and "not found" not in line, out
    assert "scipy_openblas32" in line.split("=>")[1]
    dyn = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "RUNPATH" in dyn or "RPATH" in dyn
