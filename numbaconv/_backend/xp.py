"""Array namespaces: NumPy for host arrays, :class:`~numbaconv._backend.cuda_xp.CudaNamespace`
for CUDA device arrays.

Autograd Functions, ``nn.functional`` and the optimizers write their array code once against
``xp = namespace(*arrays)``: NumPy itself for host arrays, so the CPU path is exactly the NumPy
code it always was, and the CUDA backend's namespace (:data:`cuda`) for device arrays, whose
functions have NumPy's names, arguments and broadcasting/dtype rules and run CUDA kernels
without copying anything to the host. Each is the ``xp`` of its
:class:`~numbaconv._backend.Backend`.
"""

from __future__ import annotations

import numpy as np

from . import CUDA, backend_of
from .device import as_device_array, is_device_array, mixed_device_error, to_device, to_host

__all__ = [
    "asarray",
    "astype",
    "copy",
    "cuda",
    "is_device",
    "matmul_t",
    "mixed_device_error",
    "namespace",
    "to_device",
    "to_host",
    "to_namespace_of",
]

#: The namespace for CUDA device arrays (``numbaconv._backend.CUDA.xp``).
cuda = CUDA.xp


def is_device(value) -> bool:
    """True for a CUDA device array (numba's, or any ``__cuda_array_interface__`` object)."""
    return value is not None and is_device_array(value)


def namespace(*arrays):
    """NumPy, or :data:`cuda` when any of ``arrays`` is a device array (None entries skipped)."""
    return backend_of(*arrays).xp


def to_namespace_of(like, value):
    """``value`` (host array, device array or scalar) moved to where ``like`` lives."""
    if is_device(like):
        if isinstance(value, np.ndarray):
            return to_device(value)
        return value
    if is_device(value):
        return to_host(value)
    return value


def matmul_t(a, b, transpose_a: bool = False, transpose_b: bool = False):
    """``op(a) @ op(b)`` for 2-D ``a``, ``b``, where ``op`` transposes when asked.

    On the device the transposed operand is read in place (no copy).
    """
    if is_device(a) or is_device(b):
        return cuda.matmul_t(a, b, transpose_a, transpose_b)
    return np.matmul(a.T if transpose_a else a, b.T if transpose_b else b)


def astype(array, dtype):
    """``array`` converted to ``dtype`` (a new array), on the device or the host."""
    if is_device(array):
        return cuda.astype(array, dtype)
    return np.asarray(array).astype(dtype)


def asarray(value):
    """A device array as it is; anything else through ``np.asarray``."""
    if is_device(value):
        return as_device_array(value)
    return np.asarray(value)


def copy(array):
    """A C-contiguous copy of ``array`` on its own device."""
    if is_device(array):
        return cuda.copy(array)
    return np.array(array, copy=True, order="C")
