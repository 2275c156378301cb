"""The model's BLAS: the pinned OpenBLAS from PyPI, a kernel that fits the CPU, found at run time."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
from pathlib import Path

import numpy as np

from a3sim import _native
from a3sim.blas import GENERIC_CORES, BlasInfo, cpu_flags, model_blas, numpy_blas
from conftest import exact_attention, exact_tolerance, in_fresh_process


def _pinned(name: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    return re.search(rf'"{re.escape(name)}==([^"]+)"', text).group(1)


def test_model_links_the_pinned_openblas():
    info = model_blas(linked=True)
    assert info.library == "OpenBLAS" and info.origin == "linked"
    # The build string names the same version as the installed, pinned package.
    pinned = _pinned("scipy-openblas32")
    assert importlib.metadata.version("scipy-openblas32") == pinned
    assert info.version == pinned, info.config
    assert "DYNAMIC_ARCH" in info.config  # the kernel is chosen for the CPU at run time
    assert info.threads >= 1


def test_model_gemms_run_on_numpys_openblas_by_default():
    from a3sim.device import Device

    Device.open()
    info, nb = model_blas(), numpy_blas()
    assert info.origin == "shared" and nb is not None
    assert info.version == nb.version and info.corename == nb.corename
    assert info.threads == nb.threads >= 1  # numpy's pool, as numpy set it
    assert "DYNAMIC_ARCH" in info.config


_SHAPES = [(1024, 320, 64), (300, 200, 40), (77, 320, 64), (5, 37, 24)]


def _inputs() -> list[list[np.ndarray]]:
    rng = np.random.default_rng(3)
    return [[rng.standard_normal(s).astype(np.float32) for s in ((m, d), (n, d), (n, d))] for m, n, d in _SHAPES]


def _outputs(host_blas: int) -> dict:
    out = in_fresh_process(
        f"""
        import json, sys
        import numpy as np
        from threadpoolctl import threadpool_limits
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_blas import _inputs
        from a3sim import A3Driver
        from a3sim.blas import model_blas

        drv = A3Driver(config={{"host_blas": {host_blas}}})
        outs = [drv.attention(*x)[0] for x in _inputs()]
        with threadpool_limits(2, user_api="blas"):  # numpy's pool at two threads (one before)
            outs2 = [drv.attention(*x)[0] for x in _inputs()]
        print(json.dumps({{
            "origin": model_blas().origin,
            "threads_free": all(np.array_equal(a, b) for a, b in zip(outs, outs2)),
            "outs": [o.tolist() for o in outs],
        }}))
        """
    )
    return json.loads(out.strip().splitlines()[-1])


def test_host_blas_changes_speed_not_results_beyond_float32_rounding():
    shared, linked = _outputs(1), _outputs(0)
    assert shared["origin"] == "shared" and linked["origin"] == "linked"
    # The result does not depend on how many threads numpy's pool has.
    assert shared["threads_free"] and linked["threads_free"]
    # Both within the exact-mode tolerance of the float64 reference (docs/numerics.md section 2),
    # and no further apart than that tolerance (they differ only by float32 rounding in the GEMMs).
    for (Q, K, V), a, b in zip(_inputs(), shared["outs"], linked["outs"]):
        ref = exact_attention(Q, K, V)
        tol = exact_tolerance(Q, K, V, ref)
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        assert np.all(np.abs(a - ref) <= tol) and np.all(np.abs(b - ref) <= tol)
        assert np.all(np.abs(a - b) <= tol)


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
