"""Simulated time follows the documented model (docs/timing-model.md, A3-SPEC 3.6)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import rand


def spec_exact_stage_cycles(n: int, d: int) -> tuple[int, int]:
    """A3-SPEC 3.6, exact mode, default latencies."""
    L_dp = math.ceil(math.log2(d)) + 2 if d > 1 else 2
    return n + L_dp, n + 3 + 2 + 8


def pipeline_makespan(stage_cycles: list[tuple[int, ...]]) -> int:
    """A3-SPEC 3.6: stage k of query i starts when stage k of query i-1 and stage k-1 of query i end."""
    S = len(stage_cycles[0])
    end_prev = [0] * S
    for cyc in stage_cycles:
        left = 0
        for k in range(S):
            left = max(end_prev[k], left) + cyc[k]
            end_prev[k] = left
    return end_prev[-1]


@pytest.mark.parametrize("n,d", [(1, 1), (7, 3), (64, 32), (320, 64), (200, 17)])
def test_native_formulas_match_spec(drv, n, d):
    api = drv.device.api
    dot, exp = spec_exact_stage_cycles(n, d)
    assert api.timing_formula(0, n, d) == dot
    assert api.timing_formula(1, n, 0) == exp
    M, c, s = 3 * n, max(1, n // 3), max(1, n // 7)
    assert api.timing_formula(2, M, n) == 2 + M + math.ceil(n / 32)
    assert api.timing_formula(3, c, d) == c + (dot - n)
    assert api.timing_formula(4, c, s) == math.ceil(c / 8) + s + 13


@pytest.mark.parametrize("m,n,d", [(1, 10, 8), (5, 320, 64), (256, 100, 64), (1000, 320, 64), (33, 70, 5)])
def test_compute_cycles_follow_pipeline_formula(drv, m, n, d):
    rng = np.random.default_rng(m + n + d)
    out, rec = drv.attention(rand(rng, m, d), rand(rng, n, d), rand(rng, n, d))
    dot, exp = spec_exact_stage_cycles(n, d)
    expected = 0
    for c0 in range(0, m, drv.q_rows):  # one job per q_rows queries
        mc = min(drv.q_rows, m - c0)
        expected += pipeline_makespan([(dot, exp)] * mc)
        assert pipeline_makespan([(dot, exp)] * mc) == dot + exp + (mc - 1) * max(dot, exp)
    assert rec.compute_cycles == expected
    assert rec.stage_cycles["dot_product"] == m * dot
    assert rec.stage_cycles["exp_output"] == m * exp
    # 1 GHz default clock: one cycle per ns.
    assert rec.compute_ns == pytest.approx(expected * 1.0)
    # Phases of the compute stages, summed over jobs, end to end.
    j = drv.trace.jobs()
    mine = j[j.job.isin(rec.jobs)]
    exp_phase = mine[mine.phase == "exp_output"]
    dot_phase = mine[mine.phase == "dot_product"]
    assert (exp_phase.t_end_ns.values - dot_phase.t_start_ns.values).sum() == pytest.approx(expected)


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
