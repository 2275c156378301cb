"""Shared fixtures: one platform per test process, a fork helper for tests that need their own
kernel state, and a fresh-process helper for tests that need another configuration."""

from __future__ import annotations

import os

# One BLAS thread for numpy in tests: two pools (numpy's and the model's) on 2 cores thrash.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pickle
import subprocess
import sys
import textwrap
import traceback
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import settings

# In CI the property tests replay a fixed set of examples (a run must not turn red by the luck of
# the draw); on developers' machines they keep exploring new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


# The process's platform carries the TLM-2.0 base-protocol checkers on every hop (configuration
# entry protocol_check, docs/register-map.md section 10): the whole suite's traffic is checked, and
# pytest_sessionfinish fails the run on any violation.
TEST_PLATFORM = {"protocol_check": 1}


@pytest.fixture(scope="session", autouse=True)
def _checked_platform():
    """Build the session's platform first, with the protocol checkers in."""
    from a3sim.device import Device

    return Device.open(TEST_PLATFORM)


@pytest.fixture(scope="session")
def drv(_checked_platform):
    """The session's driver on the process's one platform (default configuration + checkers)."""
    from a3sim import A3Driver

    return A3Driver()


def pytest_sessionfinish(session, exitstatus):
    """Zero protocol violations over the suite's traffic, or the run fails."""
    from a3sim.device import Device

    if not Device.exists():
        return
    rep = Device.open().protocol_report()
    line = f"protocol checkers: {rep['checked']} transactions checked, {rep['violations']} violations"
    print("\n" + line)
    if rep["violations"]:
        print("\n".join(rep["messages"]))
        session.exitstatus = 1


def in_fork(fn: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Run fn in a forked child (a copy of this process and its SystemC kernel) and return its
    result; the parent's kernel is untouched whatever the child does."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            payload = ("ok", fn())
        except BaseException:  # noqa: BLE001 - report everything to the parent
            payload = ("error", traceback.format_exc())
        try:
            data = pickle.dumps(payload)
        except Exception:  # unpicklable result
            data = pickle.dumps(("error", "result of the forked test is not picklable"))
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        pytest.fail(f"forked child died without a result (wait status {status})")
    kind, value = pickle.loads(data)
    if kind == "error":
        pytest.fail("in forked child:\n" + value)
    return value


def in_fresh_process(code: str, timeout: float = 300.0) -> str:
    """Run Python code in a new interpreter (its own platform and configuration); returns its
    stdout, fails the test with its stderr on a non-zero exit."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, env=env
    )
    if p.returncode != 0:
        pytest.fail(f"fresh process failed (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def exact_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Independent float64 reference of docs/spec.md section 1."""
    Q64, K64, V64 = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    S = Q64 @ K64.T
    S -= S.max(axis=-1, keepdims=True)
    P = np.exp(S)
    P /= P.sum(axis=-1, keepdims=True)
    return P @ V64


def exact_tolerance(Q: np.ndarray, K: np.ndarray, V: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Absolute error allowed in exact mode, per output element (docs/numerics.md section 2).

    With float32 scores (``exact_score_bits`` = 32) score i, r carries an error
    |delta| <= gamma_d * sum_j |q_ij k_rj|, gamma_d = d u / (1 - d u), u = 2^-24 (summation in
    float32 of exactly rounded products, in any order). To first order, o_i moves by
    sum_r p_ir (delta_r - mean_p delta) (v_r - o_i), so |delta o_ij| <= 2 max_r |delta_r| *
    max_r |v_rj - o_ij|. On top: the float32 softmax and weighted sum, rtol 1e-5 and atol 1e-6 as
    before.
    """
    Q64, K64, V64 = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    d = Q64.shape[-1]
    u = 2.0**-24
    gamma = d * u / (1 - d * u)
    s1 = (np.abs(Q64) @ np.abs(K64).T).max(axis=-1, keepdims=True)  # (m, 1)
    spread = np.maximum(V64.max(axis=0) - ref, ref - V64.min(axis=0))  # (m, d)
    return 1e-6 + 1e-5 * np.abs(ref) + 2 * gamma * s1 * spread


def assert_exact_close(out: np.ndarray, Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> None:
    """out against the float64 reference, within the float32 error bound of exact mode."""
    ref = exact_attention(Q, K, V)
    err = np.abs(np.asarray(out, dtype=np.float64) - ref)
    tol = exact_tolerance(Q, K, V, ref)
    bad = err > tol
    assert not bad.any(), (
        f"{int(bad.sum())} of {bad.size} elements beyond the bound; worst error "
        f"{err.max():.3g}, worst error / bound {(err / tol).max():.3g}"
    )


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)
