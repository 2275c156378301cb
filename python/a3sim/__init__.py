"""a3sim: a SystemC/TLM-2.0 model of the A3 attention accelerator (Ham et al., HPCA 2020),
driven from Python.

    from a3sim import A3Driver
    drv = A3Driver()
    out, rec = drv.attention(q, K, V)
"""

from __future__ import annotations

from .driver import A3Driver, CallRecord, KVContext
from .errors import A3Error
from .presets import PRESETS

__all__ = ["A3Driver", "CallRecord", "KVContext", "PRESETS", "A3Error"]
__version__ = "0.1.0"
