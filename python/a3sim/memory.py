"""The memory system seen from Python: DRAM presets, the resolved DRAM parameters with their
sources, and the DRAM policy's statistics as typed values with units.

    from a3sim import A3Driver
    from a3sim.memory import dram_config, dram_stats
    drv = A3Driver(config=dram_config("ddr4-3200"))      # banked DRAM policy, DDR4-3200 preset
    ...
    s = dram_stats(drv.device)
    print(s.row_hit_rate, s.achieved_gbps, s.peak_gbps, s.latency_p95_ns)

The model is described in ``docs/memory-model.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .device import Device

#: DRAM presets of the banked policy (``dram_preset`` codes), by name.
DRAM_PRESETS: dict[str, int] = {"ddr4-3200": 1, "lpddr4-4266": 2, "hbm2-pc": 3, "hbm2-stack": 4}
#: Address mappings (``dram_mapping`` codes): fields from the burst offset up.
DRAM_MAPPINGS: dict[str, int] = {"ch-bg-co-ba-ra-ro": 0, "ch-co-bg-ba-ra-ro": 1, "ch-bg-ba-ra-co-ro": 2}
#: Names of the row-buffer outcome codes of a DRAM burst record.
BURST_KINDS = ("hit", "miss", "conflict", "none")


def dram_config(
    preset: str = "ddr4-3200",
    *,
    page: str = "open",
    scheduler: str = "fr-fcfs",
    mapping: int = 0,
    refresh: bool = True,
    **extra: float,
) -> dict[str, float]:
    """Hardware-config overrides that select the banked DRAM policy with a preset.

    ``preset`` is a key of :data:`DRAM_PRESETS` or ``"simple"`` (the latency + bandwidth policy);
    ``extra`` adds other config entries (e.g. ``units=4``)."""
    if preset == "simple":
        return {"dram_timing": 0.0, **{k: float(v) for k, v in extra.items()}}
    if preset not in DRAM_PRESETS:
        raise ConfigError(f"unknown DRAM preset {preset!r}; choose one of simple, {', '.join(DRAM_PRESETS)}")
    if page not in ("open", "closed"):
        raise ConfigError(f"page must be 'open' or 'closed', got {page!r}")
    if scheduler not in ("fr-fcfs", "in-order"):
        raise ConfigError(f"scheduler must be 'fr-fcfs' or 'in-order', got {scheduler!r}")
    cfg = {
        "dram_timing": 1.0,
        "dram_preset": float(DRAM_PRESETS[preset]),
        "dram_mapping": float(mapping),
        "dram_page_policy": 0.0 if page == "open" else 1.0,
        "dram_scheduler": 0.0 if scheduler == "fr-fcfs" else 1.0,
        "dram_refresh": 1.0 if refresh else 0.0,
    }
    cfg.update({k: float(v) for k, v in extra.items()})
    return cfg


@dataclass(frozen=True)
class DramParam:
    """One resolved DRAM parameter: value, unit and the source it came from."""

    name: str
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class DramSpec:
    """The DRAM policy in force and its resolved parameters (``docs/memory-model.md``)."""

    policy: str
    params: dict[str, DramParam]

    @property
    def peak_gbps(self) -> float:
        """Peak data bandwidth of the whole memory, GB/s (= B/ns)."""
        return self.params["peak_gbps"].value

    def ns(self, name: str) -> float:
        """A timing parameter in ns (e.g. ``spec.ns("tRCD")``)."""
        return self.params[name].value

    def __getitem__(self, name: str) -> float:
        return self.params[name].value


def dram_spec(device: Device) -> DramSpec:
    """The DRAM parameters in force, each with its unit and source."""
    params: dict[str, DramParam] = {}
    policy = ""
    for line in str(device.api.dram_spec()).splitlines():
        if not line.strip():
            continue
        name, value, unit, source = line.split("|", 3)
        params[name] = DramParam(name, float(value), unit, source)
        if name == "policy":
            policy = source.split(":", 1)[0]
    return DramSpec(policy, params)


@dataclass(frozen=True)
class DramStats:
    """Statistics of the DRAM policy since the platform was built or :func:`reset_dram_stats`.

    Counts are per DRAM burst; times in ns; bandwidths in GB/s (= B/ns). ``units`` maps each field
    to its unit. Latency is per burst, from its arrival at the controller to the end of its data."""

    accesses: int
    bursts: int
    bytes_read: int
    bytes_written: int
    row_hits: int
    row_misses: int
    row_conflicts: int
    activates: int
    precharges: int
    refreshes: int
    refresh_ns: float
    data_busy_ns: float
    queue_full_ns: float
    first_arrival_ns: float
    last_done_ns: float
    achieved_gbps: float
    peak_gbps: float
    latency_mean_ns: float
    latency_max_ns: float
    latency_p50_ns: float
    latency_p95_ns: float
    latency_p99_ns: float
    units: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def row_hit_rate(self) -> float:
        """Row hits / bursts (0 when the policy does not model rows)."""
        n = self.row_hits + self.row_misses + self.row_conflicts
        return self.row_hits / n if n else 0.0

    @property
    def utilisation(self) -> float:
        """Achieved / peak bandwidth over the active span."""
        return self.achieved_gbps / self.peak_gbps if self.peak_gbps else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for JSON), with ``row_hit_rate`` and ``utilisation`` added."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "units"}
        d["row_hit_rate"] = self.row_hit_rate
        d["utilisation"] = self.utilisation
        return d

    def to_json(self) -> str:
        """JSON object ``{name: {"value": v, "unit": u}}``."""
        units = dict(self.units, row_hit_rate="ratio", utilisation="ratio")
        return json.dumps({k: {"value": v, "unit": units.get(k, "")} for k, v in self.as_dict().items()})


def dram_stats(device: Device) -> DramStats:
    """The DRAM policy's statistics as typed values."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    kinds = {f.name: f.type for f in fields(DramStats)}
    for line in str(device.api.dram_stats()).splitlines():
        if not line.strip():
            continue
        name, value, unit = line.split("|", 2)
        units[name] = unit
        values[name] = int(float(value)) if kinds.get(name) in (int, "int") else float(value)
    return DramStats(**values, units=units)


def dram_latency_histogram(device: Device) -> tuple[np.ndarray, float]:
    """Per-burst latency histogram: (counts, bin width in ns); the last bin holds the overflow."""
    n = int(device.api.dram_latency_hist(0, 0))
    out = np.zeros(n, np.uint64)
    device.api.dram_latency_hist(int(out.ctypes.data), n)
    return out, 1.0


def reset_dram_stats(device: Device) -> None:
    """Start the DRAM statistics afresh (the DRAM's state -- open rows, queues -- stays)."""
    device.api.dram_reset_stats()


__all__ = [
    "DRAM_PRESETS",
    "DRAM_MAPPINGS",
    "BURST_KINDS",
    "dram_config",
    "DramParam",
    "DramSpec",
    "dram_spec",
    "DramStats",
    "dram_stats",
    "dram_latency_histogram",
    "reset_dram_stats",
]
