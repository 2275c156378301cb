"""a3sim benchmarks: speed figures, each measured side by side with its reference in one run.

    make bench                      # or: .venv/bin/python benchmarks/run.py [--reps N] [--json PATH]

Every figure is the median of several repetitions; the simulator and its reference are timed
alternately in the same loop, so that machine noise hits both alike. numpy runs as a user runs it
(its default threads); the single-thread pair (numpy limited to one BLAS thread, the model with
sim_threads = 1) is measured in a child process and reported beside it, labelled. Results are
printed as a table and written as JSON (benchmarks/results.json by default), with the BLAS library,
version and selected kernel of both sides. docs/performance.md explains the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ALL = ["exact", "approx", "tiny", "minilm", "startup", "scaling", "trace", "ops"]


def numpy_exact(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Exact attention in numpy, float32, as a user would write it."""
    S = Q @ K.T
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S @ V


def side_by_side(a: Callable[[], object], b: Callable[[], object], reps: int, inner: int = 1) -> tuple[float, float]:
    """Median seconds of a() and of b(), timed alternately (each sample averages `inner` calls).

    Also keeps the median process CPU time of each side (all threads) in CPU_OF_LAST: on a loaded
    machine the wall time of a call includes waiting for a core, the CPU time does not."""
    a(), b()  # warm up
    ta, tb, ca, cb = [], [], [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(inner):
            a()
        c1, t1 = time.process_time(), time.perf_counter()
        for _ in range(inner):
            b()
        c2, t2 = time.process_time(), time.perf_counter()
        ta.append((t1 - t0) / inner)
        tb.append((t2 - t1) / inner)
        ca.append((c1 - c0) / inner)
        cb.append((c2 - c1) / inner)
    CPU_OF_LAST[:] = [statistics.median(ca), statistics.median(cb)]
    return statistics.median(ta), statistics.median(tb)


CPU_OF_LAST: list[float] = [0.0, 0.0]


def with_cpu(row: dict) -> dict:
    """Add the CPU-time medians of the last side_by_side to a result row."""
    row["sim_cpu_s"], row["ref_cpu_s"] = CPU_OF_LAST
    row["cpu_ratio"] = CPU_OF_LAST[0] / CPU_OF_LAST[1] if CPU_OF_LAST[1] > 0 else float("nan")
    return row


def median_time(f: Callable[[], object], reps: int, inner: int = 1) -> float:
    """Median seconds of one call of f (each sample averages `inner` calls), after a warm-up."""
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        ts.append((time.perf_counter() - t0) / inner)
    return statistics.median(ts)


def median_thread_cpu(f: Callable[[], object], reps: int, inner: int = 1) -> float:
    """Median CPU seconds of the calling thread for one call of f (each sample averages `inner`
    calls), after a warm-up: unlike wall time, it leaves out waiting for a core on a loaded machine
    (single-threaded work only: other threads' CPU is not counted)."""
    f()
    ts = []
    for _ in range(reps):
        t0 = time.thread_time_ns()
        for _ in range(inner):
            f()
        ts.append((time.thread_time_ns() - t0) / inner / 1e9)
    return statistics.median(ts)


def median_wall_cpu(f: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds (all threads) of one call of f."""
    f()
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def planted(n: int, d: int, m: int, seed: int = 0, alpha: float = 8.0):
    """Keys ~ N(0, I) normalised; each query is alpha * a planted key + noise (a peaked workload)."""
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((n, d)).astype(np.float32)
    K /= np.linalg.norm(K, axis=1, keepdims=True)
    V = rng.standard_normal((n, d)).astype(np.float32)
    idx = rng.integers(0, n, m)
    Q = (alpha * K[idx] + rng.standard_normal((m, d)).astype(np.float32) / np.sqrt(d)).astype(np.float32)
    return Q, K, V


def ratio_row(name: str, sim: float, ref: float, target: float, unit: str = "x numpy exact", **extra) -> dict:
    r = {"name": name, "sim_s": sim, "ref_s": ref, "ratio": sim / ref, "target": target, "unit": unit}
    r["met"] = bool(r["ratio"] <= target)
    r.update(extra)
    return r


# ---- 1, 2: exact and approx, 1024 queries, n = 320, d = 64, K/V resident ----
def bench_exact_resident(drv, reps: int) -> dict:
    Q, K, V = planted(320, 64, 1024, seed=1)
    ctx = drv.load(K, V)
    sim, ref = side_by_side(lambda: drv.attention(Q, ctx), lambda: numpy_exact(Q, K, V), reps)
    ctx.close()
    return with_cpu(ratio_row("exact", sim, ref, 1.3, label="exact, 1024 queries, n=320, d=64, K/V resident"))


def bench_approx_resident(drv, reps: int) -> dict:
    n = 320
    M, T = math.ceil(n / 2), 0.05  # the paper's conservative preset, passed explicitly
    Q, K, V = planted(n, 64, 1024, seed=2)
    ctx = drv.load(K, V)
    sim, ref = side_by_side(
        lambda: drv.attention(Q, ctx, mode="approx", M=M, T=T, sets=False), lambda: numpy_exact(Q, K, V), reps
    )
    row = with_cpu({})
    _, rec = drv.attention(Q, ctx, mode="approx", M=M, T=T, sets=False)
    ctx.close()
    return row | ratio_row(
        "approx",
        sim,
        ref,
        1.0,
        label="approx M=ceil(n/2)=160, T=0.05, same shape, planted keys",
        M=M,
        T=T,
        mean_candidates=float(rec.n_candidates.mean()),
        mean_selected=float(rec.n_selected.mean()),
    )


# ---- 3: tiny offload ----
def bench_tiny(drv, reps: int) -> dict:
    rng = np.random.default_rng(3)
    q = rng.standard_normal(32).astype(np.float32)
    K = rng.standard_normal((16, 32)).astype(np.float32)
    V = rng.standard_normal((16, 32)).astype(np.float32)
    sim, ref = side_by_side(lambda: drv.attention(q, K, V), lambda: numpy_exact(q[None], K, V), reps, inner=200)
    return with_cpu({}) | {
        "name": "tiny",
        "label": "tiny offload, n=16, d=32, one query, end to end",
        "sim_s": sim,
        "ref_s": ref,
        "ratio": sim / ref,
        "unit": "x numpy exact",
        "sim_us": sim * 1e6,
        "target_us": 25.0,
        "met": bool(sim * 1e6 <= 25.0),
    }


# ---- 4: MiniLM, one input of 128 tokens, 72 heads offloaded ----
def minilm_ids(model, tokens: int = 128) -> np.ndarray:
    """Token ids of one input of exactly `tokens` tokens ([CLS] text [SEP]), from a fixed text."""
    text = (
        "The accelerator approximates attention by choosing, for each query, the keys whose "
        "products with the query are largest, and scores only those candidates exactly. "
    ) * 8
    ids = model.tokenize([text])[0]
    return np.concatenate([ids[: tokens - 1], ids[-1:]])[None]


def bench_minilm(drv, reps: int) -> dict:
    from a3sim.nn.attention import A3Attention
    from a3sim.nn.minilm import MiniLM

    model = MiniLM()
    ids = minilm_ids(model)
    a3 = A3Attention(drv, mode="exact")
    sim, ref = side_by_side(lambda: model.forward(ids, attention=a3), lambda: model.forward(ids), max(3, reps // 2))
    heads = model.num_heads * len(model.layers)
    return with_cpu({}) | ratio_row(
        "minilm",
        sim,
        ref,
        1.0,
        unit="x numpy-only forward",
        label=f"MiniLM forward, 1 input of {ids.shape[1]} tokens, {heads} heads offloaded, exact",
    )


# ---- 5: start-up ----
def bench_startup(reps: int) -> dict:
    code_sim = "import time; t=time.perf_counter(); import a3sim; a3sim.A3Driver(); print(time.perf_counter()-t)"
    code_ref = "import time; t=time.perf_counter(); import numpy, pandas; print(time.perf_counter()-t)"

    def run(code: str) -> float:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    sims, refs = [], []
    for _ in range(reps):
        sims.append(run(code_sim))
        refs.append(run(code_ref))
    sim, ref = statistics.median(sims), statistics.median(refs)
    return {
        "name": "startup",
        "label": "import a3sim + platform ready, fresh process",
        "sim_s": sim,
        "ref_s": ref,
        "ratio": sim / ref,
        "unit": "x import numpy+pandas",
        "target_s": 0.5,
        "met": bool(sim <= 0.5),
    }


# ---- 6: scaling ----
def fit_exponent(x: list[float], y: list[float]) -> float:
    """Slope of log y against log x (least squares)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def bench_scaling(drv, reps: int, plot: Path | None) -> dict:
    """Wall time per call against n (64 queries) and against m (n = 320), K/V resident."""
    d = 64
    ns = [64, 256, 1024, 4096, 16384, 65536]
    ms = [1, 16, 256, 4096, 65536]
    t_n, t_m, c_n, c_m = [], [], [], []
    r = max(5, reps)
    for n in ns:
        Q, K, V = planted(n, d, 64, seed=4)
        ctx = drv.load(K, V)
        w, c = median_wall_cpu(lambda Q=Q, ctx=ctx: drv.attention(Q, ctx), r)
        t_n.append(w)
        c_n.append(c)
        ctx.close()
    Q, K, V = planted(320, d, max(ms), seed=5)
    ctx = drv.load(K, V)
    for m in ms:
        Qm = np.ascontiguousarray(Q[:m])
        w, c = median_wall_cpu(lambda Qm=Qm: drv.attention(Qm, ctx), r)
        t_m.append(w)
        c_m.append(c)
    ctx.close()
    # The exponent of the cost that grows with the work: fitted over the upper half of each sweep
    # (below it the fixed cost of a call dominates, which only lowers the slope). CPU time (all
    # threads of the process) is fitted too: on a loaded machine a call longer than a scheduler
    # time slice waits for the CPU, which inflates the wall time of the long calls only.
    i_n, i_m = len(ns) // 2 - 1, len(ms) // 2
    e_n, e_m = fit_exponent(ns[i_n:], t_n[i_n:]), fit_exponent(ms[i_m:], t_m[i_m:])
    e_n_cpu, e_m_cpu = fit_exponent(ns[i_n:], c_n[i_n:]), fit_exponent(ms[i_m:], c_m[i_m:])
    e_n_all, e_m_all = fit_exponent(ns, t_n), fit_exponent(ms, t_m)
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
        ax[0].loglog(ns, t_n, "o-", label=f"wall (slope {e_n:.2f} from n = {ns[i_n]})")
        ax[0].loglog(ns, c_n, "s--", label=f"CPU, all threads (slope {e_n_cpu:.2f})")
        ax[0].loglog(ns, [t_n[-1] * x / ns[-1] for x in ns], ":", color="grey", label="linear")
        ax[0].set(
            xlabel="keys n (tiled by 320 beyond the SRAM)", ylabel="time per call (s)", title="64 queries, d = 64"
        )
        ax[1].loglog(ms, t_m, "o-", label=f"wall (slope {e_m:.2f} from m = {ms[i_m]})")
        ax[1].loglog(ms, c_m, "s--", label=f"CPU, all threads (slope {e_m_cpu:.2f})")
        ax[1].loglog(ms, [t_m[-1] * x / ms[-1] for x in ms], ":", color="grey", label="linear")
        ax[1].set(xlabel="queries m", title="n = 320, d = 64")
        for a in ax:
            a.legend(fontsize=8)
            a.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
        plt.close(fig)
    return {
        "name": "scaling",
        "label": "scaling exponent of wall time, n 64..65536 and m 1..65536",
        "n": ns,
        "t_n_s": t_n,
        "cpu_n_s": c_n,
        "m": ms,
        "t_m_s": t_m,
        "cpu_m_s": c_m,
        "exponent_n": e_n,
        "exponent_m": e_m,
        "exponent_n_cpu": e_n_cpu,
        "exponent_m_cpu": e_m_cpu,
        "exponent_n_all_points": e_n_all,
        "exponent_m_all_points": e_m_all,
        "target_exponent": 1.05,
        "met": bool(e_n <= 1.05 and e_m <= 1.05),
    }


# ---- 7: traces on against off ----
def bench_trace(drv, reps: int) -> dict:
    Q, K, V = planted(320, 64, 1024, seed=1)
    ctx = drv.load(K, V)

    def run(on: bool) -> Callable[[], object]:
        def f():
            drv.trace.enabled = on
            return drv.attention(Q, ctx)

        return f

    on, off = side_by_side(run(True), run(False), reps)
    drv.trace.enabled = True
    ctx.close()
    return with_cpu({}) | {
        "name": "trace",
        "label": "exact figure with bus transactions recorded against not",
        "sim_s": on,
        "ref_s": off,
        "ratio": on / off,
        "unit": "x traces off",
        "overhead": on / off - 1,
        "target_overhead": 0.10,
        "met": bool(on / off - 1 <= 0.10),
    }


# ---- per-operation costs quoted in docs/performance.md ----
def bench_ops(drv, reps: int) -> dict:
    """Costs of the operations of one tiny offload (n = 16, d = 32, one query, K/V arrays), each
    timed alone, and the split of a whole call into the simulation (the doorbell write and the run
    until the interrupt: one native call) and the Python driver around it. CPU time of the calling
    thread (all of this work runs on it), medians: steady on a loaded machine, where wall time
    adds waits for a core; on an idle machine the two agree."""
    import zlib

    from a3sim.driver.checks import as_f32
    from a3sim.protocol import Reg

    rng = np.random.default_rng(3)
    q = rng.standard_normal(32).astype(np.float32)
    K = rng.standard_normal((16, 32)).astype(np.float32)
    V = rng.standard_normal((16, 32)).astype(np.float32)
    _, rec = drv.attention(q, K, V)
    dev, nat, rings = drv.device, drv.device.native, drv._rings
    blk = dev.alloc(4096)
    base = dev.reg_address(drv.unit, 0)
    head = rings.cq_head
    crc_bytes = dev.dram_bytes[blk.address - dev.dram_base : blk.address - dev.dram_base + 28]
    f32view = dev.view(blk.address, np.float32, 32)

    def split(call: Callable[[], object], calls: int) -> tuple[float, float, float]:
        """Medians (s, CPU time of the calling thread) of one call, of the simulation inside it
        (timed through the ring's doorbell hook) and of their difference, from the same samples."""
        inner_ns = [0]
        native_wait = rings._write_and_wait

        def timed(address: int, value: int, max_ns: float) -> int:
            t0 = time.thread_time_ns()
            r = native_wait(address, value, max_ns)
            inner_ns[0] += time.thread_time_ns() - t0
            return r

        call()
        rings._write_and_wait = timed
        try:
            whole, sim = [], []
            for _ in range(max(3, reps // 2)):
                inner_ns[0] = 0
                t0 = time.thread_time_ns()
                for _ in range(calls):
                    call()
                whole.append((time.thread_time_ns() - t0) / calls / 1e9)
                sim.append(inner_ns[0] / calls / 1e9)
        finally:
            rings._write_and_wait = native_wait
        rest = [w - s for w, s in zip(whole, sim)]
        return statistics.median(whole), statistics.median(sim), statistics.median(rest)

    out: dict[str, float] = {}
    # First the split of a whole call, on the trace as the call left it, then the single operations.
    whole, sim, rest = split(lambda: drv.attention(q, K, V), 200)
    out["tiny offload, timed with its split below"] = whole * 1e6
    out["tiny offload: simulation (doorbell to interrupt, write_and_wait)"] = sim * 1e6
    out["tiny offload: Python driver around it (whole - simulation)"] = max(rest * 1e6, 1e-3)
    drv.attention(q, K, V)
    snap0 = nat.snapshot_values()
    job0, phase0 = snap0[0] + snap0[1] - 2, snap0[2] - 6  # the rows of the last call (2 jobs)
    inner = 2000
    ops = {
        "snapshot (native counters and times, numpy record)": lambda: nat.snapshot(),
        "snapshot_values (the same as 8 Python ints)": lambda: nat.snapshot_values(),
        "MMIO register write through cppyy (CQ_HEAD, driver API)": lambda: drv.write_reg(Reg.CQ_HEAD, head),
        "MMIO register read through cppyy (STATUS, driver API)": lambda: drv.read_reg(Reg.STATUS),
        "IRQ_ACK + CQ_HEAD, one native call (mmio_write2)": lambda: nat.mmio_write2(
            base + Reg.IRQ_ACK, 0, base + Reg.CQ_HEAD, head
        ),
        "input check of K, float32 fast path (as_f32, finiteness at staging)": lambda: as_f32("K", K, (2,), False),
        "input check of K with a numpy reduction (K.sum(), the check before)": lambda: K.sum(),
        "stage K into DRAM with its finiteness check (stage_f32)": lambda: nat.stage_f32(blk.address, K, K.size),
        "copy K into DRAM through a numpy view": lambda: dev.view(blk.address, np.float32, K.size).__setitem__(
            slice(None), K.ravel()
        ),
        "completion record check (zlib.crc32 of 28 bytes)": lambda: zlib.crc32(crc_bytes),
        "trace rows of one call, job + phase in one copy (RowReader.read)": lambda: drv._rows.read(job0, phase0),
        "trace row copy, job rows of one call (trace.rows)": lambda: drv.trace.rows("job", drv.trace.count("job") - 2),
        "trace row copy, phase rows of one call (trace.rows)": lambda: drv.trace.rows(
            "phase", drv.trace.count("phase") - 4
        ),
        "result copy out of DRAM (32 floats, prepared view)": lambda: f32view.copy(),
        "whole tiny offload (drv.attention(q, K, V))": lambda: drv.attention(q, K, V),
        "tiny offload as submit + collect": lambda: drv.collect(drv.submit(q, K, V)),
    }
    for name, f in ops.items():
        whole = "tiny offload" in name
        out[name] = median_thread_cpu(f, max(3, reps // 2), inner=200 if whole else inner) * 1e6
    # MiniLM's shape: one layer's 12 heads of 128 tokens (d = 32) in one attention_batch.
    Qb, Kb, Vb = (rng.standard_normal((12, 128, 32)).astype(np.float32) for _ in range(3))
    whole, sim, rest = split(lambda: drv.attention_batch(Qb, Kb, Vb, sets=False), 3)
    out["MiniLM layer, 12 heads x 128 tokens (attention_batch)"] = whole * 1e6
    out["MiniLM layer: simulation (write_and_wait)"] = sim * 1e6
    out["MiniLM layer: Python driver around it"] = max(rest * 1e6, 1e-3)
    dev.free(blk)
    drv.trace.enabled = True
    return {"name": "ops", "label": "per-operation costs (us of thread CPU time, median)", "ops_us": out}


# ---- BLAS of both sides ----
def blas_meta() -> dict:
    from a3sim.blas import model_blas, numpy_blas

    nb = numpy_blas()
    return {"model": model_blas().as_dict(), "numpy": nb.as_dict() if nb else None}


def run_single_thread_child(reps: int) -> list[dict]:
    """Figures 1-2 with one thread on each side, in a child process (one platform per process)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", A3SIM_BENCH_SINGLE="1")
    out = subprocess.run(
        [sys.executable, __file__, "--reps", str(reps), "--child-single"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_single(reps: int) -> int:
    from threadpoolctl import threadpool_limits

    from a3sim import A3Driver

    drv = A3Driver(config="sim_threads=1;blas_threads=1")
    drv.trace.enabled = True
    with threadpool_limits(limits=1, user_api="blas"):
        res = [bench_exact_resident(drv, reps), bench_approx_resident(drv, reps)]
        meta = blas_meta()
    for r in res:
        r["name"] += "_1thread"
        r["label"] += " (single thread: numpy 1 BLAS thread, model sim_threads=1, blas_threads=1)"
        r["blas"] = meta
    print(json.dumps(res))
    return 0


def _sim_and_target(r: dict) -> tuple[str, str]:
    """A figure's simulator time and its target, as the terminal table and the Markdown show them."""
    if "target_us" in r:
        return f"{r['sim_us']:.1f} us", f"<= {r['target_us']:.0f} us"
    if "target_s" in r:
        return f"{r['sim_s']:.3f} s", f"<= {r['target_s']} s"
    if "target_overhead" in r:
        return f"{r['sim_s'] * 1e3:.2f} ms", f"<= {r['target_overhead']:.0%} overhead"
    return f"{r['sim_s'] * 1e3:.2f} ms", f"<= {r['target']}x"


def print_table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="a3sim benchmarks (median of repetitions, timed side by side)", width=120)
    for col in ("figure", "simulator", "reference", "ratio", "CPU ratio", "target", "met"):
        table.add_column(col)
    for r in results:
        if r["name"] == "ops":
            continue
        if r["name"] == "scaling":
            table.add_row(
                r["name"],
                f"n: {r['exponent_n']:.2f}, m: {r['exponent_m']:.2f}",
                "exponents (wall)",
                f"n: {r['exponent_n_cpu']:.2f}, m: {r['exponent_m_cpu']:.2f}",
                "<= 1.05",
                "yes" if r["met"] else "NO",
            )
            continue
        sim, target = _sim_and_target(r)
        ref = f"{r['ref_s'] * 1e3:.3f} ms"
        cpu = f"{r['cpu_ratio']:.2f}" if "cpu_ratio" in r else ""
        table.add_row(
            r["name"],
            sim,
            ref,
            f"{r['ratio']:.2f} {r['unit']}",
            cpu,
            target,
            ("yes" if r["met"] else "NO") if "met" in r else "",
        )
    Console().print(table)
    for r in results:
        if "label" in r and r["name"] != "ops":
            print(f"  {r['name']}: {r['label']}")
    for r in results:
        if r["name"] == "ops":
            t = Table(title=r["label"])
            t.add_column("operation")
            t.add_column("us")
            for k, v in r["ops_us"].items():
                t.add_row(k, f"{v:.2f}")
            Console().print(t)


def markdown(data: dict) -> str:
    """The figures of a results file as the Markdown table of docs/performance.md section 2."""
    names = {
        "exact": "1. exact, 1024 queries, n = 320, d = 64, K/V resident",
        "approx": "2. approx, M = 160, T = 0.05, same shape, planted keys",
        "exact_1thread": "1. exact, single thread (labelled pair)",
        "approx_1thread": "2. approx, single thread (labelled pair)",
        "tiny": "3. tiny offload, n = 16, d = 32, one query",
        "minilm": "4. MiniLM, 128 tokens, 72 heads, exact",
        "startup": "5. import a3sim + platform ready",
        "scaling": "6. scaling exponent (wall; CPU)",
        "trace": "7. traces on vs off",
    }
    lines = [
        "| Figure | Simulator | Reference | Ratio (wall) | CPU-time ratio | Target | Met (wall) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        if r["name"] not in names:
            continue
        met = "yes" if r["met"] else "**no**"
        if r["name"] == "scaling":
            sim = f"n: {r['exponent_n']:.2f}; {r['exponent_n_cpu']:.2f}"
            ref = f"m: {r['exponent_m']:.2f}; {r['exponent_m_cpu']:.2f}"
            lines.append(f"| {names['scaling']} | {sim} | {ref} | - | - | <= 1.05 | {met} |")
            continue
        sim, tgt = _sim_and_target(r)
        ref = f"{r['ref_s'] * 1e3:.3f} ms" if r["ref_s"] < 1 else f"{r['ref_s']:.3f} s"
        cpu = f"{r['cpu_ratio']:.2f}" if "cpu_ratio" in r else "-"
        lines.append(f"| {names[r['name']]} | {sim} | {ref} | {r['ratio']:.2f} {r['unit']} | {cpu} | {tgt} | {met} |")
    for r in data["results"]:
        if r["name"] == "ops":
            lines += ["", "| Operation | us |", "|---|---|"]
            lines += [f"| {k} | {v:.2f} |" for k, v in r["ops_us"].items()]
    m = data["meta"]
    b = m.get("blas", {})
    lines.append("")
    lines.append(
        f"Run {m['time']}, {m['reps']} repetitions, load average at the end {m['load_avg'][0]:.1f} / "
        f"{m['load_avg'][1]:.1f} / {m['load_avg'][2]:.1f} on {m['cpus']} CPUs. BLAS: model "
        f"{b.get('model', {}).get('library')} {b.get('model', {}).get('version')} "
        f"({b.get('model', {}).get('origin', 'linked')}) kernel {b.get('model', {}).get('corename')}; numpy {(b.get('numpy') or {}).get('library')} "
        f"{(b.get('numpy') or {}).get('version')} kernel {(b.get('numpy') or {}).get('corename')}, "
        f"{(b.get('numpy') or {}).get('threads')} threads."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9, help="repetitions per figure (median is reported)")
    ap.add_argument("--json", type=Path, default=HERE / "results.json")
    ap.add_argument(
        "--plot",
        type=Path,
        default=HERE.parent / "docs" / "performance-scaling.png",
        help="where the scaling plot goes",
    )
    ap.add_argument("--only", nargs="*", choices=ALL, help="figures to run (default: all)")
    ap.add_argument("--no-single", action="store_true", help="skip the single-thread pair")
    ap.add_argument("--markdown", type=Path, metavar="JSON", help="print a results file as Markdown and exit")
    ap.add_argument("--child-single", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.child_single:
        return child_single(args.reps)
    from a3sim import A3Driver

    drv = A3Driver()
    drv.trace.enabled = True  # as in normal use
    wanted = set(args.only or ALL)
    results: list[dict] = []
    if "exact" in wanted:
        results.append(bench_exact_resident(drv, args.reps))
    if "approx" in wanted:
        results.append(bench_approx_resident(drv, args.reps))
    if not args.no_single and wanted & {"exact", "approx"}:
        results.extend(r for r in run_single_thread_child(args.reps) if r["name"].split("_")[0] in wanted)
    if "tiny" in wanted:
        results.append(bench_tiny(drv, args.reps))
    if "minilm" in wanted:
        results.append(bench_minilm(drv, args.reps))
    if "startup" in wanted:
        results.append(bench_startup(max(3, args.reps // 2)))
    if "scaling" in wanted:
        results.append(bench_scaling(drv, args.reps, args.plot))
    if "trace" in wanted:
        results.append(bench_trace(drv, args.reps))
    if "ops" in wanted:
        results.append(bench_ops(drv, args.reps))
    print_table(results)
    meta = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpu": platform.processor(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "reps": args.reps,
        "blas": blas_meta(),
        "threads": {
            "numpy": "default (as a user runs it)",
            "sim_threads": drv.device.cfg("sim_threads"),
            "blas_threads": drv.device.cfg("blas_threads"),
        },
    }
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(
        f"BLAS: model {meta['blas']['model']['library']} {meta['blas']['model']['version']} "
        f"({meta['blas']['model'].get('origin', 'linked')}) kernel {meta['blas']['model']['corename']}; numpy "
        f"{(meta['blas']['numpy'] or {}).get('version')} kernel {(meta['blas']['numpy'] or {}).get('corename')}"
    )
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
