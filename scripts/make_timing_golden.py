"""Write tests/data/timing_golden.json: latency, cycles, traffic and energy of a few fixed calls on the
default platform, diffed by tests/test_golden.py so that any change to the timing model or the
traffic shows up in review. Rerun after an intended change:

    .venv/bin/python scripts/make_timing_golden.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

CASES = [  # (name, m, n, d, mode, kwargs)
    ("exact-1x16x32", 1, 16, 32, "exact", {}),
    ("exact-1024x320x64", 1024, 320, 64, "exact", {}),
    ("exact-tiled-64x700x32", 64, 700, 32, "exact", {}),
    ("approx-256x320x64-M100", 256, 320, 64, "approx", {"M": 100, "T": 0.01}),
    ("post_only-128x200x16", 128, 200, 16, "post_only", {"T": 0.05}),
]


def measure() -> dict:
    from a3sim import A3Driver

    drv = A3Driver()
    out = {}
    for name, m, n, d, mode, kw in CASES:
        rng = np.random.default_rng(m * 7919 + n * 31 + d)
        Q = rng.standard_normal((m, d)).astype(np.float32) / np.sqrt(d)
        K = rng.standard_normal((n, d)).astype(np.float32)
        V = rng.standard_normal((n, d)).astype(np.float32)
        _, rec = drv.attention(Q, K, V, mode=mode, **kw)
        out[name] = {
            "latency_ns": round(rec.latency_ns, 3),
            "compute_cycles": rec.compute_cycles,
            "bytes_read": rec.bytes_read,
            "bytes_written": rec.bytes_written,
            "phases_ns": {k: round(v, 3) for k, v in rec.phases.items()},
            "candidates": int(rec.n_candidates.sum()),
            "selected": int(rec.n_selected.sum()),
            "stage_cycles": rec.stage_cycles,
            "energy_pj": {k: round(v, 3) for k, v in rec.energy_pj.items()},
        }
    return out


if __name__ == "__main__":
    path = Path(__file__).resolve().parent.parent / "tests" / "data" / "timing_golden.json"
    path.write_text(json.dumps(measure(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {path}")
    sys.exit(0)
