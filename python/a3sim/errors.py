"""Every failure a3sim reports, as one hierarchy of exception classes.

* :class:`A3InputError` (also a :class:`ValueError`) and its subclasses: the caller's arrays or
  parameters are wrong; nothing reached the device.
* :class:`DeviceError` and its subclasses: the device completed a descriptor with an error status
  (one class per status code of ``docs/descriptors.md``). The simulation and the driver stay usable.
* :class:`ConfigError`, :class:`PlatformError`, :class:`MmioError`: set-up and bus-level problems.
"""

from __future__ import annotations


class A3Error(Exception):
    """Base class of every a3sim error."""


# ---- input errors (raised by the driver before anything reaches the device) ----------------------
class A3InputError(A3Error, ValueError):
    """An argument of a driver call is not acceptable."""


class ShapeError(A3InputError):
    """Arrays have the wrong number of dimensions or disagree in size."""


class DTypeError(A3InputError, TypeError):
    """An array is not float32 or float64."""


class NonFiniteError(A3InputError):
    """An array holds NaN or infinity."""


class EmptyInputError(A3InputError):
    """An array has no elements (n, d or m is zero)."""


class ParameterError(A3InputError):
    """A mode, preset, M or T is not valid."""


class ArgumentTypeError(ParameterError, TypeError):
    """An argument has the wrong type, or a keyword argument is unknown."""


class MaskedInputError(A3InputError):
    """An array argument is a masked array with masked elements (the device has no mask)."""


class AllocationError(A3InputError):
    """A device-memory request is not valid: a size that is not a positive integer, or a block
    freed twice or not allocated by this device."""


class ConfigError(A3Error, ValueError):
    """A hardware configuration key or value is not valid, or conflicts with the running platform."""


class PlatformError(A3Error, RuntimeError):
    """The native library cannot be found or loaded, or the simulation did not respond."""


class ModelError(PlatformError):
    """A C++ exception escaped the SystemC kernel while it simulated (a model bug, or a host limit
    such as memory). The message is the model's. SystemC's state is then undefined, so the platform
    cannot be used any more in this process: later calls raise :class:`PlatformError`; the Python
    process, its data and the traces already read survive. Start a new process to go on."""


class DeviceTimeoutError(PlatformError, TimeoutError):
    """The unit did not finish within the driver's ``timeout_ns`` of simulated time. The driver
    re-programs the unit before its next call (waiting again, at most ``timeout_ns``, for the work in
    flight to end)."""


class DriverClosedError(A3Error, RuntimeError):
    """The driver was closed: it refuses every call (its queues and memory belong to others now)."""


class MmioError(A3Error):
    """An MMIO access got an error response from the bus (unmapped address, bad width)."""

    def __init__(self, message: str, address: int, tlm_status: int) -> None:
        super().__init__(message)
        self.address = address
        self.tlm_status = tlm_status


class ExportError(A3Error, ValueError):
    """A trace export was asked for with an impossible setting (e.g. a line size or clock of 0)."""


class TraceOverflowWarning(UserWarning):
    """A trace export holds a value that a reader's field cannot represent (e.g. a cycle count
    beyond 32 bits)."""


class OutOfDeviceMemory(A3Error, MemoryError):
    """The simulated DRAM has no free block large enough (raise the ``dram_mb`` parameter)."""


# ---- device errors: one class per status code ------------------------------------------------------
class DeviceError(A3Error):
    """A descriptor completed with a non-zero status code.

    Attributes: ``code`` (int), ``name`` (the code's name), ``tag`` (the descriptor's tag),
    ``detail`` (the device's error detail word).
    """

    code: int = -1

    def __init__(self, message: str, *, code: int, name: str, tag: int = 0, detail: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.tag = tag
        self.detail = detail


class DescriptorError(DeviceError):
    """The descriptor itself is malformed (opcode, mode, shape, parameter, alignment)."""


class CapacityError(DeviceError):
    """n, d or m exceeds what the SRAM banks or the datapath hold."""


class StateError(DeviceError):
    """The descriptor needs state the device does not have (K/V or sorted table not loaded)."""


class DmaFaultError(DeviceError):
    """A DMA transfer hit an address outside memory, or its target answered with an error."""


class DeviceNonFiniteError(DeviceError):
    """The device saw NaN or infinity in its inputs or results."""


class QueueError(DeviceError):
    """The descriptor or completion queue is misconfigured or overflowed."""


class CorruptCompletionError(DeviceError):
    """A completion record's check word does not match its contents (docs/descriptors.md 9): none
    of its fields can be trusted. The driver re-programmed the unit; resubmit the call."""


# status code name -> exception class (names as in systemc/a3/a3_protocol.h)
ERROR_CLASSES: dict[str, type[DeviceError]] = {
    "BAD_OPCODE": DescriptorError,
    "BAD_MODE": DescriptorError,
    "BAD_SHAPE": DescriptorError,
    "BAD_PARAM": DescriptorError,
    "BAD_ALIGN": DescriptorError,
    "BAD_TABLE": DescriptorError,
    "N_TOO_LARGE": CapacityError,
    "D_TOO_LARGE": CapacityError,
    "M_TOO_LARGE": CapacityError,
    "NO_KV": StateError,
    "KV_MISMATCH": StateError,
    "NO_SORTED_TABLE": StateError,
    "DMA_FAULT": DmaFaultError,
    "DMA_ERROR": DmaFaultError,
    "BAD_ITERATIONS": DescriptorError,
    "STREAM_MODE": DescriptorError,
    "NONFINITE": DeviceNonFiniteError,
    "QUEUE_CONFIG": QueueError,
    "CQ_OVERFLOW": QueueError,
}
