"""Devices and device arrays: is CUDA usable here, which arrays live on it, and moving arrays.

``numba.cuda`` is imported only when a CUDA array is in play or CUDA is asked about, so this
module works where numba-cuda is not installed. :func:`mixed_device_error` is the one message
every layer gives when arrays from two devices meet.
"""

from __future__ import annotations

import numpy as np

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


def _kind(value) -> str:
    return "a CUDA device array" if is_device_array(value) else "a host (NumPy) array"


def mixed_device_error(op: str, **arrays) -> TypeError:
    """The TypeError for a call of ``op`` whose arrays live on different devices.

    Every layer (ops, the array namespaces, autograd, the optimizers) raises this one message,
    naming each argument (None values skipped) and the device it is on.
    """
    kinds = ", ".join(
        f"{name} is {_kind(value)}" for name, value in arrays.items() if value is not None
    )
    return TypeError(
        f"{op}: all array arguments must be on the same device, got {kinds}; move them with "
        "Tensor.to(device), numbaconv.to_device(...) or numbaconv.to_host(...)"
    )
