"""Energy, area and key-sorting figures of device calls (docs/energy-model.md; docs/spec.md 3.6, 3.7).

The device's energy model (``systemc/a3/energy_model.cpp``) writes each job's energy by component
into its job row (``e_*`` columns, pJ). This module sums them per call, gives the area of a unit
from the configuration, reports key sorting apart from the pipeline, and estimates what base A3
(the exact pipeline) would have spent on the same call, with the same formulas:

* module: ``(dynamic mW x busy cycles + static mW x job cycles) x cycle ns``;
* SRAM: ``(dynamic mW x bytes / sram_full_use_bytes + static mW x job cycles) x cycle ns``;
* DRAM (simple policy): ``bytes x dram_pj_per_byte``; (banked policy): ``read bytes x
  dram_rd_pj_per_byte + written bytes x dram_wr_pj_per_byte + activates x dram_activate_pj``;
  bus: ``bytes x bus_pj_per_byte``.

These are **whole-job** figures: static power over the job's whole time (DMA included), every SRAM
byte (fills too), every job (LOAD_KV, LOAD_SORTED). Beside them, :func:`compute_energy_pj` gives the
**compute** figure of the paper's scope (docs/spec.md 3.7, Fig. 15a): ATTEND jobs only, the Table I
modules and SRAMs of the design that runs the mode, static power over the compute time only.

Energy against the host CPU uses :data:`CPU_POWER_W`, an assumption (see there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: Energy components, in the order of the job row's ``e_*`` columns.
COMPONENTS: dict[str, str] = {
    "dot_product": "e_dot",
    "exponent": "e_exp",
    "output": "e_out",
    "candidate_selection": "e_cand_sel",
    "post_scoring": "e_post",
    "key_sram": "e_key_sram",
    "value_sram": "e_value_sram",
    "sorted_sram": "e_sorted_sram",
    "dram": "e_dram",
    "bus": "e_bus",
}
#: Configuration prefix of each Table I component (``<prefix>_dyn_mw``, ``_static_mw``, ``_area_mm2``).
TABLE_I: dict[str, str] = {
    "dot_product": "dot",
    "exponent": "exp",
    "output": "out",
    "candidate_selection": "cs",
    "post_scoring": "post",
    "key_sram": "key_sram",
    "value_sram": "value_sram",
    "sorted_sram": "sorted_sram",
}
#: The Table I components of base A3 (paper Sec. III): the three modules of the exact pipeline and
#: the key and value SRAMs. The approximation adds candidate selection, post-scoring and the
#: sorted-key SRAM (Sec. IV-V).
BASE_A3: tuple[str, ...] = ("dot_product", "exponent", "output", "key_sram", "value_sram")
#: The components of the design that runs each mode (descriptor mode 0 exact, 1 approx,
#: 2 post_only), for the compute figure: base A3; the whole unit; base A3 with post-scoring.
DESIGN_BY_MODE: dict[int, tuple[str, ...]] = {
    0: BASE_A3,
    1: tuple(TABLE_I),
    2: (*BASE_A3, "post_scoring"),
}
#: Job-row columns of the busy cycles (modules) or bytes (SRAMs) charged at dynamic power.
_ACTIVITY: dict[str, tuple[str, ...]] = {
    "dot_product": ("cyc_dot",),
    "exponent": ("cyc_exp",),
    "output": ("cyc_out",),
    "candidate_selection": ("cyc_cand_sel", "cyc_scan"),
    "post_scoring": ("cyc_post",),
    "key_sram": ("sram_key",),
    "value_sram": ("sram_value",),
    "sorted_sram": ("sram_sorted",),
}

#: Host CPU power (W) for the energy of numpy attention on the host. **An assumption**: 115 W is
#: the TDP of the Xeon Gold 6128 the paper compares against, taken as its power as the paper does
#: (docs/spec.md 3.7). The CPU that runs the simulator is another one, and its power is not measured.
CPU_POWER_W = 115.0

_OPCODE_ATTEND, _OPCODE_LOAD_SORTED = 2, 3


@dataclass(frozen=True)
class Coefficients:
    """The configuration entries the energy figures use (values in force on the device)."""

    cycle_ns: float
    dyn_mw: dict[str, float]
    static_mw: dict[str, float]
    area: dict[str, float]
    sram_full_use_bytes: float
    dram_pj_per_byte: float
    dram_activate_pj: float
    bus_pj_per_byte: float
    dram_banked: bool  # the banked DRAM policy: activates counted, read / write burst energy per byte
    dram_rd_pj_per_byte: float
    dram_wr_pj_per_byte: float
    elem_bytes: float
    stage_fixed: tuple[int, int, int]  # L_dot, L_exp, L_div + L_mac: base A3's three modules

    @classmethod
    def from_config(cls, cfg: Callable[[str], float]) -> Coefficients:
        """Read the coefficients through ``cfg(name)`` (e.g. ``Device.cfg``)."""
        return cls(
            cycle_ns=1000.0 / cfg("clock_mhz"),
            dyn_mw={c: cfg(f"{p}_dyn_mw") for c, p in TABLE_I.items()},
            static_mw={c: cfg(f"{p}_static_mw") for c, p in TABLE_I.items()},
            area={c: cfg(f"{p}_area_mm2") for c, p in TABLE_I.items()},
            sram_full_use_bytes=cfg("sram_full_use_bytes"),
            dram_pj_per_byte=cfg("dram_pj_per_byte"),
            dram_activate_pj=cfg("dram_activate_pj"),
            bus_pj_per_byte=cfg("bus_pj_per_byte"),
            dram_banked=cfg("dram_timing") != 0,
            dram_rd_pj_per_byte=cfg("dram_rd_pj_per_byte"),
            dram_wr_pj_per_byte=cfg("dram_wr_pj_per_byte"),
            elem_bytes=cfg("elem_bytes"),
            stage_fixed=(int(cfg("L_dot")), int(cfg("L_exp")), int(cfg("L_div") + cfg("L_mac"))),
        )

    @property
    def compute_energy_pj(self) -> dict[str, float]:
        """Energy of the compute pipeline by Table I component (pJ), the paper's scope: ATTEND jobs,
        the modules and SRAMs of the design that runs the mode, static power over the compute time
        only (:func:`compute_energy_pj`). The whole-job figures are :attr:`energy_pj` and
        :attr:`unit_energy_pj`."""
        co = self._require_costs()
        return {k: float(v.sum()) for k, v in compute_energy_pj(self._jobs, co).items()}

    @property
    def compute_energy_total_pj(self) -> float:
        """Sum of :attr:`compute_energy_pj` (pJ)."""
        return float(sum(self.compute_energy_pj.values()))

    @property
    def base_compute_energy_pj(self) -> float:
        """The compute energy (paper scope, pJ) base A3 would spend on the same call: its three
        modules and two SRAMs on :func:`base_a3_rows`. Equal to :attr:`compute_energy_total_pj`
        for an exact call."""
        co = self._require_costs()
        return float(sum(v.sum() for v in compute_energy_pj(base_a3_rows(self._jobs, co), co).values()))

    @property
    def area_mm2(self) -> float:
        """Area of one A3 unit: the sum of the Table I components."""
        return float(sum(self.area.values()))


def job_energy_pj(rows: np.ndarray, co: Coefficients) -> dict[str, np.ndarray]:
    """Energy by component (pJ, one value per job row) from the rows' counts, by the formulas of the
    module docstring: the Python statement of ``EnergyModel::account``."""
    job = rows["job_cycles"].astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for comp, cols in _ACTIVITY.items():
        activity = sum(rows[c].astype(np.float64) for c in cols)
        if comp.endswith("_sram"):
            activity = activity / co.sram_full_use_bytes
        out[comp] = (co.dyn_mw[comp] * activity + co.static_mw[comp] * job) * co.cycle_ns
    rd, wr = rows["bytes_rd"].astype(np.float64), rows["bytes_wr"].astype(np.float64)
    acts = rows["dram_activates"].astype(np.float64) * co.dram_activate_pj
    if co.dram_banked:
        out["dram"] = rd * co.dram_rd_pj_per_byte + wr * co.dram_wr_pj_per_byte + acts
    else:
        out["dram"] = (rd + wr) * co.dram_pj_per_byte + acts
    out["bus"] = (rd + wr) * co.bus_pj_per_byte
    return out


def compute_energy_pj(rows: np.ndarray, co: Coefficients) -> dict[str, np.ndarray]:
    """Energy of the compute pipeline by Table I component (pJ, one value per job row): the scope
    of the paper's energy figures (docs/energy-model.md section 1.2).

    Only ATTEND jobs count, and of them only the time the pipeline computes: for every component of
    the design that runs the job's mode (:data:`DESIGN_BY_MODE`),
    ``(dynamic mW x busy cycles (modules) or bytes / sram_full_use_bytes (SRAMs) + static mW x
    compute_cycles) x cycle ns``; the other components are 0. Left out: the SRAM fills (LOAD_KV,
    LOAD_SORTED), key sorting, the DMA time of every job (descriptor fetch, queries in, outputs
    out, completion), DRAM and bus.
    """
    att = (rows["opcode"] == _OPCODE_ATTEND).astype(np.float64)
    busy_time = rows["compute_cycles"].astype(np.float64) * att
    out: dict[str, np.ndarray] = {}
    for comp, cols in _ACTIVITY.items():
        present = np.array([comp in DESIGN_BY_MODE.get(int(mo), ()) for mo in rows["mode"]], dtype=np.float64)
        activity = sum(rows[c].astype(np.float64) for c in cols)
        if comp.endswith("_sram"):
            activity = activity / co.sram_full_use_bytes
        out[comp] = (co.dyn_mw[comp] * activity + co.static_mw[comp] * busy_time) * co.cycle_ns * att * present
    return out


def base_a3_rows(rows: np.ndarray, co: Coefficients) -> np.ndarray:
    """The job rows base A3 would have produced for the same call: each ATTEND job computed by the
    exact pipeline (three modules of n + 9 cycles over all n rows, key and value SRAM read n rows per
    query, no candidate selection, post-scoring or sorting) with the job's other phases (DMA,
    fetch, completion) unchanged; LOAD_SORTED jobs dropped (base A3 needs no sorted table)."""
    base = rows[rows["opcode"] != _OPCODE_LOAD_SORTED].copy()
    att = base["opcode"] == _OPCODE_ATTEND
    if not att.any():
        return base
    r = base[att]
    m, n, d = (r[c].astype(np.int64) for c in ("m", "n", "d"))
    stages = [n + f for f in co.stage_fixed]
    makespan = sum(stages) + (m - 1) * np.maximum.reduce(stages)
    other = r["job_cycles"].astype(np.int64) - r["compute_cycles"].astype(np.int64) - r["cyc_sort"].astype(np.int64)
    r["job_cycles"] = other + makespan
    r["compute_cycles"] = makespan
    r["cyc_dot"], r["cyc_exp"], r["cyc_out"] = (m * s for s in stages)
    for col in ("cyc_cand_sel", "cyc_scan", "cyc_post", "cyc_sort", "sram_sorted"):
        r[col] = 0
    reads = m * n * d * int(co.elem_bytes)
    r["sram_key"] = reads
    r["sram_value"] = reads
    r["mode"] = 0  # the exact pipeline (DESIGN_BY_MODE: base A3's components)
    base[att] = r
    return base


class CallCosts:
    """Stage cycles, energy, area and key sorting of a call, from its job rows.

    A mixin of :class:`a3sim.driver.CallRecord`: it reads ``self._jobs`` (the call's job rows),
    ``self.m`` and ``self._costs`` (the device's :class:`Coefficients`).
    """

    _jobs: np.ndarray
    _costs: Coefficients | None
    m: int

    @property
    def stage_cycles(self) -> dict[str, int]:
        """Busy cycles per compute stage (and of the post-scoring compares inside ``exponent``, and
        of the device sorter), summed over queries and jobs."""
        j = self._jobs
        cols = {
            "candidate_selection": "cyc_cand_sel",
            "score_scan": "cyc_scan",
            "dot_product": "cyc_dot",
            "exponent": "cyc_exp",
            "output": "cyc_out",
            "post_scoring": "cyc_post",
            "sort": "cyc_sort",
        }
        return {k: int(j[c].sum()) for k, c in cols.items()}

    @property
    def energy_pj(self) -> dict[str, float]:
        """Energy by component (pJ), summed over the call's jobs, as the device's energy model
        recorded it (docs/energy-model.md)."""
        return {k: float(self._jobs[c].sum()) for k, c in COMPONENTS.items()}

    @property
    def energy_total_pj(self) -> float:
        """Energy of the call on the device, all components (pJ)."""
        return float(sum(self.energy_pj.values()))

    @property
    def energy_per_query_pj(self) -> float:
        """``energy_total_pj / m``."""
        return self.energy_total_pj / self.m if self.m else float("nan")

    @property
    def unit_energy_pj(self) -> float:
        """Whole-job energy of the A3 unit itself (the Table I components: modules and the key,
        value and sorted-key SRAMs; no DRAM, no bus), pJ: every job of the call (SRAM fills
        included), static power over each job's whole time (DMA included). The paper's narrower
        scope is :attr:`compute_energy_pj`."""
        e = self.energy_pj
        return float(sum(e[c] for c in TABLE_I))

    @property
    def base_energy_pj(self) -> dict[str, float]:
        """Energy by component (pJ) that base A3 (exact pipeline) would have spent on the same call:
        see :func:`base_a3_rows`. Equal to :attr:`energy_pj` for an exact call."""
        co = self._require_costs()
        return {k: float(v.sum()) for k, v in job_energy_pj(base_a3_rows(self._jobs, co), co).items()}

    @property
    def compute_energy_pj(self) -> dict[str, float]:
        """Energy of the compute pipeline by Table I component (pJ), the paper's scope: ATTEND jobs,
        the modules and SRAMs of the design that runs the mode, static power over the compute time
        only (:func:`compute_energy_pj`). The whole-job figures are :attr:`energy_pj` and
        :attr:`unit_energy_pj`."""
        co = self._require_costs()
        return {k: float(v.sum()) for k, v in compute_energy_pj(self._jobs, co).items()}

    @property
    def compute_energy_total_pj(self) -> float:
        """Sum of :attr:`compute_energy_pj` (pJ)."""
        return float(sum(self.compute_energy_pj.values()))

    @property
    def base_compute_energy_pj(self) -> float:
        """The compute energy (paper scope, pJ) base A3 would spend on the same call: its three
        modules and two SRAMs on :func:`base_a3_rows`. Equal to :attr:`compute_energy_total_pj`
        for an exact call."""
        co = self._require_costs()
        return float(sum(v.sum() for v in compute_energy_pj(base_a3_rows(self._jobs, co), co).values()))

    @property
    def area_mm2(self) -> float:
        """Area of one A3 unit from the configuration (Table I, docs/spec.md 3.7)."""
        return self._require_costs().area_mm2

    @property
    def sorting(self) -> dict[str, Any]:
        """Key sorting, reported apart from the pipeline (docs/spec.md 3.6): who sorted the call's
        key matrices (``"host"``: sorted ahead, no device cost; ``"device"``: the device sorter;
        ``"none"``: no sorted table was loaded in this call), how many, the sorter's cycles in
        total, per key matrix and amortised per query."""
        j = self._jobs
        host = int((j["sorted_by"] == 1).sum())
        device = int((j["sorted_by"] == 2).sum())
        cycles = int(j["cyc_sort"].sum())
        mats = host + device
        by = "device" if device and not host else "host" if host and not device else "mixed" if mats else "none"
        return {
            "sorted_by": by,
            "key_matrices": mats,
            "cycles": cycles,
            "cycles_per_key_matrix": cycles / mats if mats else 0.0,
            "cycles_per_query": cycles / self.m if self.m else 0.0,
        }

    def _require_costs(self) -> Coefficients:
        if self._costs is None:
            raise AttributeError("this record carries no energy coefficients")
        return self._costs


def cpu_energy_pj(seconds: float, power_w: float = CPU_POWER_W) -> float:
    """Energy (pJ) of ``seconds`` of host CPU time at the assumed power :data:`CPU_POWER_W`."""
    return seconds * power_w * 1e12
