"""Energy and area (docs/spec.md 3.7, docs/energy-model.md): every job's energy equals its counts times
the coefficients, recomputed here from Table I as the spec prints it; approx spends less than exact
in proportion to the work it skips; key sorting is reported apart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a3sim import energy
from conftest import in_fresh_process, rand

# docs/spec.md 3.7 (paper Table I): area mm2, dynamic mW, static mW; and the job-row columns of
# the busy cycles (modules) or SRAM bytes charged at dynamic power.
TABLE_I = {
    "dot_product": (0.098, 14.338, 1.265, ["cyc_dot"]),
    "exponent": (0.016, 0.224, 0.053, ["cyc_exp"]),
    "output": (0.062, 50.918, 0.070, ["cyc_out"]),
    "candidate_selection": (0.277, 19.48, 5.08, ["cyc_cand_sel", "cyc_scan"]),
    "post_scoring": (0.010, 2.055, 0.147, ["cyc_post"]),
    "key_sram": (0.350, 2.901, 0.987, ["sram_key"]),
    "value_sram": (0.350, 2.901, 0.987, ["sram_value"]),
    "sorted_sram": (0.919, 6.100, 2.913, ["sram_sorted"]),
}
FULL_USE = 256.0  # bytes per cycle of a fully used bank: one 64 x float32 row
DRAM_PJ_PER_BYTE = 20.0 * 8  # 20 pJ/bit (Horowitz, ISSCC 2014, low end)


def expected_energy(row: np.void) -> dict[str, float]:
    """pJ at 1 GHz (1 ns per cycle): (dynamic mW x activity + static mW x job cycles) x 1 ns."""
    out = {}
    for comp, (_, dyn, stat, cols) in TABLE_I.items():
        act = sum(float(row[c]) for c in cols)
        if comp.endswith("sram"):
            act /= FULL_USE
        out[comp] = dyn * act + stat * float(row["job_cycles"])
    out["dram"] = DRAM_PJ_PER_BYTE * float(row["bytes_rd"] + row["bytes_wr"])
    out["bus"] = 0.0
    return out


def test_defaults_are_table_one(drv):
    cfg = drv.device.cfg
    co = energy.Coefficients.from_config(cfg)
    for comp, (area, dyn, stat, _) in TABLE_I.items():
        assert (co.area[comp], co.dyn_mw[comp], co.static_mw[comp]) == (area, dyn, stat)
    assert math.isclose(co.area_mm2, 2.082, rel_tol=1e-12)
    assert math.isclose(sum(co.dyn_mw.values()), 98.917, rel_tol=1e-9)  # Table I total 98.92
    assert math.isclose(sum(co.static_mw.values()), 11.502, rel_tol=1e-9)
    assert cfg("dram_pj_per_byte") == DRAM_PJ_PER_BYTE and cfg("sram_full_use_bytes") == FULL_USE


@pytest.mark.parametrize("mode,kw", [("exact", {}), ("approx", {"M": 60, "T": 0.05}), ("post_only", {"T": 0.1})])
def test_job_energy_is_counts_times_coefficients(drv, mode, kw):
    rng = np.random.default_rng(71)
    n, d, m = 200, 48, 300  # two ATTEND jobs
    _, rec = drv.attention(rand(rng, m, d), rand(rng, n, d), rand(rng, n, d), mode=mode, **kw)
    rows = rec._jobs
    assert len(rows) == (3 if mode == "exact" or mode == "post_only" else 4)  # LOAD_KV [LOAD_SORTED] 2 x ATTEND
    total = {c: 0.0 for c in energy.COMPONENTS}
    for row in rows:
        # Job cycles are the job's time from fetch to completion, in cycles of 1 ns.
        assert row["job_cycles"] == (row["t_end_ps"] - row["t_start_ps"]) // 1000
        want = expected_energy(row)
        for comp, col in energy.COMPONENTS.items():
            assert float(row[col]) == pytest.approx(want[comp], rel=1e-12, abs=1e-9), (comp, int(row["opcode"]))
            total[comp] += want[comp]
    assert rec.energy_pj == pytest.approx(total, rel=1e-12)
    assert rec.energy_total_pj == pytest.approx(sum(total.values()), rel=1e-12)
    assert rec.energy_per_query_pj == pytest.approx(sum(total.values()) / m, rel=1e-12)
    assert rec.unit_energy_pj == pytest.approx(sum(total[c] for c in TABLE_I), rel=1e-12)
    # SRAM bytes per bank add up to the job's SRAM totals.
    banks = ["sram_key", "sram_value", "sram_sorted", "sram_query", "sram_output", "sram_score"]
    for row in rows:
        assert sum(int(row[b]) for b in banks) == int(row["sram_rd"] + row["sram_wr"])
    # The Python statement of the model (used for the base-A3 estimate) agrees with the device.
    twin = energy.job_energy_pj(rows, energy.Coefficients.from_config(drv.device.cfg))
    for comp, col in energy.COMPONENTS.items():
        np.testing.assert_allclose(twin[comp], rows[col].astype(np.float64), rtol=1e-12)
    if mode == "exact":
        assert rec.base_energy_pj == pytest.approx(rec.energy_pj, rel=1e-12)
    assert rec.area_mm2 == pytest.approx(2.082)


def test_approx_spends_less_in_proportion_to_skipped_work(drv):
    """Peaked (planted-key) inputs, K/V and the sorted table resident: each module's and each
    SRAM's dynamic energy scales with the work it did, so approx over exact equals the ratio of
    busy cycles (or rows read) that the spec's formulas give for the counts; the whole call costs
    less."""
    from a3sim.tasks.synthetic import planted

    n, d, m = 320, 64, 256
    Q, K, V, _ = planted(n, d, m, alpha=8.0, seed=5)
    ctx = drv.load(K, V)
    drv.attention(Q[:1], ctx, mode="approx", M=40, T=0.1, sets=False)  # loads the sorted table
    _, ex = drv.attention(Q, ctx, sets=False)
    _, ap = drv.attention(Q, ctx, mode="approx", M=40, T=0.1, sets=False)
    ctx.close()
    assert [int(o) for o in ap._jobs["opcode"]] == [2] and [int(o) for o in ex._jobs["opcode"]] == [2]
    C, S = ap.n_candidates, ap.n_selected

    def dynamic(rec, comp: str) -> float:
        return rec.energy_pj[comp] - TABLE_I[comp][2] * float(rec._jobs["job_cycles"].sum())

    skipped = {  # approx work / exact work, from the counts (docs/spec.md 3.6, timing-model.md 7)
        "dot_product": float((C + 9).sum()) / (m * (n + 9)),
        "output": float((S + 9).sum()) / (m * (n + 9)),
        "exponent": sum(max(math.ceil(c / 16), s) + 9 for c, s in zip(C, S)) / (m * (n + 9)),
        "key_sram": float(C.sum()) / (m * n),
        "value_sram": float(S.sum()) / (m * n),
    }
    for comp, ratio in skipped.items():
        assert dynamic(ap, comp) / dynamic(ex, comp) == pytest.approx(ratio, rel=1e-9), comp
        assert ratio < 0.2
    assert ap.energy_total_pj < ex.energy_total_pj
    assert ap.unit_energy_pj < 0.5 * ex.unit_energy_pj
    # The base-A3 estimate of the approx call is the exact call's energy (same queries, same jobs)
    # up to the job's DMA time, which does not depend on the mode here.
    assert sum(ap.base_energy_pj.values()) == pytest.approx(ex.energy_total_pj, rel=1e-9)


def test_sorting_is_reported_apart_with_the_device_sorter():
    out = in_fresh_process(
        """
        import json, numpy as np
        from a3sim import A3Driver
        drv = A3Driver(config={"device_sorter": 1})
        rng = np.random.default_rng(9)
        n, d, m = 100, 16, 40
        K = rng.standard_normal((n, d)).astype(np.float32)
        V = rng.standard_normal((n, d)).astype(np.float32)
        Q = rng.standard_normal((m, d)).astype(np.float32)
        _, rec = drv.attention(Q, K, V, mode="approx", M=30, T=0.05)
        print(json.dumps({"sorting": rec.sorting, "compute": rec.compute_cycles,
                          "stages": rec.stage_cycles, "busy": int(rec._jobs["job_cycles"].sum())}))
        """
    )
    import json

    r = json.loads(out.strip().splitlines()[-1])
    sort = 16 * 100 * 7  # ceil(d / sorter_lanes) x n x ceil(log2 n), sorter_lanes = 1
    assert r["sorting"] == {
        "sorted_by": "device",
        "key_matrices": 1,
        "cycles": sort,
        "cycles_per_key_matrix": float(sort),
        "cycles_per_query": sort / 40,
    }
    assert r["stages"]["sort"] == sort
    assert r["compute"] < sort < r["busy"]  # not part of the pipeline, part of the job's time


# ---- the compute figure (the paper's scope, docs/energy-model.md 1.2) ---------------------------
BASE_A3 = ("dot_product", "exponent", "output", "key_sram", "value_sram")  # paper Sec. III
DESIGN = {"exact": BASE_A3, "approx": tuple(TABLE_I), "post_only": (*BASE_A3, "post_scoring")}


def expected_compute_energy(rows: np.ndarray, mode: str) -> float:
    """pJ at 1 GHz: ATTEND jobs only; the components of the mode's design, dynamic over their busy
    cycles (SRAM: bytes / 256 B), static over the job's compute cycles."""
    total = 0.0
    for row in rows:
        if int(row["opcode"]) != 2:  # LOAD_KV, LOAD_SORTED: fills, off the critical path
            continue
        for comp in DESIGN[mode]:
            _, dyn, stat, cols = TABLE_I[comp]
            act = sum(float(row[c]) for c in cols)
            if comp.endswith("sram"):
                act /= FULL_USE
            total += dyn * act + stat * float(row["compute_cycles"])
    return total


@pytest.mark.parametrize("mode,kw", [("exact", {}), ("approx", {"M": 50, "T": 0.05}), ("post_only", {"T": 0.1})])
def test_compute_energy_is_the_papers_scope(drv, mode, kw):
    rng = np.random.default_rng(72)
    n, d, m = 150, 64, 300  # two ATTEND jobs
    Q, K, V = rand(rng, m, d), rand(rng, n, d), rand(rng, n, d)
    _, rec = drv.attention(Q, K, V, mode=mode, sets=False, **kw)
    want = expected_compute_energy(rec._jobs, mode)
    assert rec.compute_energy_total_pj == pytest.approx(want, rel=1e-12)
    parts = rec.compute_energy_pj
    assert all(parts[c] == 0.0 for c in TABLE_I if c not in DESIGN[mode])
    # Narrower than the whole-job unit figure: no fills, no DMA time, no modules of other designs.
    assert rec.compute_energy_total_pj < rec.unit_energy_pj
    # Base A3's compute energy on the same call is that of the exact call on the same inputs.
    _, ex = drv.attention(Q, K, V, sets=False)
    assert rec.base_compute_energy_pj == pytest.approx(ex.compute_energy_total_pj, rel=1e-12)
    assert ex.base_compute_energy_pj == pytest.approx(ex.compute_energy_total_pj, rel=1e-12)
    if mode == "approx":
        # One query per K/V load (memory networks): the whole-job figures carry the fills and the
        # DMA time, the compute figure does not, so approx saves in the compute scope only.
        _, one_ex = drv.attention_batch(Q[:40, None], np.repeat(K[None], 40, 0), np.repeat(V[None], 40, 0), sets=False)
        _, one_ap = drv.attention_batch(
            Q[:40, None], np.repeat(K[None], 40, 0), np.repeat(V[None], 40, 0), mode="approx", sets=False, **kw
        )
        assert one_ap.compute_energy_total_pj < one_ex.compute_energy_total_pj
        assert one_ap.unit_energy_pj > one_ex.unit_energy_pj  # the LOAD_SORTED jobs and their time


# ---- sorted-key reads: the pointer moves actually made (docs/energy-model.md 1) ------------------
def _skewed(rng: np.random.Generator, m: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys mostly positive and queries mostly negative, some q[j] = 0: R goes below zero often, so
    the min-side skip blocks many iterations."""
    K = (np.abs(rng.standard_normal((n, d))) + 0.3 * rng.standard_normal((n, d))).astype(np.float32)
    Q = (rng.standard_normal((m, d)) - 0.7).astype(np.float32)
    Q[rng.random((m, d)) < 0.1] = 0.0
    return Q, K


@pytest.mark.parametrize("min_skip", [True, False])
def test_sorted_reads_are_the_pointer_moves_of_the_reference(drv, min_skip):
    from a3sim import reference as ref

    rng = np.random.default_rng(73)
    n, d, m, M = 60, 24, 41, 400  # m odd: queries in pairs and one alone; M up to 2 n d / 7
    Q, K = _skewed(rng, m, n, d)
    V = rand(rng, n, d)
    _, rec = drv.attention(Q, K, V, mode="approx", M=M, T=0.0, min_skip=min_skip, sets=False)
    att = rec._jobs[rec._jobs["opcode"] == 2]
    values, rows = ref.sort_keys(K)
    moves = [ref.pointer_moves(q, values, rows, M, min_skip=min_skip) for q in Q]
    entry = drv.device.cfg("sorted_entry_bytes")
    want = sum(2 * d + a + b for a, b in moves) * entry
    assert int(att["sram_sorted"].sum()) == want
    live = [int(np.count_nonzero(q)) * n for q in Q]
    assert [a for a, _ in moves] == [min(M, x) for x in live]
    if min_skip:  # the skip blocked the min side in some iterations of most queries
        assert sum(b < min(M, x) for (_, b), x in zip(moves, live)) > m // 2
    else:
        assert [b for _, b in moves] == [min(M, x) for x in live]


@pytest.mark.parametrize("seed", range(6))
def test_pointer_moves_fast_form_equals_the_literal_loop(seed):
    from a3sim import reference as ref

    rng = np.random.default_rng(500 + seed)
    n, d = int(rng.integers(1, 12)), int(rng.integers(1, 7))
    Q, K = _skewed(rng, 8, n, d)
    values, rows = ref.sort_keys(K)
    for q in Q:
        for M in (1, 3, n * d // 2 + 1, 2 * n * d + 3):
            for skip in (True, False):
                fast = ref.pointer_moves(q, values, rows, M, min_skip=skip)
                assert fast == ref.pointer_moves(q, values, rows, M, min_skip=skip, literal=True), (M, skip)


# ---- DRAM activates with the banked policy (docs/energy-model.md 2) -----------------------------
def test_banked_dram_activates_are_charged_once():
    out = in_fresh_process(
        """
        import json, numpy as np
        from a3sim import A3Driver
        from a3sim.memory import dram_stats, reset_dram_stats
        drv = A3Driver(config={"dram_timing": 1})
        reset_dram_stats(drv.device)
        rng = np.random.default_rng(11)
        n, d, m = 200, 64, 64
        K = rng.standard_normal((n, d)).astype(np.float32)
        V = rng.standard_normal((n, d)).astype(np.float32)
        Q = rng.standard_normal((m, d)).astype(np.float32)
        _, rec = drv.attention(Q, K, V, mode="approx", M=40, T=0.05, sets=False)
        j = rec._jobs
        print(json.dumps({"acts": [int(a) for a in j["dram_activates"]], "rd": [int(a) for a in j["bytes_rd"]],
                          "wr": [int(a) for a in j["bytes_wr"]], "e": [float(a) for a in j["e_dram"]],
                          "stats": dram_stats(drv.device).activates}))
        """
    )
    import json

    r = json.loads(out.strip().splitlines()[-1])
    # Every activate the DRAM made went to exactly one of the call's jobs.
    assert sum(r["acts"]) == r["stats"] > 0
    assert all(a > 0 for a in r["acts"])
    # TN-40-07's IDD method with the DDR4-3200 8 Gb x8 currents (mA), 8 devices at 1.2 V, times in ns.
    vdd, dev = 1.2, 8
    idd0, idd2n, idd3n, idd4r, idd4w = 57, 37, 52, 168, 150
    t_ras, t_rp, t_burst = 32.0, 13.75, 2.5
    act = vdd * (idd0 * (t_ras + t_rp) - idd3n * t_ras - idd2n * t_rp) * dev
    rd = vdd * (idd4r - idd3n) * t_burst * dev / 64
    wr = vdd * (idd4w - idd3n) * t_burst * dev / 64
    for a, b, w, e in zip(r["acts"], r["rd"], r["wr"], r["e"]):
        assert e == pytest.approx(a * act + b * rd + w * wr, rel=1e-9)


# ---- CAP_FEATURES (docs/register-map.md) ---------------------------------------------------------
def test_features_advertise_the_skip_and_the_datapath(drv):
    from a3sim import errors as E
    from a3sim.protocol import Feature, Reg

    f = drv.read_reg(Reg.CAP_FEATURES)
    assert f & Feature.APPROX and f & Feature.MIN_SKIP
    assert bool(f & Feature.DEVICE_SORTER) == (drv.device.cfg("device_sorter") != 0)
    assert bool(f & Feature.FIXED_POINT) == (drv.device.cfg("datapath") != 0) == drv.fixed_point
    rng = np.random.default_rng(3)
    Q, K = rand(rng, 4, 16), rand(rng, 30, 16)
    saved = drv.features
    try:  # a unit without the skip: the driver refuses a call that relies on it
        drv.features = saved & ~int(Feature.MIN_SKIP)
        with pytest.raises(E.ParameterError, match="min-side skip"):
            drv.attention(Q, K, K, mode="approx", M=10)
        drv.attention(Q, K, K, mode="approx", M=10, min_skip=False)
        drv.attention(Q, K, K)
    finally:
        drv.features = saved
    out = in_fresh_process(
        """
        from a3sim import A3Driver
        from a3sim.protocol import Feature
        drv = A3Driver(config={"datapath": 1})
        print(int(drv.features & Feature.FIXED_POINT), int(drv.fixed_point))
        """
    )
    assert out.strip().splitlines()[-1] == "8 1"
