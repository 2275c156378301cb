"""Every trace table is bounded by ``trace_max_rows`` (docs/trace-schema.md section 6), the DRAM
burst table too: a long run keeps at most twice the bound of each (found by a 24-minute study
whose DRAM burst table grew to 2^28 rows and ran the host out of memory)."""

from __future__ import annotations

import json

from conftest import in_fresh_process


def test_dram_bursts_and_transactions_stay_within_the_bound():
    out = in_fresh_process(
        """
        import json
        import numpy as np
        from a3sim import A3Driver
        drv = A3Driver(config={"trace_max_rows": 1024})
        rng = np.random.default_rng(0)
        K = rng.standard_normal((320, 64)).astype(np.float32)
        Q = rng.standard_normal((64, 64)).astype(np.float32)
        api = drv.device.native
        peak = {"dram": 0, "txn": 0}
        for _ in range(40):  # each call moves K, V, Q and outputs: hundreds of bursts
            drv.attention(Q, K, K)
            peak["dram"] = max(peak["dram"], int(api.dram_count()))
            peak["txn"] = max(peak["txn"], int(api.txn_count()))
        print(json.dumps({**peak, "dropped": int(api.trace_dropped())}))
        """
    )
    r = json.loads(out.strip().splitlines()[-1])
    assert 0 < r["dram"] <= 2 * 1024 and 0 < r["txn"] <= 2 * 1024
    assert r["dropped"] > 0  # the bound acted
