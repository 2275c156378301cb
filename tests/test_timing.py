"""Simulated time follows the documented model (docs/timing-model.md, docs/spec.md 2 and 3.6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rand


def spec_stage_cycles(mode: str, n: int, M: int, c: int, s: int) -> list[int]:
    """docs/spec.md 2 and 3.6 with the default latencies and lanes: the cycles of each stage of one
    query, in pipeline order (c = abs(C), s = abs(SEL))."""
    if mode == "exact":
        return [n + 9, n + 9, n + 9]
    if mode == "post_only":  # the last three approx rows with C = all rows
        return [n + 9, max(math.ceil(n / 16), s) + 9, s + 9]
    return [M + 4, math.ceil(n / 16), c + 9, max(math.ceil(c / 16), s) + 9, s + 9]


STAGE_NAMES = {
    "exact": ["dot_product", "exponent", "output"],
    "post_only": ["dot_product", "exponent", "output"],
    "approx": ["candidate_selection", "score_scan", "dot_product", "exponent", "output"],
}


def pipeline(stage_cycles: list[list[int]]) -> tuple[int, int, list[int], list[int]]:
    """docs/spec.md 3.6: stage k of query i starts when stage k of query i-1 and stage k-1 of query i
    have both finished. Returns (makespan, first query's latency, per-stage start of query 0,
    per-stage end of the last query)."""
    S = len(stage_cycles[0])
    end_prev = [0] * S
    first_start: list[int] = []
    first_latency = 0
    for i, cyc in enumerate(stage_cycles):
        left = 0
        for k in range(S):
            start = max(end_prev[k], left)
            if i == 0:
                first_start.append(start)
            left = start + cyc[k]
            end_prev[k] = left
        if i == 0:
            first_latency = left
    return end_prev[-1], first_latency, first_start, end_prev


def test_native_formulas_match_spec(drv):
    api = drv.device.api
    for n in (1, 7, 16, 17, 186, 320):
        assert api.timing_formula(0, n, 0) == n + 9  # dot-product
        assert api.timing_formula(1, n, 0) == n + 9  # exponent
        assert api.timing_formula(2, n, 0) == n + 9  # output (7-cycle divide + 2-cycle MAC)
        assert api.timing_formula(4, n, 0) == math.ceil(n / 16)  # greedy-score scan
        for c, s in ((n, 1), (n, n), (max(1, n // 3), max(1, n // 40))):
            assert api.timing_formula(5, c, s) == max(math.ceil(c / 16), s) + 9
    for M in (0, 1, 24, 93, 10**6):
        assert api.timing_formula(3, M, 0) == M + 4


def test_one_query_and_a_stream_in_exact_mode(drv):
    """docs/spec.md 2: latency 3n + 27 cycles for one query; one query per n + 9 in a stream."""
    rng = np.random.default_rng(30)
    n, d = 320, 64
    ctx = drv.load(rand(rng, n, d), rand(rng, n, d))
    _, one = drv.attention(rand(rng, 1, d), ctx)
    assert one.compute_cycles == 3 * n + 27 == 987
    assert one.query_latency_ns == 987.0
    _, a = drv.attention(rand(rng, 200, d), ctx)
    _, b = drv.attention(rand(rng, 201, d), ctx)
    assert b.compute_cycles - a.compute_cycles == n + 9
    _, full = drv.attention(rand(rng, drv.q_rows, d), ctx)  # one job of 256 queries
    assert full.compute_cycles == 3 * n + 27 + (drv.q_rows - 1) * (n + 9)
    ctx.close()


@st.composite
def timing_cases(draw):
    n = draw(st.integers(1, 320))
    d = draw(st.integers(1, 64))
    m = draw(st.integers(1, 300))  # up to two jobs
    mode = draw(st.sampled_from(["exact", "approx", "post_only"]))
    M = draw(st.one_of(st.integers(0, 40), st.integers(0, 3 * n), st.just(10**5)))
    T = draw(st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, d, m, mode, M, T, seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timing_cases())
def test_compute_cycles_follow_spec_formulas_and_recurrence(drv, case):
    """Random shapes, modes, M and T: the device's cycles equal docs/spec.md 3.6 recomputed here
    from the counts the device reported (abs(C), abs(SEL) per query) and the recurrence."""
    n, d, m, mode, M, T, seed = case
    rng = np.random.default_rng(seed)
    Q, K, V = rand(rng, m, d), rand(rng, n, d), rand(rng, n, d)
    kw = {"M": M, "T": T} if mode == "approx" else ({"T": T} if mode == "post_only" else {})
    _, rec = drv.attention(Q, K, V, mode=mode, **kw)
    C, S = rec.n_candidates, rec.n_selected
    total, busy, lat = 0, np.zeros(len(STAGE_NAMES[mode]), np.int64), []
    spans = []
    for c0 in range(0, m, drv.q_rows):  # one ATTEND job per q_rows queries
        stages = [spec_stage_cycles(mode, n, M, int(C[i]), int(S[i])) for i in range(c0, min(m, c0 + drv.q_rows))]
        makespan, first, first_start, last_end = pipeline(stages)
        total += makespan
        busy += np.sum(stages, axis=0)
        lat.append(first)
        spans.append([e - s for s, e in zip(first_start, last_end)])
    assert rec.compute_cycles == total
    assert rec.query_latency_ns == pytest.approx(np.mean(lat))
    got = rec.stage_cycles
    assert [got[s] for s in STAGE_NAMES[mode]] == busy.tolist()
    others = set(got) - set(STAGE_NAMES[mode]) - {"post_scoring", "sort"}
    assert all(got[s] == 0 for s in others)
    if mode != "exact":
        assert got["post_scoring"] == sum(math.ceil((int(c) if mode == "approx" else n) / 16) for c in C)
    # Each stage's trace phase spans from query 0 entering it to the last query leaving it.
    j = drv.trace.jobs()
    mine = j[j.job.isin(rec.jobs)]
    for k, name in enumerate(STAGE_NAMES[mode]):
        dur = mine[mine.phase == name].duration_ns.to_numpy()
        assert dur.tolist() == pytest.approx([s[k] * 1.0 for s in spans])


# ---- throughput gain on planted keys against the bottleneck arithmetic of docs/spec.md 3.6 ----------
PAPER_PRESETS = {"conservative": (1 / 2, 0.05), "aggressive": (1 / 8, 0.10)}  # docs/spec.md 3.4


@pytest.mark.parametrize("n", [186, 320])
def test_planted_gain_matches_bottleneck_arithmetic(drv, n):
    """Throughput gain over base A3 (sorting not counted: the host sorts ahead) with the paper's
    presets on planted keys. docs/spec.md 3.6: with candidate selection the slowest stage, the gain
    is (n + 9) / (M + 4): n = 186 gives 2.01 / 6.96, n = 320 gives 2.01 / 7.5."""
    from a3sim.tasks.synthetic import planted

    Q, K, V, _ = planted(n, 64, 1024, alpha=8.0, seed=3)
    _, ex = drv.attention(Q, K, V)
    for name, (frac, T) in PAPER_PRESETS.items():
        M = math.ceil(frac * n)
        _, ap = drv.attention(Q, K, V, mode="approx", M=M, T=T)
        assert ap.sorting["sorted_by"] == "host" and ap.sorting["cycles"] == 0
        gain = ex.compute_cycles / ap.compute_cycles
        spec = (n + 9) / (M + 4)
        # The gain the recurrence gives for the counts the device saw (pipeline fill included).
        C, S = ap.n_candidates, ap.n_selected
        stages = [spec_stage_cycles("approx", n, M, int(c), int(s)) for c, s in zip(C, S)]
        modelled = sum(pipeline([[n + 9] * 3] * 256)[0] for _ in range(4)) / sum(
            pipeline(stages[c0 : c0 + 256])[0] for c0 in range(0, 1024, 256)
        )
        assert gain == pytest.approx(modelled, rel=1e-12)
        dot_bound = float(np.mean(C)) + 9 > M + 4  # the dot-product on C outruns candidate selection
        if (n, name) == (186, "aggressive"):
            # Known deviation (reported in docs/timing-model.md): planted keys give abs(C) of about
            # 0.88 M, so at M = 24 the dot-product stage (abs(C) + 9, about 30 cycles) is slower than
            # candidate selection (28) and the gain is about 6.4, not 6.96.
            assert dot_bound and gain < spec
            assert gain == pytest.approx(spec, rel=0.10)
        else:
            assert gain == pytest.approx(spec, rel=0.05), (n, name, gain, spec)


def test_latency_is_linear_in_n(drv):
    rng = np.random.default_rng(11)
    d, m = 64, 32
    ns = np.array([20, 60, 100, 140, 180, 220, 260, 300])
    lat = []
    for n in ns:
        _, rec = drv.attention(rand(rng, m, d), rand(rng, n, d), rand(rng, n, d))
        lat.append(rec.latency_ns)
    lat = np.array(lat)
    slope, icpt = np.polyfit(ns, lat, 1)
    fit = slope * ns + icpt
    assert np.max(np.abs(fit - lat) / lat) < 0.02
    # The slope is at least the compute pipeline's m cycles (1 ns each) per key row.
    assert slope >= m * 1.0


def test_latency_decomposes_into_phases(drv):
    rng = np.random.default_rng(12)
    _, rec = drv.attention(rand(rng, 4, 16), rand(rng, 50, 16), rand(rng, 50, 16))
    # Two jobs (LOAD_KV, ATTEND) one after the other: their non-overlapping phases plus the
    # pipelined compute span add up to the latency, from the doorbell to the interrupt.
    j = drv.trace.jobs()
    mine = j[j.job.isin(rec.jobs)]
    first = mine.t_start_ns.min()
    last = mine.t_end_ns.max()
    cfg = drv.device.cfg
    doorbell_path = cfg("host_mmio_ns") + cfg("bus_latency_ns") + cfg("reg_latency_ns")
    assert rec.latency_ns == pytest.approx(last - first + doorbell_path, abs=1e-3)
    assert rec.phases["irq"] == drv.device.cfg("irq_latency_ns")


def test_dram_bandwidth_bounds_large_loads(drv):
    # K/V of n=320, d=64 (160 KiB) cannot arrive faster than the DRAM channel allows.
    rng = np.random.default_rng(13)
    n, d = 320, 64
    _, rec = drv.attention(rand(rng, 1, d), rand(rng, n, d), rand(rng, n, d))
    j = drv.trace.jobs()
    load = j[(j.job == rec.jobs[0]) & (j.phase == "dma_in")]
    bw = drv.device.cfg("dram_bandwidth_gbps")  # bytes per ns
    assert load.duration_ns.sum() >= 2 * n * d * 4 / bw
    assert load.duration_ns.sum() <= 1.5 * 2 * n * d * 4 / bw + 500  # pipelined bursts come close
