"""Device memory the driver manages: K/V contexts (:class:`KVContext`), the per-call arena, and the
host's sorting of K into the device's sorted-key table layout."""

from __future__ import annotations

import itertools
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import errors as E
from ..device import Block, Device
from .plan import tiles

if TYPE_CHECKING:
    from .driver import A3Driver

_ctx_ids = itertools.count(1)

#: Smallest arena block (bytes): calls of any size reuse one block once it has grown.
ARENA_MIN_BYTES = 1 << 20


def sorted_table_bytes(rows: int, d: int) -> int:
    """Bytes of one tile's sorted-key table: d x rows float32 values, then d x rows uint32 rows."""
    return rows * d * 8


def write_sorted(dev: Device, address: int, Kt: np.ndarray) -> None:
    """Sort K on the host (``docs/spec.md`` 3.1: each column descending, ties to the lower row) and
    write the device's table layout at ``address`` (see :func:`sorted_table_bytes`)."""
    rows, d = Kt.shape
    order = np.argsort(-Kt, axis=0, kind="stable")  # stable: equal values keep the lower row first
    values = np.take_along_axis(Kt, order, axis=0)
    dev.view(address, np.float32, rows * d)[:] = values.T.ravel()
    dev.view(address + rows * d * 4, np.uint32, rows * d)[:] = order.T.ravel()
    dev.timed_store(address, rows * d * 8, "sorted")  # over the bus when host_stores = 1


def _release(dev: Device, blocks: list[Block]) -> None:
    for b in blocks:
        dev.free(b)


class KVContext:
    """K/V held in device memory (and in the SRAM banks while resident) across calls.

    Created by :meth:`A3Driver.load`. ``close()`` (or the context manager, or garbage collection)
    frees its device memory.
    """

    def __init__(self, driver: A3Driver, K: np.ndarray, V: np.ndarray, overflow: str = "tile") -> None:
        self.id = next(_ctx_ids)
        self.n, self.d = K.shape
        dev = driver.device
        #: K/V beyond n_max: "stream" keeps all rows in one tile that the unit streams (exact calls).
        self.stream = overflow == "stream" and self.n > driver.n_max
        self.tiles = [(0, self.n)] if self.stream else tiles(self.n, driver.n_max)
        self._device = dev
        self._blocks: list[Block] = []
        self._kv_addr: list[tuple[int, int]] = []
        self._sorted_addr: list[int | None] = [None] * len(self.tiles)
        for r0, r1 in self.tiles:
            rows = r1 - r0
            try:
                blk = dev.alloc(2 * rows * self.d * 4)
            except E.OutOfDeviceMemory:
                _release(dev, self._blocks)  # give back the tiles placed so far
                raise
            self._blocks.append(blk)
            ka, va = blk.address, blk.address + rows * self.d * 4
            dev.view(ka, np.float32, rows * self.d)[:] = K[r0:r1].ravel()
            dev.view(va, np.float32, rows * self.d)[:] = V[r0:r1].ravel()
            dev.timed_store(ka, rows * self.d * 4, "K")  # over the bus when host_stores = 1
            dev.timed_store(va, rows * self.d * 4, "V")
            self._kv_addr.append((ka, va))
        self._finalizer = weakref.finalize(self, _release, dev, list(self._blocks))

    def kv_address(self, t: int) -> tuple[int, int]:
        """Device addresses of tile t's K and V."""
        return self._kv_addr[t]

    def sorted_table(self, t: int) -> int:
        """Device address of tile t's sorted-key table, sorting on the host on first use
        (``docs/spec.md`` 3.1)."""
        addr = self._sorted_addr[t]
        if addr is None:
            r0, r1 = self.tiles[t]
            rows = r1 - r0
            # Sort the copy in device memory: the caller may have changed its array since load().
            Kt = self._device.view(self._kv_addr[t][0], np.float32, rows * self.d).reshape(rows, self.d)
            blk = self._device.alloc(sorted_table_bytes(rows, self.d))
            self._blocks.append(blk)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _release, self._device, list(self._blocks))
            write_sorted(self._device, blk.address, Kt)
            self._sorted_addr[t] = addr = blk.address
        return addr

    @property
    def closed(self) -> bool:
        """True once the context's device memory is freed."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Free the context's device memory."""
        self._finalizer()

    def __enter__(self) -> KVContext:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KVContext(id={self.id}, n={self.n}, d={self.d}, tiles={len(self.tiles)}, stream={self.stream})"


class Arena:
    """A grow-only block of device memory reused by every call for queries and results."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.block: Block | None = None

    def reserve(self, nbytes: int) -> None:
        """Make room for ``nbytes``, growing the block if needed (a call's :class:`Layout` places
        its buffers in it)."""
        if self.block is None or self.block.size < nbytes:
            old = self.block.size if self.block is not None else 0
            if self.block is not None:
                self.device.free(self.block)
                self.block = None
            self.block = self.device.alloc(max(nbytes, ARENA_MIN_BYTES, 2 * old))

    @property
    def base(self) -> int:
        """Device address of the block (after :meth:`reserve`)."""
        assert self.block is not None
        return self.block.address

    def release(self) -> None:
        """Give the block back to the device."""
        if self.block is not None:
            self.device.free(self.block)
            self.block = None
