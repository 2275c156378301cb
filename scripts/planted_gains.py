"""Print the throughput gain and the energy efficiency of the approximation over base A3 on planted
keys (the tables of docs/performance.md section 6 and docs/energy-model.md section 4):

    .venv/bin/python scripts/planted_gains.py

Planted keys (a3sim.tasks.synthetic.planted, alpha = 8, seed 3), d = 64, K/V passed as arrays (so
the approx call also loads the host-sorted table: 8 B per entry over DRAM). Gain = exact compute cycles / approx compute
cycles; bound = (n + 9) / (M + 4) (docs/spec.md 3.6); energy efficiency = exact call's energy /
approx call's energy, all components, the A3 unit alone (whole job) and the compute figure of the
paper's scope (docs/energy-model.md 1.2).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

CASES = [  # (n, m, M, T)
    (320, 256, 280, 0.1),
    (320, 256, 160, 0.05),
    (320, 256, 80, 0.1),
    (320, 256, 40, 0.1),
    (320, 256, 20, 0.1),
    (186, 1024, math.ceil(186 / 2), 0.05),
    (186, 1024, math.ceil(186 / 8), 0.1),
    (320, 1024, 160, 0.05),
    (320, 1024, 40, 0.1),
]


def main() -> None:
    from a3sim import A3Driver
    from a3sim.tasks.synthetic import planted

    drv = A3Driver()
    print(
        "| n | m | M | T | gain | bound | planted key in SEL | mean abs(C) | mean abs(SEL) "
        "| energy/query exact, approx (nJ) | energy eff. | unit energy eff. | compute energy eff. |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, m, M, T in CASES:
        Q, K, V, idx = planted(n, 64, m, alpha=8.0, seed=3)
        _, ex = drv.attention(Q, K, V)
        _, ap = drv.attention(Q, K, V, mode="approx", M=M, T=T, sets=False)  # energy without the bitmaps
        _, aps = drv.attention(Q, K, V, mode="approx", M=M, T=T, sets=True)  # the selected rows
        assert aps.compute_cycles == ap.compute_cycles
        hit = np.mean([idx[i] in aps.selected[i] for i in range(m)])
        print(
            f"| {n} | {m} | {M} | {T:g} | {ex.compute_cycles / ap.compute_cycles:.2f}x | {(n + 9) / (M + 4):.2f}x "
            f"| {100 * hit:.1f} % | {ap.n_candidates.mean():.1f} | {ap.n_selected.mean():.1f} "
            f"| {ex.energy_per_query_pj / 1e3:.1f}, {ap.energy_per_query_pj / 1e3:.1f} "
            f"| {ex.energy_total_pj / ap.energy_total_pj:.2f}x | {ex.unit_energy_pj / ap.unit_energy_pj:.2f}x "
            f"| {ex.compute_energy_total_pj / ap.compute_energy_total_pj:.2f}x |"
        )


if __name__ == "__main__":
    main()
