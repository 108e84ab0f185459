"""Negative log-likelihood: pick one log-probability per sample (and scatter its gradient back).

``nn.functional.nll_loss`` and ``cross_entropy`` call these. Both functions accept NumPy arrays
(CPU kernels, :mod:`numbaconv.kernels.cpu.loss`) or CUDA device arrays (CUDA kernels,
:mod:`numbaconv.kernels.cuda.loss`; nothing is copied to the host). Host class indices are
range-checked here; device ones cannot be without a host round trip, so an out-of-range device
index gives a NaN loss (and NaN gradient row) instead.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _backend
from .._validate import as_array, check_shape, result_dtype

__all__ = ["nll_loss", "nll_loss_grad", "nll_targets"]


def _int_dtype(name: str, arr) -> None:
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integer class indices, got dtype {arr.dtype}; "
            "class probabilities (float targets) are not supported"
        )


def nll_targets(target, input_shape, device: str = "cpu"):
    """``target`` checked against an input of ``input_shape`` and made int64 on ``device``.

    Parameters
    ----------
    target : array_like of int or CUDA device array, shape (N, d1, ...)
        Class indices in [0, C) for an input of shape (N, C, d1, ...).
    input_shape : tuple of int
    device : {"cpu", "cuda"}
        Where the input lives; host indices are copied to the device for a CUDA input.

    Returns
    -------
    numpy.ndarray or numba device array of int64, C-contiguous, shape (N, d1, ...)

    Raises
    ------
    TypeError
        Float targets, or device targets for a host input.
    ValueError
        Wrong shape, or (host) an index outside [0, C).
    """
    input_shape = tuple(input_shape)
    expected = (input_shape[0], *input_shape[2:])
    if _backend.is_device_array(target):
        arr = _backend.as_device_array(target)
        if device != "cuda":
            raise _backend.mixed_device_error("nll_loss", input=np.empty(0), target=arr)
        _int_dtype("target", arr)
        check_shape("target", arr, expected, f"for input of shape {input_shape}")
        return _backend.CUDA.xp.astype(arr, np.int64, copy=False)
    arr = np.asarray(target)
    _int_dtype("target", arr)
    check_shape("target", arr, expected, f"for input of shape {input_shape}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    classes = input_shape[1]
    bad = _backend.CPU.kernels.loss.first_invalid_label(arr.reshape(arr.size), classes)
    if bad >= 0:
        raise ValueError(
            f"target holds class index {int(arr.flat[bad])}, outside [0, {classes}) for input "
            f"with {classes} classes"
        )
    return _backend.to_device(arr) if device == "cuda" else arr


def _rows(arr, n, trailing):
    """``arr`` seen as (N, trailing..., S): the spatial axes folded into one."""
    return arr.reshape((n, *trailing, math.prod(arr.shape[len(trailing) + 1 :])))


def nll_loss(log_probs, target):
    """Per-sample negative log-likelihood ``-log_probs[n, target[n, ...], ...]``.

    Parameters
    ----------
    log_probs : array_like or CUDA device array, shape (N, C) or (N, C, d1, ...)
        float32 or float64 (integer and bool host arrays are cast to float64).
    target : array_like of int or CUDA device array, shape (N,) or (N, d1, ...)
        Class indices in [0, C), on ``log_probs``'s device (host indices are copied over).

    Returns
    -------
    numpy.ndarray or numba device array, shape (N, d1, ...), ``log_probs``'s dtype
    """
    backend = _backend.select("nll_loss", log_probs=log_probs)
    log_probs = as_array("log_probs", log_probs)
    if log_probs.ndim < 2:
        raise ValueError(f"log_probs must have shape (N, C, ...), got shape {log_probs.shape}")
    shape = tuple(log_probs.shape)
    target = nll_targets(target, shape, backend.name)
    dtype = result_dtype(log_probs)
    out = backend.empty(target.shape, dtype)
    if out.size:
        log_probs = backend.contiguous(log_probs, dtype)
        backend.kernels.loss.nll_forward(
            _rows(log_probs, shape[0], shape[1:2]),
            _rows(target, shape[0], ()),
            _rows(out, shape[0], ()),
        )
    return out


def nll_loss_grad(grad_output, target, input_shape):
    """Gradient of :func:`nll_loss` w.r.t. ``log_probs``: ``-grad_output`` at each target.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, d1, ...)
        float32 or float64 (integer and bool host arrays are cast to float64).
    target : array_like of int or CUDA device array, shape (N, d1, ...)
        The class indices given to :func:`nll_loss`.
    input_shape : tuple of int
        ``(N, C, d1, ...)``, the shape of ``log_probs``.

    Returns
    -------
    numpy.ndarray or numba device array of shape ``input_shape`` in ``grad_output``'s dtype
    """
    backend = _backend.select("nll_loss_grad", grad_output=grad_output)
    grad_output = as_array("grad_output", grad_output)
    shape = tuple(int(n) for n in input_shape)
    if len(shape) < 2:
        raise ValueError(f"input_shape must be (N, C, ...), got {shape}")
    check_shape("grad_output", grad_output, (shape[0], *shape[2:]), f"for input_shape {shape}")
    target = nll_targets(target, shape, backend.name)
    dtype = result_dtype(grad_output)
    grad_input = backend.empty(shape, dtype)
    if grad_input.size:
        grad_output = backend.contiguous(grad_output, dtype)
        backend.kernels.loss.nll_backward(
            _rows(grad_output, shape[0], ()),
            _rows(target, shape[0], ()),
            _rows(grad_input, shape[0], shape[1:2]),
        )
    return grad_input
