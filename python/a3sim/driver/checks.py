"""Input validation: every argument of the public driver API is checked here, before anything
reaches the device, and every failure is a typed :mod:`a3sim.errors` exception."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypedDict

import numpy as np

from .. import _native
from .. import errors as E
from ..presets import DEFAULT_PRESET, MODES, PRESETS
from ..protocol import FEAT_MIN_SKIP, M_MAX, Mode

_MODE_BY_NAME = {name: Mode(i) for i, name in enumerate(MODES)}


class ModeParams(NamedTuple):
    """A call's checked approximation settings: M is absolute (0 when M_frac applies)."""

    mode: Mode
    M: int
    T: float
    M_frac: float | None
    min_skip: bool = True
    overflow: str = "tile"  # K/V beyond n_max: "tile" (host merge) or "stream" (device streams, exact only)


class CallOptions(TypedDict, total=False):
    """Keyword arguments of ``A3Driver.attention`` and ``attention_batch``.

    ``mode``: "exact" (default), "approx" or "post_only" (``docs/spec.md`` 3.4). ``preset``: a
    name of :data:`a3sim.presets.PRESETS` or a dict with ``M_frac`` (and ``T``); the approximate
    modes use the default preset when none is given. ``M`` / ``T``: explicit values that override
    the preset's. ``sets``: ask the device for each query's candidate and selected rows (default:
    on in the approximate modes). ``min_skip``: candidate selection with the min-side skip (default
    True; ``docs/spec.md`` 3.2 rule 3); False runs the plain algorithm on this call. ``overflow``:
    what happens to K/V of more than n_max rows (``docs/memory-model.md`` section 9): ``"tile"``
    (default) cuts them into tiles merged on the host; ``"stream"`` keeps the first n_max rows in the
    banks and has the unit stream the rest from DRAM for every query (exact mode only).
    """

    mode: str
    M: int | None
    T: float | None
    preset: str | Mapping[str, float] | None
    sets: bool | None
    min_skip: bool
    overflow: str


def call_options(options: Mapping[str, Any], features: int | None = None) -> tuple[ModeParams, bool]:
    """Check a call's keyword arguments: its :class:`ModeParams` and whether it collects sets.
    ``features``: the unit's ``CAP_FEATURES`` (an approx call relies on the min-side skip unless
    it passes ``min_skip=False``)."""
    if not options:
        return _EXACT, False
    unknown = set(options) - set(CallOptions.__annotations__)
    if unknown:
        raise E.ArgumentTypeError(
            f"unknown keyword argument(s) {', '.join(sorted(unknown))}; the driver takes "
            f"{', '.join(CallOptions.__annotations__)}"
        )
    mp = check_mode(options.get("mode", "exact"), options.get("M"), options.get("T"), options.get("preset"))
    sets = options.get("sets")
    if sets is not None and not isinstance(sets, (bool, np.bool_)):
        raise E.ArgumentTypeError(f"sets must be True, False or None, got {sets!r}")
    min_skip = options.get("min_skip", True)
    if not isinstance(min_skip, (bool, np.bool_)):
        raise E.ArgumentTypeError(f"min_skip must be True or False, got {min_skip!r}")
    if not min_skip:
        mp = mp._replace(min_skip=False)
    overflow = check_overflow(options.get("overflow", "tile"), mp.mode)
    if overflow != "tile":
        mp = mp._replace(overflow=overflow)
    if min_skip and mp.mode == Mode.APPROX and features is not None and not features & FEAT_MIN_SKIP:
        raise E.ParameterError(
            "this unit has no min-side skip (CAP_FEATURES bit MIN_SKIP is clear): pass min_skip=False"
        )
    return mp, bool(sets) if sets is not None else mp.mode != Mode.EXACT


_EXACT = ModeParams(Mode.EXACT, 0, 0.0, None)

#: How the driver handles K/V beyond the SRAM banks (n > n_max).
OVERFLOWS = ("tile", "stream")


def check_overflow(overflow: Any, mode: Mode = Mode.EXACT) -> str:
    """``overflow`` as "tile" or "stream"; streaming is exact-mode only (the approximate pipeline
    selects candidates over every key row held in the banks, ``docs/spec.md`` 3.5)."""
    if not isinstance(overflow, str) or overflow not in OVERFLOWS:
        raise E.ParameterError(f"overflow must be one of {', '.join(OVERFLOWS)}; got {overflow!r}")
    if overflow == "stream" and mode != Mode.EXACT:
        raise E.ParameterError(
            "overflow='stream' applies to exact mode only: the approximate pipeline needs every key row in "
            "the SRAM banks; use overflow='tile'"
        )
    return overflow


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _first_nonfinite(x: np.ndarray) -> int:
    """Flat index of the first NaN or infinity of a C-contiguous float32 array, or -1: one native
    call (a numpy reduction costs several times more on the small arrays of one call)."""
    return int(_native.native().first_nonfinite(x, x.size))


def _at(x: np.ndarray, flat: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, x.shape))


def nonfinite_error(name: str, x: np.ndarray) -> E.NonFiniteError:
    """The error for a float32 argument that holds a NaN or an infinity (named at its first one)."""
    flat = int(np.flatnonzero(~np.isfinite(x))[0])
    return E.NonFiniteError(
        f"{name} holds a non-finite value ({x[_at(x, flat)]}) at index {_at(x, flat)}; "
        "the device computes on finite float32 data"
    )


def check_context_overflow(ctx: Any, mp: ModeParams, explicit: bool, n_max: int) -> None:
    """A K/V context beyond n_max was loaded tiled or streamed (``A3Driver.load(overflow=...)``):
    a call that asks for the other way (``explicit``: it passed ``overflow``), or a streamed
    context in an approximate call, is refused."""
    if ctx is None or ctx.n <= n_max or ctx.stream == (mp.overflow == "stream"):
        return
    if explicit or mp.mode != Mode.EXACT:
        raise E.ParameterError(
            f"this KVContext was loaded with overflow={'stream' if ctx.stream else 'tile'!r}; "
            "a streamed context serves exact calls only"
        )


def as_f32(name: str, x: Any, ndim: Sequence[int], check_finite: bool = True) -> np.ndarray:
    """Check an array argument and return it as C-contiguous float32.

    ``check_finite=False`` leaves the finiteness of a float32 argument to the caller, which checks
    it while staging the data into device memory (``a3sim::stage_f32``) and raises
    :func:`nonfinite_error` before anything reaches the device; float64 arguments are always
    checked here (their conversion to float32 may overflow)."""
    if (
        not check_finite
        and type(x) is np.ndarray
        and x.dtype == _F32
        and x.ndim in ndim
        and x.size
        and x.flags.c_contiguous
    ):
        return x  # the common case: nothing to convert, finiteness checked by the caller
    if type(x) is not np.ndarray:
        if isinstance(x, np.ma.MaskedArray):
            if np.ma.getmaskarray(x).any():
                raise E.MaskedInputError(
                    f"{name} is a masked array with masked elements; the device has no mask: pass "
                    f"{name}.filled(value) or drop the masked rows"
                )
            x = np.ma.getdata(x)
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except Exception as exc:  # e.g. ragged lists
                raise E.ShapeError(f"{name} cannot be read as an array: {exc}") from None
    dt = x.dtype
    if dt != _F32 and dt != _F64:
        raise E.DTypeError(
            f"{name} has dtype {x.dtype}; the device takes float32 or float64 (convert with {name}.astype(np.float32))"
        )
    if x.ndim not in ndim:
        want = " or ".join(f"{k}-D" for k in ndim)
        raise E.ShapeError(f"{name} must be {want}, got shape {x.shape}")
    if x.size == 0:
        raise E.EmptyInputError(f"{name} is empty (shape {x.shape}); n, d and m must be at least 1")
    if dt == _F64:
        with np.errstate(over="ignore"):
            x32 = np.ascontiguousarray(x, dtype=np.float32)
        bad = _first_nonfinite(x32)
        if bad >= 0:
            if not np.isfinite(x).all():
                first = int(np.flatnonzero(~np.isfinite(x))[0])
                raise E.NonFiniteError(
                    f"{name} holds a non-finite value ({x[_at(x, first)]}) at index {_at(x, first)}; "
                    "the device computes on finite float32 data"
                )
            raise E.NonFiniteError(
                f"{name} holds {x[_at(x, bad)]!r} at index {_at(x, bad)}, beyond the float32 "
                f"range of the device (|x| <= {float(np.finfo(np.float32).max):.4g}); scale the input"
            )
        return x32
    x = np.ascontiguousarray(x, dtype=np.float32)
    if check_finite and _first_nonfinite(x) >= 0:
        raise nonfinite_error(name, x)
    return x


def check_M(M: Any) -> int:
    """M as an int in [0, M_MAX] (iterations of candidate selection, ``docs/spec.md`` 3.2)."""
    if isinstance(M, (bool, np.bool_)) or not isinstance(M, (int, np.integer, float, np.floating)):
        raise E.ArgumentTypeError(f"M must be a non-negative integer, got {M!r}")
    if isinstance(M, (float, np.floating)):
        if not math.isfinite(M) or M != int(M):
            raise E.ParameterError(f"M must be a non-negative integer, got {M!r}")
    if M < 0:
        raise E.ParameterError(f"M must be a non-negative integer (iterations of candidate selection), got {M}")
    if M > M_MAX:
        raise E.ParameterError(f"M = {M} exceeds what the unit counts (M_MAX = {M_MAX}); use a smaller M")
    return int(M)


def check_M_frac(frac: Any) -> float:
    """A preset's M_frac: a finite number >= 0 (M = ceil(M_frac * n) is checked per tile)."""
    if isinstance(frac, (bool, np.bool_)) or not isinstance(frac, (int, np.integer, float, np.floating)):
        raise E.ArgumentTypeError(f"M_frac must be a number >= 0, got {frac!r}")
    f = float(frac)
    if not (math.isfinite(f) and f >= 0):
        raise E.ParameterError(f"M_frac must be a finite number >= 0; got {frac!r}")
    return f


def tile_M(M_frac: float, rows: int) -> int:
    """M of a tile of ``rows`` keys under a preset's fraction, bounded by M_MAX."""
    M = math.ceil(M_frac * rows)
    if M > M_MAX:
        raise E.ParameterError(
            f"M_frac = {M_frac!r} gives M = {M} for {rows} keys, more than the unit counts "
            f"(M_MAX = {M_MAX}); use M_frac <= {M_MAX / rows:.6g}"
        )
    return int(M)


def check_T(T: Any) -> float:
    """T as the float32 value the descriptor carries (``docs/spec.md`` 3.3: 0 <= T <= 1)."""
    if isinstance(T, (bool, np.bool_, str, bytes)):
        raise E.ArgumentTypeError(f"T must be a number in [0, 1], got {T!r}")
    try:
        t = float(T)
    except (TypeError, ValueError):
        raise E.ArgumentTypeError(f"T must be a number in [0, 1], got {T!r}") from None
    if not (0.0 <= t <= 1.0):  # also rejects NaN
        raise E.ParameterError(f"T must be in [0, 1] (the post-scoring threshold on exp(s - s_max)), got {T!r}")
    # The descriptor carries T as float32: use that value everywhere (records, references).
    return float(np.float32(t))


def check_mode(mode: str, M: Any, T: Any, preset: Any) -> ModeParams:
    """Check mode, M, T and preset together; explicit M / T override the preset's."""
    mode_id = _MODE_BY_NAME.get(mode) if isinstance(mode, str) else None
    if mode_id is None:
        raise E.ParameterError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if preset is None:
        preset_vals = None
    elif isinstance(preset, Mapping):
        custom = dict(preset)
        if set(custom) - {"M_frac", "T"} or "M_frac" not in custom:
            raise E.ParameterError(f"a custom preset is a dict with M_frac (and T); got {preset!r}")
        frac = check_M_frac(custom["M_frac"])
        preset_vals = {"M_frac": frac, "T": check_T(custom.get("T", 0.0))}
    elif not isinstance(preset, str):
        raise E.ArgumentTypeError(
            f"preset must be a name ({', '.join(PRESETS)}) or a dict with M_frac and T; got {preset!r}"
        )
    elif preset not in PRESETS:
        raise E.ParameterError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    else:
        preset_vals = None
    M_val = check_M(M) if M is not None else None
    T_val = check_T(T) if T is not None else None
    if mode_id == Mode.EXACT:
        if preset is not None or M is not None or T is not None:
            raise E.ParameterError("M, T and preset apply to the approx and post_only modes, not to exact")
        return ModeParams(mode_id, 0, 0.0, None)
    p = preset_vals or PRESETS[preset or DEFAULT_PRESET]
    M_frac = p["M_frac"] if M_val is None else None
    if T_val is None:
        T_val = p["T"]
    return ModeParams(mode_id, M_val or 0, T_val, M_frac)


def check_kv(K: np.ndarray, V: np.ndarray, d_max: int) -> None:
    """K and V agree in shape and fit the datapath width."""
    if K.shape != V.shape:
        raise E.ShapeError(f"K and V must have the same shape (n, d); got K {K.shape} and V {V.shape}")
    if K.shape[1] > d_max:
        raise E.ShapeError(
            f"d = {K.shape[1]} exceeds the datapath width d_max = {d_max}; "
            "project K/V/q to at most d_max columns, or build the platform with a larger d_max"
        )


_F32 = np.dtype(np.float32)


class CallArgs(NamedTuple):
    """A call's checked arrays: Q (B, m, d), a K/V context or K, V (B, n, d), what the result
    looks like (batch, single query, dtype) and the arguments as the user passed them, by name
    (what a staging error names)."""

    Q: np.ndarray
    ctx: Any
    K: np.ndarray | None
    V: np.ndarray | None
    post: tuple[bool, bool, np.dtype]
    named: tuple[tuple[str, np.ndarray | None], ...]


def single_args(q: Any, K: Any, V: Any, d_max: int, context_type: type) -> CallArgs:
    """Check the arrays of ``attention(q, K, V)`` (``K`` may be a ``context_type`` with V None).
    Finiteness of float32 arrays is left to the staging of the data (``Stager``)."""
    out_dtype = q.dtype if isinstance(q, np.ndarray) else _F32
    q = as_f32("q", q, (1, 2), False)
    single = q.ndim == 1
    Q = q.reshape(1, -1) if single else q
    if isinstance(K, context_type):
        if V is not None:
            raise E.ShapeError("pass V only with a K array, not with a KVContext")
        if K.closed:
            raise E.A3InputError("the KVContext is closed")
        ctx, K3, V3, Ka, Va, kd = K, None, None, None, None, K.d
    else:
        if V is None:
            raise E.ShapeError("V is missing: pass K and V arrays, or a KVContext from load()")
        ctx = None
        Ka = as_f32("K", K, (2,), False)
        Va = as_f32("V", V, (2,), False)
        check_kv(Ka, Va, d_max)
        kd = Ka.shape[1]
        K3, V3 = Ka[None], Va[None]
    if Q.shape[1] != kd:
        raise E.ShapeError(f"q has d = {Q.shape[1]} but K/V have d = {kd}")
    return CallArgs(Q[None], ctx, K3, V3, (False, single, out_dtype), (("q", q), ("K", Ka), ("V", Va)))


def batch_args(Q: Any, K: Any, V: Any, d_max: int) -> CallArgs:
    """Check the arrays of ``attention_batch(Q, K, V)``: Q (B, m, d), K and V (B, n, d)."""
    dtype = Q.dtype if isinstance(Q, np.ndarray) else np.asarray(Q).dtype
    Qa = as_f32("Q", Q, (3,), False)
    Ka = as_f32("K", K, (3,), False)
    Va = as_f32("V", V, (3,), False)
    if Ka.shape != Va.shape:
        raise E.ShapeError(f"K and V must have the same shape (B, n, d); got K {Ka.shape} and V {Va.shape}")
    if Qa.shape[0] != Ka.shape[0] or Qa.shape[2] != Ka.shape[2]:
        raise E.ShapeError(f"Q {Qa.shape} and K {Ka.shape} must agree in B and d")
    check_kv(Ka[0], Va[0], d_max)
    return CallArgs(Qa, None, Ka, Va, (True, False, dtype), (("Q", Qa), ("K", Ka), ("V", Va)))
