"""The point runner: one sweep point in this process, which must be a fresh one.

    python -m a3sim.sweep.point --point ID [--parent PID] < payload.json

SystemC elaborates once per process, so every point of a sweep gets a process of its own; the
executor (:mod:`a3sim.sweep.execute`) starts this module, writes the point's payload
(:meth:`a3sim.sweep.spec.Point.payload`) on its stdin and reads one line starting with
:data:`RESULT_TAG` from its stdout: a JSON object with ``status`` (``ok`` or ``failed``), ``error``
and the metrics of :func:`measure`. A process that dies before that line (a crash, a kill) is
recorded as ``crashed`` by the executor; nothing here can stop the sweep.

``--point`` only labels the process (so that it can be found in a process list); ``--parent`` asks
the kernel to kill this process when the thread that started it goes away (Linux), so no point
outlives an interrupted sweep.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1")

import argparse
import hashlib
import json
import math
import socket
import sys
import time
import traceback
from numbers import Real
from typing import Any, Mapping

#: Prefix of the result line on stdout (anything else a point prints is ignored).
RESULT_TAG = "@@a3sim-sweep-result@@ "

#: CallRecord attributes read as energy, with their factor to picojoules. The first one a record has
#: is used; its value is a number, or a mapping of component -> energy (summed, and kept per
#: component). Records without any of them give NaN energy: the sweep never invents a value.
ENERGY_ATTRS: tuple[tuple[str, float], ...] = (
    ("energy_pj", 1.0),
    ("energy_nj", 1e3),
    ("energy_uj", 1e6),
    ("energy_j", 1e12),
)

#: Settings of the simulator itself that a sweep pins unless the spec sets them: points run side by
#: side, so each one uses one host thread for its functional kernels. Never changes a result.
SWEEP_SIM_DEFAULTS: dict[str, float] = {"sim_threads": 1}


class RecordingDriver:
    """Wraps an :class:`~a3sim.driver.A3Driver` and keeps every call record its methods return,
    so that the point can read figures the workload summary does not carry (energy). Everything
    else is the wrapped driver's."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver
        self.records: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._driver, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            for item in out if isinstance(out, tuple) else (out,):
                if hasattr(item, "latency_ns") and hasattr(item, "bytes_read"):  # a call record
                    self.records.append(item)
            return out

        return call


def record_energy(rec: Any) -> tuple[float, dict[str, float]] | None:
    """Energy of one call record in pJ (total, per component), or None if it carries none."""
    for attr, scale in ENERGY_ATTRS:
        try:
            value = getattr(rec, attr)
        except AttributeError:
            continue
        if value is None:
            return None
        if isinstance(value, Mapping):
            comps = {str(k): float(v) * scale for k, v in value.items() if isinstance(v, Real)}
            return sum(comps.values()), comps
        if isinstance(value, Real):
            return float(value) * scale, {}
        return None
    return None


def energy_of(records: list[Any]) -> tuple[float, dict[str, float]]:
    """Energy over all records (pJ); NaN unless every record carries it."""
    if not records:
        return math.nan, {}
    total, comps = 0.0, {}
    for rec in records:
        e = record_energy(rec)
        if e is None:
            return math.nan, {}
        total += e[0]
        for k, v in e[1].items():
            comps[k] = comps.get(k, 0.0) + v
    return total, comps


def config_hash(config: Mapping[str, Any]) -> str:
    """Hash of the hardware configuration in force: every entry's value, except the settings of the
    simulator itself (source ``[sim]``), which never change a result."""
    items = sorted((k, float(e.value)) for k, e in config.items() if not str(e.source).startswith("[sim]"))
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def measure(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run one point in this process and return its metrics (see docs/sweeps.md, section 4)."""
    from ..driver import A3Driver
    from ..report import run
    from .spec import library_config_table

    table = library_config_table()
    config = dict(payload.get("config") or {})
    for k, v in SWEEP_SIM_DEFAULTS.items():
        if k in table and k not in config:
            config[k] = v
    drv = A3Driver(config=config or None)
    rec_drv = RecordingDriver(drv)
    t0 = time.perf_counter()
    res = run(
        payload["workload"],
        rec_drv,
        mode=payload["mode"],
        preset=payload.get("preset"),
        M=payload.get("M"),
        T=payload.get("T"),
        **dict(payload.get("options") or {}),
    )
    wall_run = time.perf_counter() - t0
    lat = float(res.latency_ns)
    nbytes = int(res.bytes_read) + int(res.bytes_written)
    energy, comps = energy_of(rec_drv.records)
    out: dict[str, Any] = {
        "queries": int(res.queries),
        "calls": int(res.calls),
        "jobs": int(res.jobs[1] - res.jobs[0]),
        "sim_latency_us": lat / 1e3,
        "sim_compute_us": float(res.compute_ns) / 1e3,
        "base_compute_us": float(res.base_compute_ns) / 1e3,
        "gain_vs_base": _num(res.gain),
        "throughput_qps": res.queries / (lat * 1e-9) if lat > 0 else math.nan,
        "bytes_read": int(res.bytes_read),
        "bytes_written": int(res.bytes_written),
        "bytes_total": nbytes,
        "dma_GBps": nbytes / lat if lat > 0 else math.nan,
        "keys_per_query": _num(res.mean_keys),
        "candidates_per_query": _num(res.mean_candidates),
        "selected_per_query": _num(res.mean_selected),
        "metric_name": res.metric_name,
        "metric": _num(res.metric),
        "metric_exact": _num(res.metric_exact),
        "loss": _num(res.loss),
        "accuracy": _num(res.metric) if res.metric_name == "accuracy" else math.nan,
        "energy_pj": energy,
        "energy_per_query_pj": energy / res.queries if res.queries else math.nan,
        **{f"energy_pj.{k}": v for k, v in sorted(comps.items())},
        "config_hash": config_hash(drv.device.config),
        "wall_run_s": wall_run,
    }
    return out


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the thread that started it ends (no orphaned points)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        return
    if os.getppid() != parent:  # the parent went away before prctl
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m a3sim.sweep.point", description=__doc__.splitlines()[0])
    ap.add_argument("--point", help="the point's id (a label for process lists)")
    ap.add_argument("--parent", type=int, help="pid of the starting process: die with it")
    args = ap.parse_args(argv)
    if args.parent:
        _die_with_parent(args.parent)
    payload = json.loads(sys.stdin.read())
    base = {"point_id": payload.get("point_id"), "host": socket.gethostname()}
    try:
        result = {**base, "status": "ok", "error": None, **measure(payload)}
        code = 0
    except Exception as exc:  # noqa: BLE001 - every failure becomes the point's record
        from ..errors import A3Error

        detail = "" if isinstance(exc, A3Error) else "\n" + traceback.format_exc(limit=8)
        result = {**base, "status": "failed", "error": f"{type(exc).__name__}: {exc}{detail}"}
        code = 3
    sys.stdout.write("\n" + RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
