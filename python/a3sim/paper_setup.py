"""The paper's figures and the configurations of ``a3sim paper`` (Fig. 11a-15a of Ham et al., HPCA
2020, as listed in docs/spec.md 3.5 and 3.7), and the attention backend that sends every call of the
study to the simulated A3 and sums what the records say."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------- paper values
#: Accuracy of the paper's workloads (Fig. 11a, 12a, 13a), as fractions.
PAPER_ACC: dict[str, dict[str, float]] = {
    "memn2n": {
        "exact": 0.826,
        "M=n": 0.827,
        "M=3/4n": 0.825,
        "M=1/2n": 0.815,
        "M=1/4n": 0.780,
        "M=1/8n": 0.730,
        "T=1%": 0.826,
        "T=2.5%": 0.826,
        "T=5%": 0.826,
        "T=10%": 0.825,
        "T=20%": 0.826,
        "conservative": 0.816,
        "aggressive": 0.730,
    },
    "kvmemn2n": {
        "exact": 0.620,
        "M=n": 0.621,
        "M=3/4n": 0.620,
        "M=1/2n": 0.601,
        "M=1/4n": 0.567,
        "M=1/8n": 0.545,
        "T=1%": 0.621,
        "T=2.5%": 0.622,
        "T=5%": 0.624,
        "T=10%": 0.626,
        "T=20%": 0.629,
        "conservative": 0.604,
        "aggressive": 0.545,
    },
    "bert": {
        "exact": 0.888,
        "M=n": 0.890,
        "M=3/4n": 0.884,
        "M=1/2n": 0.889,
        "M=1/4n": 0.879,
        "M=1/8n": 0.824,
        "T=1%": 0.889,
        "T=2.5%": 0.887,
        "T=5%": 0.885,
        "T=10%": 0.867,
        "T=20%": 0.841,
        "conservative": 0.875,
        "aggressive": 0.805,
    },
}
#: Throughput gain over base A3 (Fig. 14a), conservative / aggressive.
PAPER_THROUGHPUT = {"memn2n": (1.39, 2.62), "kvmemn2n": (2.01, 7.03), "bert": (1.85, 5.69)}
#: Energy efficiency over base A3 (Fig. 15a), conservative / aggressive.
PAPER_ENERGY = {"memn2n": (1.4, 2.99), "kvmemn2n": (2.89, 9.86), "bert": (3.74, 11.65)}
#: The paper's workload sizes (Sec. VI-A): mean n and d.
PAPER_SIZE = {"memn2n": "n mean 20, max 50", "kvmemn2n": "n mean 186", "bert": "n = 320"}
PAPER_METRIC = {"memn2n": "accuracy", "kvmemn2n": "accuracy", "bert": "F1 (QA)"}


@dataclass(frozen=True)
class Config:
    """One device setting of the study."""

    key: str
    mode: str
    preset: dict | None = None  # passed to the driver as a custom preset (M_frac, T)

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"mode": self.mode}
        if self.preset is not None:
            kw["preset"] = dict(self.preset)
        return kw


M_SWEEP = (("M=n", 1.0), ("M=3/4n", 0.75), ("M=1/2n", 0.5), ("M=1/4n", 0.25), ("M=1/8n", 0.125))
T_SWEEP = (("T=1%", 0.01), ("T=2.5%", 0.025), ("T=5%", 0.05), ("T=10%", 0.10), ("T=20%", 0.20))
#: The paper's presets (Sec. VI-B), given as explicit custom presets.
CONSERVATIVE = {"M_frac": 0.5, "T": 0.05}
AGGRESSIVE = {"M_frac": 0.125, "T": 0.10}

CONFIGS: tuple[Config, ...] = (
    (Config("exact", "exact"),)
    + tuple(Config(k, "approx", {"M_frac": f, "T": 0.0}) for k, f in M_SWEEP)
    + tuple(Config(k, "post_only", {"M_frac": 1.0, "T": t}) for k, t in T_SWEEP)
    + (Config("conservative", "approx", CONSERVATIVE), Config("aggressive", "approx", AGGRESSIVE))
)
PRESET_KEYS = ("exact", "conservative", "aggressive")


# ------------------------------------------------------------------------------- device backend
def energy_detail(rec: Any) -> dict[str, float]:
    """The energy figures of a call (pJ) and the counts that explain them (docs/energy-model.md):
    compute figure by component (``compute:<component>``), whole-job figure by component
    (``job:<component>``), the static part of the whole-job unit figure, job cycles by opcode,
    compute cycles, SRAM fill and read bytes, K/V loads."""
    from .energy import TABLE_I

    j = rec._jobs
    op = j["opcode"]
    co = rec._require_costs()
    out: dict[str, float] = {f"compute:{k}": v for k, v in rec.compute_energy_pj.items()}
    out.update({f"job:{k}": v for k, v in rec.energy_pj.items()})
    cyc = j["job_cycles"].astype(np.float64)
    out["job:static"] = float(sum(co.static_mw[c] for c in TABLE_I) * cyc.sum() * co.cycle_ns)
    for code, name in ((1, "load_kv"), (2, "attend"), (3, "load_sorted")):
        out[f"cycles:{name}"] = float(cyc[op == code].sum())
        out[f"jobs:{name}"] = float((op == code).sum())
    out["cycles:compute"] = float(j["compute_cycles"].sum())
    out["bytes:kv_fill"] = float((j["sram_key"] + j["sram_value"])[op == 1].sum())
    out["bytes:sorted_fill"] = float(j["sram_sorted"][op == 3].sum())
    out["bytes:sorted_read"] = float(j["sram_sorted"][op == 2].sum())
    out["bytes:dma"] = float((j["bytes_rd"] + j["bytes_wr"]).sum())
    return out


@dataclass
class LayerCounts:
    heads: int = 0
    queries: int = 0
    keys: int = 0
    candidates: int = 0
    selected: int = 0


class DeviceAttention:
    """Attention backend that sends every call to the simulated A3 (``A3Driver.attention_batch``)
    and sums what the records say: compute cycles, first-query latency, |C| and |SEL| per layer.

    ``sort_keys``: count the sorting of each head's keys in the approximate mode, amortised over
    the head's queries (self-attention: K is new for every input, so it cannot be sorted ahead).
    The sort is modelled as the device sorter of docs/timing-model.md 6.4 with one lane per column
    (``n * ceil(log2 n)`` cycles per head), which stands in for the paper's GPU sort.
    """

    def __init__(self, driver: Any, config: Config, *, sort_keys: bool = False) -> None:
        self.driver = driver
        self.config = config
        self.sort_keys = sort_keys
        self.cycles = 0
        self.sort_cycles = 0
        self.latency_ns_sum = 0.0
        self.latency_weight = 0
        self.queries = 0
        self.layers: dict[int, LayerCounts] = {}
        # Energy (pJ, docs/energy-model.md): ``energy`` is the compute figure of the paper's scope
        # (CallRecord.compute_energy_pj); ``detail`` the whole-job figures and the counts behind them.
        self.energy = 0.0
        self.detail: dict[str, float] = {}
        self._kw = config.kwargs()

    def __call__(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, layer: int = 0) -> np.ndarray:
        out, rec = self.driver.attention_batch(Q, K, V, sets=False, **self._kw)
        B, m, _ = Q.shape
        n = K.shape[1]
        self.cycles += rec.compute_cycles
        if self.sort_keys and self.config.mode == "approx":
            self.sort_cycles += B * n * max(1, math.ceil(math.log2(n)))
        self.latency_ns_sum += rec.query_latency_ns * B
        self.latency_weight += B
        self.queries += B * m
        lc = self.layers.setdefault(layer, LayerCounts())
        lc.heads += B
        lc.queries += B * m
        lc.keys += B * m * n
        lc.candidates += int(rec.n_candidates.sum())
        lc.selected += int(rec.n_selected.sum())
        self.energy += rec.compute_energy_total_pj
        for k, v in energy_detail(rec).items():
            self.detail[k] = self.detail.get(k, 0.0) + v
        return out.astype(Q.dtype, copy=False)

    @property
    def total_cycles(self) -> int:
        return self.cycles + self.sort_cycles

    @property
    def query_latency_ns(self) -> float:
        return self.latency_ns_sum / self.latency_weight if self.latency_weight else float("nan")
