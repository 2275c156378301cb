"""Bad input raises typed exceptions with messages that say what to fix; nothing reaches the
device, and the driver stays usable."""

from __future__ import annotations

import numpy as np
import pytest

from a3sim import errors as E
from conftest import assert_exact_close, rand

rng = np.random.default_rng(0)
Q, K, V = rand(rng, 3, 8), rand(rng, 10, 8), rand(rng, 10, 8)


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        ((Q, K[:, :4], V[:, :4]), {}, E.ShapeError, "d = 8"),
        ((Q, K, V[:5]), {}, E.ShapeError, "same shape"),
        ((Q[None], K, V), {}, E.ShapeError, "1-D or 2-D"),
        ((Q, K[0], V[0]), {}, E.ShapeError, "2-D"),
        ((Q, K), {}, E.ShapeError, "V is missing"),
        ((Q.astype(np.int32), K, V), {}, E.DTypeError, "float32 or float64"),
        ((Q, K.astype(np.float16), V), {}, E.DTypeError, "astype"),
        ((Q, K.astype(complex), V), {}, E.DTypeError, "dtype"),
        ((np.where(np.arange(24).reshape(3, 8) == 5, np.nan, Q), K, V), {}, E.NonFiniteError, r"\(0, 5\)"),
        ((Q, np.where(np.arange(80).reshape(10, 8) == 9, np.inf, K), V), {}, E.NonFiniteError, "K holds"),
        ((np.zeros((0, 8), np.float32), K, V), {}, E.EmptyInputError, "empty"),
        ((Q, K[:0], V[:0]), {}, E.EmptyInputError, "empty"),
        ((rand(rng, 1, 65), rand(rng, 3, 65), rand(rng, 3, 65)), {}, E.ShapeError, "d_max"),
        ((Q, K, V), {"mode": "fast"}, E.ParameterError, "mode must be"),
        ((Q, K, V), {"mode": "approx", "M": -1}, E.ParameterError, "non-negative"),
        ((Q, K, V), {"mode": "approx", "M": float("nan")}, E.ParameterError, "M must"),
        ((Q, K, V), {"mode": "approx", "M": 2.5}, E.ParameterError, "M must"),
        ((Q, K, V), {"mode": "approx", "M": 10, "T": 1.5}, E.ParameterError, r"\[0, 1\]"),
        ((Q, K, V), {"mode": "approx", "M": 10, "T": -0.1}, E.ParameterError, "T must"),
        ((Q, K, V), {"mode": "post_only", "T": float("nan")}, E.ParameterError, "T must"),
        ((Q, K, V), {"mode": "approx", "preset": "wild"}, E.ParameterError, "preset"),
        ((Q, K, V), {"mode": "exact", "M": 3}, E.ParameterError, "exact"),
    ],
)
def test_bad_input_raises_typed_error(drv, args, kwargs, exc, match):
    jobs_before = drv.trace.count("job")
    with pytest.raises(exc, match=match):
        drv.attention(*args, **kwargs)
    assert drv.trace.count("job") == jobs_before  # nothing reached the device
    out, _ = drv.attention(Q, K, V)
    assert_exact_close(out, Q, K, V)


def test_input_errors_are_value_errors(drv):
    with pytest.raises(ValueError):
        drv.attention(Q, K[:, :3], V[:, :3])
    assert issubclass(E.DTypeError, TypeError) and issubclass(E.A3InputError, E.A3Error)


def test_config_errors(drv):
    from a3sim import A3Driver

    with pytest.raises(E.ConfigError, match="did you mean n_max"):
        A3Driver(config={"n_maxx": 10})
    with pytest.raises(E.ConfigError, match="one platform per process"):
        A3Driver(config={"n_max": 100})
    with pytest.raises(E.ConfigError, match="unit 3"):
        A3Driver(unit=3)
    # The configuration in force is accepted again.
    A3Driver(config={"n_max": 320}).close()


def test_out_of_device_memory_is_typed_and_recoverable():
    from conftest import in_fresh_process

    out = in_fresh_process(
        """
        import numpy as np
        from a3sim import A3Driver
        from a3sim.errors import OutOfDeviceMemory
        drv = A3Driver(config={"dram_mb": 2})
        rng = np.random.default_rng(0)
        big = rng.standard_normal((8000, 64)).astype(np.float32)   # K + V = 4 MB > 2 MiB of DRAM
        try:
            drv.load(big, big)
        except OutOfDeviceMemory as e:
            print("raised:", "dram_mb" in str(e))
        q = rng.standard_normal((2, 8)).astype(np.float32)
        K = rng.standard_normal((5, 8)).astype(np.float32)
        out, rec = drv.attention(q, K, K)
        print("after:", out.shape, rec.bytes_read > 0)
        """
    )
    assert "raised: True" in out and "after: (2, 8) True" in out
