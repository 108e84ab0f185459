"""Where an op runs: one :class:`Backend` object per device, CPU and CUDA.

A backend holds what its device offers: its array namespace ``xp`` (NumPy itself, or the
NumPy-like namespace of :mod:`numbaconv._backend.cuda_xp` whose functions run CUDA kernels on
device arrays), allocation and contiguity helpers, and its kernel launchers (``kernels.conv`` is
``numbaconv.kernels.cpu.conv`` or ``numbaconv.kernels.cuda.conv``, with the same launcher names
and argument order). :func:`select` picks the backend from an op's array arguments.

Only ``numbaconv.ops`` and the array namespaces reach ``kernels``; autograd, nn, the optimizers,
the Learner, the callbacks, data and the CLI use ``xp`` and the ``ops`` entry points
(``tests/test_layering.py`` enforces it).

``numba.cuda`` is imported only when a CUDA array is in play or CUDA is asked about, so this
package, and every CPU path, work where numba-cuda is not installed.
"""

from __future__ import annotations

import importlib

import numpy as np

from .cuda_xp import CudaNamespace
from .device import (
    CUDA_INSTALL_HINT,
    SIMULATOR_HINT,
    as_device_array,
    cuda_available,
    is_device_array,
    mixed_device_error,
    to_device,
    to_host,
)
from .device import _cuda_problem as _cuda_problem  # tests and cli report it
from .device import _import_cuda as _import_cuda
from .device import _require_cuda as _require_cuda
from .device import _simulating as _simulating
from .info import show_config

__all__ = [
    "CPU",
    "CUDA",
    "CUDA_INSTALL_HINT",
    "SIMULATOR_HINT",
    "Backend",
    "as_device_array",
    "backend_of",
    "cuda_available",
    "is_device_array",
    "mixed_device_error",
    "select",
    "show_config",
    "to_device",
    "to_host",
]


class _KernelModules:
    """``kernels.conv`` -> ``numbaconv.kernels.<package>.conv``, imported on first use."""

    def __init__(self, package: str):
        self._package = package

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        module = importlib.import_module(f"numbaconv.kernels.{self._package}.{name}")
        setattr(self, name, module)
        return module


class Backend:
    """What a device offers. ``name`` is ``"cpu"`` or ``"cuda"``.

    Attributes
    ----------
    xp : module or CudaNamespace
        The array namespace: NumPy's functions, names and broadcasting/dtype rules.
    kernels : object
        The kernel modules, imported on first use; for ``numbaconv.ops`` only.
    """

    name: str
    kernels: _KernelModules
    xp: object

    def empty(self, shape, dtype):
        raise NotImplementedError

    def zeros(self, shape, dtype):
        raise NotImplementedError

    def contiguous(self, arr, dtype):
        """``arr`` as a C-contiguous array of ``dtype`` on this backend, copied only if needed."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<numbaconv backend {self.name}>"


class CpuBackend(Backend):
    name = "cpu"

    def __init__(self):
        self.kernels = _KernelModules("cpu")
        self.xp = np

    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def contiguous(self, arr, dtype):
        return np.ascontiguousarray(arr, dtype=dtype)


class CudaBackend(Backend):
    name = "cuda"

    def __init__(self):
        self.kernels = _KernelModules("cuda")
        self.xp = CudaNamespace(self)

    @property
    def _cuda(self):
        return _require_cuda()

    def empty(self, shape, dtype):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self._cuda.device_array(shape, dtype=np.dtype(dtype))

    def zeros(self, shape, dtype):
        out = self.empty(shape, dtype)
        importlib.import_module("numbaconv.kernels.cuda").fill_zero(out)
        return out

    def contiguous(self, arr, dtype):
        arr = as_device_array(arr)
        dtype = np.dtype(dtype)
        if arr.dtype == dtype and arr.is_c_contiguous():
            return arr
        if arr.ndim == 0 or arr.ndim > 4:
            raise ValueError(
                f"device arrays of {arr.ndim} dimensions cannot be made contiguous here "
                "(1 to 4 are supported)"
            )
        out = self.empty(arr.shape, dtype)
        importlib.import_module("numbaconv.kernels.cuda").copy_into(arr, out)
        return out


CPU = CpuBackend()
CUDA = CudaBackend()


def backend_of(*arrays) -> Backend:
    """CUDA when any of ``arrays`` is a device array (None entries skipped), else CPU.

    Does not check that the others agree: :func:`select` does, for ops.
    """
    for value in arrays:
        if value is not None and is_device_array(value):
            return CUDA
    return CPU


def select(op: str, **arrays) -> Backend:
    """The backend for a call of ``op`` with these array arguments (None values are skipped).

    All host -> CPU; all device -> CUDA (RuntimeError when CUDA is not usable); a mix ->
    :func:`mixed_device_error`.
    """
    given = {name: value for name, value in arrays.items() if value is not None}
    on_device = {name for name, value in given.items() if is_device_array(value)}
    if not on_device:
        return CPU
    if len(on_device) < len(given):
        raise mixed_device_error(op, **given)
    _require_cuda()
    return CUDA
