"""Argument checking and shape arithmetic shared by every public entry point.

Everything here runs in Python before a kernel is called: Numba does no bounds
checking, so a shape that slips through would read or write foreign memory.
Every error names the argument, the value received and what was expected.

CUDA device arrays (numba's, or anything with ``__cuda_array_interface__``) pass through
without a copy to the host; ``ndim``, ``shape`` and ``dtype`` checks work on them as on NumPy
arrays.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _backend

KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def describe(value) -> str:
    """Short text for an error message: shape and dtype for arrays, a clipped repr otherwise."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if _backend.is_device_array(value):
        return f"CUDA device array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_device_array(name: str, value):
    arr = _backend.as_device_array(value)
    if arr.dtype in KERNEL_DTYPES:
        return arr
    kind = "integer or bool " if arr.dtype.kind in "biu" else ""
    raise TypeError(
        f"{name} is a CUDA device array of {kind}dtype {arr.dtype}; device arrays must be "
        "float32 or float64; cast it first, on the host (before numbaconv.to_device) or on the "
        "device"
    )


def as_array(name: str, value):
    """Return ``value`` as a NumPy array, refusing types no kernel can handle.

    Integer and bool arrays are cast to float64; float32 and float64 pass as they are.
    A CUDA device array is returned as a numba device array (foreign ones wrapped without a
    copy, nothing copied to the host); it must already be float32 or float64: integer and bool
    device arrays are refused rather than cast, so that a dtype slip on the device is not
    hidden behind a silent device copy.
    """
    if _backend.is_device_array(value):
        return _as_device_array(name, value)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like, got {describe(value)}") from exc
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype in KERNEL_DTYPES:
        return arr
    if kind == "f":  # float16, longdouble: no kernel for these
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected float32 or float64 (or an integer or "
            "bool array, which is cast to float64)"
        )
    raise TypeError(
        f"{name} has unsupported dtype {arr.dtype}; expected a real numeric array "
        "(float32, float64, integer or bool)"
    )


def result_dtype(*arrays) -> np.dtype:
    """The float dtype a kernel runs in: float64 if any input is float64, else float32."""
    # From the dtypes, so that device arrays (which NumPy cannot inspect) work too.
    return np.result_type(*(getattr(arr, "dtype", arr) for arr in arrays))


def check_ndim(name: str, arr: np.ndarray, ndim: int, layout: str) -> None:
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D with layout {layout}, got {arr.ndim}-D shape {arr.shape}"
        )


def check_shape(name: str, arr: np.ndarray, expected: tuple, why: str) -> None:
    if tuple(arr.shape) != tuple(expected):
        raise ValueError(f"{name} has shape {tuple(arr.shape)}; expected {tuple(expected)} {why}")


def integer(name: str, value, *, minimum: int | None = None) -> int:
    """A Python int from an int-like scalar; bools, floats and NaN are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def int_pair(name: str, value, *, minimum: int | None = None) -> tuple[int, int]:
    """``(h, w)`` from an int, a one-element tuple (both axes) or a pair of ints, as PyTorch's
    ``_pair`` and its C++ argument parsing."""
    if isinstance(value, (tuple, list, np.ndarray)):
        items = list(np.ravel(value)) if isinstance(value, np.ndarray) else list(value)
        if len(items) not in (1, 2):
            raise ValueError(
                f"{name} must be an int or a tuple of one or two ints, got {describe(value)}"
            )
        try:
            return (
                integer(name, items[0], minimum=minimum),
                integer(name, items[-1], minimum=minimum),
            )
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (in {name}={describe(value)})") from None
    return (integer(name, value, minimum=minimum),) * 2


def pool_stride(stride, kernel: tuple[int, int]) -> tuple[int, int]:
    """A pooling stride: ``None`` or an empty tuple/list mean ``kernel`` (PyTorch's default),
    anything else as :func:`int_pair` (>= 1)."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return int_pair("stride", stride, minimum=1)


def image_batch(name: str, arr, backend):
    """``(batch, unbatched)``: a 4-D (N, C, H, W) array as it is, or a 3-D (C, H, W) image as
    a batch of one (``unbatched`` True), as PyTorch's conv and pooling functions accept.

    A 3-D device array is made C-contiguous first: numba reshapes only contiguous arrays.
    """
    if arr.ndim == 3:
        if _backend.is_device_array(arr):
            arr = backend.contiguous(arr, arr.dtype)
        return arr.reshape((1, *arr.shape)), True
    if arr.ndim != 4:
        raise ValueError(
            f"{name} must be 3-D (C, H, W) or 4-D (N, C, H, W), got {arr.ndim}-D shape "
            f"{tuple(arr.shape)}"
        )
    return arr, False


def image_shape(name: str, value) -> tuple[tuple[int, int, int, int], bool]:
    """``(shape4, unbatched)`` from an (N, C, H, W) or (C, H, W) tuple of non-negative ints
    (the ``input_shape`` of gradient functions)."""
    if not isinstance(value, (tuple, list)) or len(value) not in (3, 4):
        raise ValueError(
            f"{name} must be a tuple of 4 (N, C, H, W) or 3 (C, H, W) non-negative ints, "
            f"got {value!r}"
        )
    try:
        shape = tuple(integer(name, item, minimum=0) for item in value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc} (in {name}={value!r})") from None
    return ((1, *shape), True) if len(shape) == 3 else (shape, False)


def unbatch(arr, unbatched: bool):
    """Drop the batch axis of a fresh (1, ...) result again when the input was unbatched."""
    return arr.reshape(tuple(arr.shape[1:])) if unbatched else arr


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooling output size; with ``ceil_mode`` the last window must start
    inside the input or the left padding, never wholly in the right padding."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = span // stride + 1
    return out


def boolean(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def finite_number(name: str, value, *, minimum=None, maximum=None) -> float:
    """A finite Python float, optionally within ``[minimum, maximum]``; bools are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if maximum is not None and minimum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{name} must be in [{minimum}, {maximum}], got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def choice(name: str, value, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {describe(value)}")
    return value
