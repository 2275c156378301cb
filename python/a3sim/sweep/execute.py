"""Executors: where the points of a sweep run. Every point runs in a fresh child process
(``python -m a3sim.sweep.point``) started by :func:`run_point`, wherever that function runs:

* :class:`DaskExecutor`: Dask distributed. By default a ``LocalCluster`` started for the run
  (one single-threaded worker process per core); with ``scheduler="tcp://host:port"`` an existing
  cluster (``dask scheduler`` + ``dask worker`` on any number of machines with a3sim installed).
* :class:`ProcessExecutor`: no Dask: up to ``workers`` point processes at a time on this machine.

Both yield one row (a dict) per point as points finish, in completion order. :func:`run_point`
never raises: a point that fails, crashes or times out comes back as a row with its ``status`` and
``error``; a Dask task whose worker was lost comes back as ``status="lost"``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Iterator, Mapping, Sequence

from .point import RESULT_TAG

#: Statuses of a row. Only ``ok`` rows count as done for ``--resume``.
STATUSES = ("ok", "failed", "crashed", "timeout", "lost")
_STDERR_TAIL = 2000


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_point(
    payload: Mapping[str, Any], timeout_s: float, python: str | None = None, registry: _Running | None = None
) -> dict[str, Any]:
    """Run one point in a fresh process and return its row (never raises).

    The row holds the point's metrics (``status="ok"``), or its error: ``failed`` (an exception in
    the point, e.g. a configuration the model rejects), ``crashed`` (the process died without a
    result: a signal, a SystemC abort), ``timeout`` (killed after ``timeout_s`` seconds). ``wall_s``
    is the point's wall time including the process start. ``registry`` (the local pool's) tracks the
    process so that an interrupted sweep can kill it.
    """
    pid = str(payload.get("point_id"))
    cmd = [python or sys.executable, "-m", "a3sim.sweep.point", "--point", pid, "--parent", str(os.getpid())]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    t0 = time.perf_counter()
    row: dict[str, Any] = {"point_id": pid, "host": socket.gethostname()}
    try:
        # A session of its own: a terminal's Ctrl-C reaches the sweep, which stops its points itself
        # (they also die with the thread that started them: see point._die_with_parent).
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return {**row, "status": "crashed", "error": f"cannot start the point process: {exc}", "wall_s": 0.0}
    if registry is not None and not registry.add(proc):  # the pool is shutting the sweep down
        proc.kill()
        proc.communicate()
        return {**row, "status": "lost", "error": "the sweep was interrupted", "wall_s": 0.0}
    try:
        try:
            out, err = proc.communicate(json.dumps(payload), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return {
                **row,
                "status": "timeout",
                "error": f"no result after {timeout_s:g} s: the point was killed",
                "wall_s": time.perf_counter() - t0,
            }
    finally:
        if registry is not None:
            registry.discard(proc)
    wall = time.perf_counter() - t0
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
            return {**row, **result, "wall_s": wall}
    rc = proc.returncode
    how = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
    tail = err.strip()[-_STDERR_TAIL:]
    return {
        **row,
        "status": "crashed",
        "error": f"the point process ended without a result ({how})" + (f"; stderr: {tail}" if tail else ""),
        "wall_s": wall,
    }


class _Running:
    """Point processes started by this process (killed if the sweep is interrupted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.closed = False

    def add(self, p: subprocess.Popen) -> bool:
        with self._lock:
            if self.closed:
                return False
            self._procs.add(p)
            return True

    def discard(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(p)

    def kill_all(self) -> None:
        """Kill the running points; no new one starts in this process afterwards."""
        with self._lock:
            self.closed = True
            procs = list(self._procs)
        for p in procs:
            try:
                p.kill()
            except OSError:
                pass


class ProcessExecutor:
    """Points on this machine without Dask: at most ``workers`` point processes at a time."""

    kind = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._running = _Running()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="a3sim-point")

    def describe(self) -> str:
        return f"local process pool, {self.workers} at a time"

    @property
    def dashboard(self) -> str | None:
        return None

    def run(self, payloads: Sequence[Mapping[str, Any]], timeout_s: float) -> Iterator[dict[str, Any]]:
        pending: set[Future] = set()
        todo = iter(payloads)
        # Submit a window of points, not all of them, so that an interrupt leaves nothing queued.
        for p in todo:
            pending.add(self._pool.submit(run_point, p, timeout_s, None, self._running))
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                nxt = next(todo, None)
                if nxt is not None:
                    pending.add(self._pool.submit(run_point, nxt, timeout_s, None, self._running))
                yield f.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._running.kill_all()


#: Dask settings of the LocalCluster a sweep starts (the nannies pass them on to their workers).
#: An idle LocalCluster of 2 workers takes about 0.1 cores with Dask's defaults and 0.02 with these
#: (benchmarks/dask_idle_cpu.py; docs/sweeps.md section 7): CPU that the points would otherwise lose.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    # One point per worker thread at a time: a worker holds no queued point that an idle worker
    # could have run (the default saturation 1.1 lets each take a second one).
    "distributed.scheduler.worker-saturation": 1.0,
    # The statistical profiler samples every thread's stack each 10 ms (0.03 cores per worker): the
    # workers only wait on point processes, so there is nothing to profile.
    "distributed.worker.profile.enabled": False,
    # The event-loop health tick (20 ms by default) only feeds "event loop blocked" warnings.
    "distributed.admin.tick.interval": "1s",
}


class DaskExecutor:
    """Points as Dask tasks: on a ``LocalCluster`` started here, or on the cluster at ``scheduler``."""

    kind = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, dashboard: bool = True) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            from ..errors import PlatformError

            raise PlatformError(f"Dask distributed is not installed ({exc}); use --executor processes") from None
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
            self.workers = len(self.client.scheduler_info().get("workers", {}))
            self._what = f"Dask cluster at {scheduler}"
        else:
            self.workers = workers or default_workers()
            have_bokeh = _has_bokeh()
            import dask

            with dask.config.set(LOCAL_CLUSTER_CONFIG), warnings.catch_warnings():
                # the scheduler's HTTP port falls back to a free one when 8787 is taken: not news
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":8787" if dashboard and have_bokeh else None,
                    silence_logs=logging.CRITICAL,
                    memory_limit=0,  # a worker holds rows only; its points' memory is their own processes'
                )
            self.client = Client(self.cluster)
            self._what = f"Dask LocalCluster, {self.workers} workers"

    def describe(self) -> str:
        return self._what

    @property
    def dashboard(self) -> str | None:
        """The dashboard's address, when the scheduler serves one (needs bokeh there)."""
        services = self.client.scheduler_info().get("services", {})
        if "dashboard" not in services:
            return None
        if self.cluster is not None and not _has_bokeh():
            return None
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001
            return None

    def run(self, payloads: Sequence[Mapping[str, Any]], timeout_s: float) -> Iterator[dict[str, Any]]:
        from distributed import as_completed

        tag = uuid.uuid4().hex[:8]
        payloads = [dict(p) for p in payloads]
        # One submission of all points: the scheduler queues them and hands one to each free
        # worker thread, so no worker holds points that an idle one could run.
        keys = [("a3sim-point", tag, p["point_id"]) for p in payloads]
        futures = self.client.map(run_point, payloads, [timeout_s] * len(payloads), key=keys, pure=False)
        payload_of = {f.key: p for f, p in zip(futures, payloads)}
        self._futures = futures
        for f in as_completed(futures):
            try:
                row = f.result()
            except Exception as exc:  # noqa: BLE001 - the worker died, or the task was lost
                row = {
                    "point_id": payload_of[f.key]["point_id"],
                    "status": "lost",
                    "error": f"the Dask task was lost: {type(exc).__name__}: {exc}",
                    "wall_s": float("nan"),
                }
            yield row

    def close(self) -> None:
        for f in getattr(self, "_futures", []):
            if not f.done():
                try:
                    f.cancel()
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
        try:
            self.client.close(timeout=10)
        finally:
            if self.cluster is not None:
                self.cluster.close(timeout=10)


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def make_executor(
    kind: str = "dask", *, scheduler: str | None = None, workers: int | None = None, dashboard: bool = True
) -> ProcessExecutor | DaskExecutor:
    """An executor by name: ``dask`` (LocalCluster, or the cluster at ``scheduler``) or ``processes``."""
    if scheduler and kind != "dask":
        raise ValueError("--scheduler needs the dask executor")
    if kind == "dask":
        return DaskExecutor(scheduler=scheduler, workers=workers, dashboard=dashboard)
    if kind == "processes":
        return ProcessExecutor(workers=workers)
    raise ValueError(f"unknown executor {kind!r}; choose dask or processes")
