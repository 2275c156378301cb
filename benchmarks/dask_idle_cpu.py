"""CPU an idle Dask LocalCluster takes from the machine, with Dask's defaults and with the sweep's
settings (a3sim.sweep.execute.LOCAL_CLUSTER_CONFIG): the figure docs/sweeps.md section 7 quotes.

    .venv/bin/python benchmarks/dask_idle_cpu.py [--workers 2] [--seconds 10]

Starts a LocalCluster as a sweep does (one single-threaded worker process per worker, no
dashboard), waits 2 s, then sums the CPU time (user + system, psutil) of this process and all its
children over ``--seconds`` of idleness and prints it in cores.
"""

from __future__ import annotations

import argparse
import logging
import time


def idle_cores(config: dict, workers: int, seconds: float, memory_limit: object) -> float:
    import dask
    import psutil
    from distributed import Client, LocalCluster

    with dask.config.set(config):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
            memory_limit=memory_limit,
        )
        client = Client(cluster)
        try:
            time.sleep(2.0)
            me = psutil.Process()

            def cpu() -> float:
                total = sum(me.cpu_times()[:2])
                for child in me.children(recursive=True):
                    try:
                        total += sum(child.cpu_times()[:2])
                    except psutil.Error:
                        pass
                return total

            c0, t0 = cpu(), time.perf_counter()
            time.sleep(seconds)
            return (cpu() - c0) / (time.perf_counter() - t0)
        finally:
            client.close()
            cluster.close()


def main() -> None:
    from a3sim.sweep.execute import LOCAL_CLUSTER_CONFIG

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    defaults = idle_cores({}, args.workers, args.seconds, "auto")
    tuned = idle_cores(LOCAL_CLUSTER_CONFIG, args.workers, args.seconds, 0)
    print(
        f"idle LocalCluster of {args.workers} workers: Dask defaults {defaults:.3f} cores, sweep settings {tuned:.3f} cores"
    )


if __name__ == "__main__":
    main()
