"""The host driver of the simulated A3 (:class:`A3Driver`), as a package of one concern per module:

* :mod:`.checks`: input validation (typed :mod:`a3sim.errors` exceptions);
* :mod:`.plan`: the :class:`CallPlan` of a call (tiles, jobs, M per tile, arena layout,
  descriptor records), computed before anything is sent;
* :mod:`.call`: one call on its way: its data staged into device memory (with the finiteness
  check), what a plan needs on the arena (built once), the :class:`PendingCall` between doorbell
  and collection (``A3Driver.submit`` / ``collect``), the copy of its trace rows;
* :mod:`.queue`: descriptor and completion rings, drain, status codes to exceptions;
* :mod:`.context`: :class:`KVContext`, the arena, host sorting of K;
* :mod:`.record`: :class:`CallRecord` and the log-sum-exp merge of tiles;
* :mod:`.driver`: :class:`A3Driver`, which only orchestrates.
"""

from __future__ import annotations

from ..presets import PRESETS
from .call import PendingCall
from .context import KVContext
from .driver import A3Driver
from .plan import CallPlan, tiles
from .record import CallRecord

__all__ = ["A3Driver", "CallPlan", "CallRecord", "KVContext", "PendingCall", "PRESETS", "tiles"]
