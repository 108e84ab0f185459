"""Where an op runs: on the CPU for NumPy arrays, on a CUDA GPU for device arrays.

A :class:`Backend` is what the ops layer talks to: it allocates outputs, makes inputs
C-contiguous in one dtype on its own device, and exposes the kernel launchers
(``backend.kernels.conv`` is ``numbaconv.kernels.cpu.conv`` or ``numbaconv.kernels.cuda.conv``,
with the same launcher names and argument order). :func:`select` picks the backend from an op's
array arguments.

``numba.cuda`` is imported only when a CUDA array is in play or CUDA is asked about, so this
module, and every CPU path, work where numba-cuda is not installed.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np

from . import _jit, config

CUDA_INSTALL_HINT = 'install the GPU extra: pip install "numbaconv[cuda]" (numba-cuda[cu13])'
SIMULATOR_HINT = (
    "to test the CUDA path without a GPU, set NUMBA_ENABLE_CUDASIM=1 in the environment "
    "before numba is imported"
)


# --- what CUDA offers here -------------------------------------------------------------------


def _import_cuda():
    """``(numba.cuda, None)``, or ``(None, why)`` when it cannot be imported."""
    try:
        from numba import cuda
    except Exception as exc:  # ImportError, or a broken install that fails while importing
        return None, f"{type(exc).__name__}: {exc}"
    return cuda, None


def _simulating(cuda) -> bool:
    return bool(getattr(cuda.config, "ENABLE_CUDASIM", False))


def _cuda_problem() -> str | None:
    """Why CUDA cannot run here, or None when it can (a GPU or the simulator)."""
    cuda, import_error = _import_cuda()
    if cuda is None:
        return (
            f"numba.cuda cannot be imported ({import_error}), so numba-cuda is missing or broken; "
            f"{CUDA_INSTALL_HINT}"
        )
    if _simulating(cuda):
        return None
    try:
        if cuda.is_available():
            return None
        from numba.cuda.cudadrv.driver import driver

        detail = str(getattr(driver, "initialization_error", "") or "").strip()
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
    detail = " ".join(detail.split()) or "no CUDA-capable GPU was found"
    return f"numba-cuda is installed but no usable NVIDIA GPU and driver were found ({detail})"


def cuda_available() -> bool:
    """True when CUDA arrays can be used here: a working GPU, or the CUDA simulator.

    Never raises.
    """
    try:
        return _cuda_problem() is None
    except Exception:
        return False


def _require_cuda():
    """``numba.cuda`` when usable, else a RuntimeError saying what is missing."""
    problem = _cuda_problem()
    if problem is not None:
        raise RuntimeError(f"CUDA is not usable: {problem}; {SIMULATOR_HINT}")
    from numba import cuda

    return cuda


# --- device arrays ---------------------------------------------------------------------------


def _is_numba_device_array(obj) -> bool:
    # numba's own device arrays (real and simulated) carry this marker; the simulator's have no
    # __cuda_array_interface__.
    return bool(getattr(obj, "__cuda_ndarray__", False))


def is_device_array(obj) -> bool:
    """True for a numba CUDA device array or any object exposing ``__cuda_array_interface__``
    (CuPy arrays, PyTorch CUDA tensors). Never imports ``numba.cuda``."""
    if isinstance(obj, np.ndarray):
        return False
    return _is_numba_device_array(obj) or hasattr(obj, "__cuda_array_interface__")


def as_device_array(obj):
    """``obj`` as a numba device array; foreign CUDA arrays are wrapped without a copy."""
    if _is_numba_device_array(obj):
        return obj
    cuda = _require_cuda()
    return cuda.as_cuda_array(obj)


def to_device(array):
    """Copy a host array to the current CUDA device (device arrays are returned as they are).

    Parameters
    ----------
    array : array_like or device array
        Any dtype numba supports; the ops accept float32 and float64 device arrays.

    Returns
    -------
    numba.cuda.cudadrv.devicearray.DeviceNDArray
        A C-contiguous copy (or ``array`` itself, wrapped zero-copy when it is a CuPy/PyTorch
        CUDA array).

    Raises
    ------
    RuntimeError
        CUDA is not usable here (the message says what is missing).
    """
    if is_device_array(array):
        return as_device_array(array)
    cuda = _require_cuda()
    host = np.asarray(array)  # not ascontiguousarray: that turns a 0-d array into 1-d
    if not host.flags.c_contiguous:
        host = np.ascontiguousarray(host)
    return cuda.to_device(host)


def to_host(array) -> np.ndarray:
    """Copy a device array to a NumPy array (host arrays are returned as NumPy arrays).

    Waits for the kernels that write ``array`` to finish.
    """
    if is_device_array(array):
        return as_device_array(array).copy_to_host()
    return np.asarray(array)


# --- backends --------------------------------------------------------------------------------


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
    """The operations an op needs from a device. ``name`` is ``"cpu"`` or ``"cuda"``."""

    name: str
    kernels: _KernelModules

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


def _kind(value) -> str:
    return "a CUDA device array" if is_device_array(value) else "a host (NumPy) array"


def select(op: str, **arrays) -> Backend:
    """The backend for a call of ``op`` with these array arguments (None values are skipped).

    All host -> CPU; all device -> CUDA (RuntimeError when CUDA is not usable); a mix ->
    TypeError naming each argument and its kind.
    """
    given = {name: value for name, value in arrays.items() if value is not None}
    on_device = {name for name, value in given.items() if is_device_array(value)}
    if not on_device:
        return CPU
    if len(on_device) < len(given):
        kinds = ", ".join(f"{name} is {_kind(value)}" for name, value in given.items())
        raise TypeError(
            f"{op}: all array arguments must be on the same device, got {kinds}; move them "
            "with numbaconv.to_device(...) or numbaconv.to_host(...)"
        )
    _require_cuda()
    return CUDA


# --- show_config -----------------------------------------------------------------------------


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cuda_description() -> str:
    problem = _cuda_problem()
    if problem is not None:
        return f"unavailable: {problem}"
    cuda, _ = _import_cuda()
    if _simulating(cuda):
        return "simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else device.name
        major, minor = device.compute_capability
        return f"{name}, compute capability {major}.{minor}"
    except Exception as exc:  # a driver that answers is_available but then fails
        return f"error while querying the device: {type(exc).__name__}: {exc}"


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet in this process
        return f"not chosen yet (NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER})"


def show_config(file=None) -> None:
    """Print what a bug report needs: versions, threading, CUDA device or simulator, caches.

    Parameters
    ----------
    file : writable text stream, optional
        Where to print; ``sys.stdout`` by default.
    """
    import numba

    out = sys.stdout if file is None else file
    cache_dir = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside each kernel module"
    fastmath = ",".join(sorted(config.FASTMATH)) or "off"
    lines = [
        ("numbaconv", f"{_version('numbaconv')} ({os.path.dirname(os.path.abspath(__file__))})"),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("numba-cuda", _version("numba-cuda")),
        ("scipy", _version("scipy")),
        ("threading layer", _threading_layer()),
        ("threads", f"{numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS}"),
        ("CUDA", _cuda_description()),
        ("kernel cache", f"{'on' if config.CACHE else 'off'}, folder: {cache_dir}"),
        ("CPU fastmath", fastmath),
        ("CUDA fastmath", "on" if _jit.CUDA_FASTMATH else "off (keeps NaN/Inf semantics)"),
        ("CUDA threads per block", str(config.CUDA_THREADS)),
    ]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key + ':':<{width + 1}} {value}", file=out)
