"""Energy figures of the report's layer statistics (a3sim.nn.attention.LayerStats) against the
call records they sum: whole jobs with DRAM and bus, the unit's whole jobs, and the compute
pipeline (the paper's Fig. 15a scope; docs/energy-model.md)."""

from __future__ import annotations

import math

import pytest

from a3sim.energy import TABLE_I
from a3sim.nn.attention import A3Attention
from a3sim.tasks.synthetic import planted


def _stacked(n: int, heads: int = 3, m: int = 64):
    import numpy as np

    parts = [planted(n, 64, m, alpha=8.0, seed=s)[:3] for s in range(heads)]
    return tuple(np.stack([p[i] for p in parts]) for i in range(3))


@pytest.mark.parametrize("mode,preset", [("exact", None), ("approx", "conservative"), ("approx", "aggressive")])
def test_layer_stats_sum_the_call_records(drv, mode, preset):
    Q, K, V = _stacked(186)
    backend = A3Attention(drv, mode=mode, preset=preset)
    backend(Q, K, V)
    t = backend.total()
    opts = {"mode": mode} | ({"preset": preset} if preset else {})
    _, rec = drv.attention_batch(Q, K, V, sets=False, **opts)  # the backend's call again: same counts
    base = rec.base_energy_pj
    assert t.energy_pj == pytest.approx(rec.energy_total_pj, rel=1e-12)
    assert t.base_energy_pj == pytest.approx(sum(base.values()), rel=1e-12)
    assert t.unit_energy_pj == pytest.approx(sum(rec.energy_pj[c] for c in TABLE_I), rel=1e-12)
    assert t.base_unit_energy_pj == pytest.approx(sum(base[c] for c in TABLE_I), rel=1e-12)
    assert t.compute_energy_pj == pytest.approx(rec.compute_energy_total_pj, rel=1e-12)
    assert t.base_compute_energy_pj == pytest.approx(rec.base_compute_energy_pj, rel=1e-12)
    if mode == "exact":
        # Base A3 on an exact call is the call itself, in every scope.
        for g in (t.energy_gain, t.unit_energy_gain, t.compute_energy_gain):
            assert g == pytest.approx(1.0, rel=1e-12)
    else:
        # Peaked inputs: the approximation skips most of the rows, so the compute pipeline spends
        # less than base A3 would, by at least part of the throughput gain (static power stays).
        assert t.compute_energy_gain > 1.5
        assert math.isfinite(t.unit_energy_gain) and math.isfinite(t.energy_gain)
