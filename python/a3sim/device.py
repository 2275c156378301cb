"""The device layer: one simulated SoC per process, seen from host software.

:class:`Device` wraps the native platform: MMIO reads and writes through the host bridge, the
DRAM as a numpy array without copies, a first-fit allocator for host buffers in that DRAM, and
``run()``, which advances the simulation until an interrupt reaches the host. It knows nothing of
attention: that is the driver's business (:mod:`a3sim.driver`).
"""

from __future__ import annotations

import bisect
import ctypes
import math
import numbers
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from . import _native
from .config import ConfigEntry, ConfigLike, entries, normalise, to_text
from .errors import (
    AllocationError,
    ConfigError,
    MmioError,
    ModelError,
    OutOfDeviceMemory,
    ParameterError,
    PlatformError,
)
from .protocol import STREAMS

#: What the native entry points that run the simulation return when a C++ exception escaped the
#: SystemC kernel (systemc/api/a3sim_api.h); raised as :class:`~a3sim.errors.ModelError`.
MODEL_ERROR = -1002


@dataclass
class Block:
    """A block of simulated DRAM owned by host software."""

    address: int
    size: int


class DramAllocator:
    """First-fit allocator with coalescing over ``[base, base + size)``; blocks are aligned."""

    def __init__(self, base: int, size: int, align: int = 256) -> None:
        self.align = align
        self._starts: list[int] = [base]  # free blocks, sorted by start
        self._sizes: dict[int, int] = {base: size}
        self._live: dict[int, int] = {}  # allocated blocks: start -> size
        self.used = 0

    def alloc(self, nbytes: int) -> Block:
        """A block of at least ``nbytes`` (a positive integer) bytes; :class:`AllocationError` for
        a bad size, :class:`OutOfDeviceMemory` when no free block is large enough."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral) or int(nbytes) <= 0:
            raise AllocationError(f"alloc needs a positive integer number of bytes, not {nbytes!r}")
        need = max(self.align, -(-int(nbytes) // self.align) * self.align)
        for start in self._starts:
            size = self._sizes[start]
            if size >= need:
                self._starts.remove(start)
                del self._sizes[start]
                if size > need:
                    rest = start + need
                    bisect.insort(self._starts, rest)
                    self._sizes[rest] = size - need
                self.used += need
                self._live[start] = need
                return Block(start, need)
        raise OutOfDeviceMemory(
            f"simulated DRAM has no free block of {need} bytes ({self.used} bytes in use); "
            "free contexts you no longer need, or raise the dram_mb parameter"
        )

    def free(self, block: Block) -> None:
        """Give a block back; :class:`AllocationError` if it is not a live block of this allocator
        (freed twice, or never allocated here)."""
        start, size = block.address, block.size
        if self._live.get(start) != size:
            raise AllocationError(
                f"block [{start:#x}, +{size}) is not allocated here (freed twice, or not from this device)"
            )
        del self._live[start]
        i = bisect.bisect_left(self._starts, start)
        # merge with the next free block
        if i < len(self._starts) and self._starts[i] == start + size:
            nxt = self._starts.pop(i)
            size += self._sizes.pop(nxt)
        # merge with the previous free block
        if i > 0 and self._starts[i - 1] + self._sizes[self._starts[i - 1]] == start:
            prev = self._starts[i - 1]
            self._sizes[prev] += size
        else:
            self._starts.insert(i, start)
            self._sizes[start] = size
        self.used -= block.size


@dataclass
class UnitState:
    """What host software keeps of one A3 unit (shared by every driver of the unit): which driver
    programmed its queues. What its banks hold, the unit itself publishes (RES_* registers)."""

    owner: Any = None  # the driver that programmed the queues


class Device:
    """The simulated SoC of this process. Build it with :meth:`open`; there is one per process."""

    _instance: Device | None = None

    def __init__(self, overrides: Mapping[str, float]) -> None:
        #: The typed facade of the native library (:class:`a3sim._native.Native`).
        self.native = self.api = _native.native()
        if self.native.create(to_text(overrides)) != 0:
            raise ConfigError(self.native.last_error())
        self.overrides = dict(overrides)
        self.config: dict[str, ConfigEntry] = entries(self.native)
        self.units = int(self.config["units"].value)
        self.dram_base, self.dram_size, dram_ptr = self.native.dram_window()
        buf = (ctypes.c_uint8 * self.dram_size).from_address(dram_ptr)
        self.dram = np.frombuffer(buf, dtype=np.uint8)
        #: The same bytes as a memoryview (slicing and ``tobytes`` without numpy's per-call cost).
        self.dram_bytes = memoryview(self.dram)
        # The first 4 KiB stay unused, so that address 0 is never a valid buffer.
        self.allocator = DramAllocator(self.dram_base + 4096, self.dram_size - 4096)
        self.unit_state = [UnitState() for _ in range(self.units)]
        #: Serialises every driver call on this device (one SystemC kernel, shared DRAM and units):
        #: drivers used from several threads take it around each call (re-entrant).
        self.lock = threading.RLock()
        #: status code -> (NAME, message)
        self.errors = {c: (e.name, e.message) for c, e in self.native.error_codes().items()}
        self.initiators = self.native.initiator_names()
        self.targets = self.native.target_names()
        self._mmio_read = self.native.mmio_read
        self._mmio_write = self.native.mmio_write
        self._run = self.native.run_until_irq
        self._host_stores = self.config["host_stores"].value != 0
        #: Host time (ns) spent in timed stores since the platform was built (0 with host_stores = 0).
        self.host_store_ns = 0.0

    @classmethod
    def open(cls, config: ConfigLike = None) -> Device:
        """The process's device, built on first use with ``config`` overrides.

        A later call with a different configuration raises :class:`ConfigError`: SystemC elaborates
        once per process (run such studies in separate processes).
        """
        if cls._instance is None:
            defaults = entries(_native.native())
            cls._instance = Device(normalise(config, defaults))
            return cls._instance
        dev = cls._instance
        if config is not None:
            wanted = normalise(config, dev.config)
            clash = {k: v for k, v in wanted.items() if dev.config[k].value != v}
            if clash:
                raise ConfigError(
                    "the platform of this process is already built with another configuration "
                    f"({', '.join(f'{k}={dev.config[k].value:g}' for k in clash)}); "
                    "one platform per process: use a new process for a different configuration"
                )
        return dev

    @classmethod
    def exists(cls) -> bool:
        return cls._instance is not None

    # ---- configuration ----
    def cfg(self, key: str) -> float:
        """Value in force of a hardware parameter."""
        return self.config[key].value

    # ---- MMIO ----
    def reg_address(self, unit: int, offset: int) -> int:
        return int(self.native.mmio_base(unit)) + int(offset)

    def mmio_read(self, address: int) -> int:
        """Read a 32-bit register at a bus address; :class:`MmioError` on an error response."""
        v = self._mmio_read(address)
        if v < 0:
            raise MmioError(f"MMIO read of {address:#x} failed (TLM status {v})", address, int(v))
        return int(v)

    def mmio_write(self, address: int, value: int) -> None:
        """Write a 32-bit register at a bus address; :class:`MmioError` on an error response."""
        st = self._mmio_write(address, int(value) & 0xFFFFFFFF)
        if st != 1:
            raise MmioError(f"MMIO write of {address:#x} failed (TLM status {st})", address, int(st))

    def read_reg(self, unit: int, offset: int) -> int:
        return self.mmio_read(self.reg_address(unit, offset))

    def write_reg(self, unit: int, offset: int, value: int) -> None:
        self.mmio_write(self.reg_address(unit, offset), value)

    # ---- simulation ----
    def run(self, max_ns: float = 1e12) -> bool:
        """Simulate until an interrupt reaches the host (True), or idle / ``max_ns`` (False).

        ``max_ns`` must be a number >= 0 (:class:`ParameterError` otherwise); beyond 1e15 ns it
        means no limit."""
        try:
            limit = float(max_ns)
        except (TypeError, ValueError):
            raise ParameterError(f"run time limit must be a number of ns >= 0, not {max_ns!r}") from None
        if math.isnan(limit) or limit < 0:
            raise ParameterError(f"run time limit must be a number of ns >= 0, not {max_ns!r}")
        r = int(self._run(limit))
        if r < 0:
            self.check_model(r)
            raise PlatformError(f"run failed ({r}): {self.native.last_error()}")
        return bool(r)

    def check_model(self, status: int) -> None:
        """Raise :class:`ModelError` with the kernel's message if a native call answered
        ``MODEL_ERROR`` (a C++ exception escaped the SystemC kernel: the platform is gone)."""
        if status == MODEL_ERROR:
            raise ModelError(self.native.last_error())

    # ---- fault injection and protocol checking (docs/descriptors.md 9, register-map.md 10) ----
    FAULT_KINDS = ("dma_address", "dma_random", "irq_drop", "stuck_busy", "corrupt_completion")

    def set_fault(self, name: str, value: float) -> None:
        """Arm a fault by its configuration name (``fi_dma_error_address``, ``fi_dma_error_rate``,
        ``fi_seed``, ``fi_irq_drop``, ``fi_irq_delay_ns``, ``fi_stuck_busy``,
        ``fi_corrupt_completion``); :class:`ParameterError` for an unknown name or a bad value."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"fault {name} = {value!r} is not a number") from None
        if int(self.native.fault_set(str(name), v)) != 0:
            raise ParameterError(self.native.last_error())

    def faults_injected(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        return {k: int(self.native.fault_count(i)) for i, k in enumerate(self.FAULT_KINDS)}

    def protocol_report(self) -> dict[str, Any]:
        """The TLM-2.0 protocol checkers' findings: ``enabled``, ``checked`` (transactions),
        ``violations``, ``by_rule`` ({rule: count}) and ``messages`` (the first violations)."""
        by_rule: dict[str, int] = {}
        messages: list[str] = []
        for line in str(self.native.protocol_report()).splitlines():
            key, val = line.split("|", 1)
            if key == "message":
                messages.append(val)
            else:
                by_rule[key] = int(val)
        nat = self.native
        return {
            "enabled": bool(nat.protocol_enabled()),
            "checked": int(nat.protocol_checked()),
            "violations": int(nat.protocol_violations()),
            "by_rule": by_rule,
            "messages": messages,
        }

    def now_ns(self) -> float:
        """Simulation time (ns)."""
        return float(self.native.now_ns())

    def last_irq_ns(self) -> float:
        """Delivery time (ns) of the last interrupt that reached host software."""
        return float(self.native.snapshot()["last_irq_ps"]) / 1000.0

    def host_now_ns(self) -> float:
        """Host software's time (ns): simulation time plus the MMIO it has issued since."""
        return float(self.native.host_now_ns())

    # ---- host memory ----
    @property
    def host_stores(self) -> bool:
        """True when the host's stores into DRAM are timed bus writes (config ``host_stores = 1``)."""
        return self._host_stores

    def timed_store(self, address: int, nbytes: int, stream: str) -> None:
        """With ``host_stores = 1``: send the host's bytes ``[address, +nbytes)`` of DRAM (already
        written through a view) over the bus as timed cache-line writes tagged ``stream``
        (docs/memory-model.md section 7), and add the host time they took to ``host_store_ns``; a
        no-op with the default backdoor stores."""
        if self._host_stores:
            t0 = self.native.host_now_ns()
            st = self.native.host_store(int(address), int(nbytes), STREAMS.index(stream))
            self.host_store_ns += float(self.native.host_now_ns()) - float(t0)
            self.check_model(st)
            if st < 0:
                raise MmioError(
                    f"timed host store to {address:#x} (+{nbytes}) failed (TLM status {st})", address, int(st)
                )

    def alloc(self, nbytes: int) -> Block:
        """A block of at least ``nbytes`` of simulated DRAM."""
        with self.lock:
            return self.allocator.alloc(nbytes)

    def free(self, block: Block) -> None:
        """Give a block back."""
        with self.lock:
            self.allocator.free(block)

    def view(self, address: int, dtype: Any, count: int) -> np.ndarray:
        """A numpy view (no copy) of ``count`` items of ``dtype`` at a DRAM bus address."""
        dt = np.dtype(dtype)
        off = address - self.dram_base
        if off < 0 or off + count * dt.itemsize > self.dram_size:
            raise PlatformError(f"view [{address:#x}, +{count * dt.itemsize}) is outside DRAM")
        return self.dram[off : off + count * dt.itemsize].view(dt)
