"""Batch normalisation over (N, H, W) per channel, with PyTorch's F.batch_norm semantics.

Both functions accept NumPy arrays (CPU kernels, NumPy results) or CUDA device arrays
(numba's, or anything with ``__cuda_array_interface__``; CUDA kernels, numba device-array
results, no copy to the host), with the same validation and messages. Device arrays must be
float32 or float64; every array argument of one call, running statistics included, must be on
the same device (a mix is a TypeError).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _backend
from .._validate import (
    as_array,
    boolean,
    check_ndim,
    check_shape,
    finite_number,
    result_dtype,
)

__all__ = ["batch_norm", "batch_norm_grad"]

_LAYOUT = "(N, C, H, W)"


def _per_channel(backend, name: str, value, channels: int, dtype):
    arr = as_array(name, value)
    check_ndim(name, arr, 1, "(C,)")
    check_shape(name, arr, (channels,), f"to match the C={channels} channels of x")
    return backend.contiguous(arr, dtype)


def _constant(backend, channels: int, dtype, value: float):
    arr = np.full(channels, value, dtype)
    return arr if backend is _backend.CPU else _backend.to_device(arr)


def _copy(backend, arr, dtype):
    """A C-contiguous copy of ``arr`` in ``dtype`` that never aliases it."""
    out = backend.contiguous(arr, dtype)
    if out is not arr:
        return out
    if backend is _backend.CPU:
        return arr.copy()
    copy = backend.empty(arr.shape, dtype)
    copy.copy_to_device(arr)
    return copy


def _running_stat(name: str, value, channels: int, dtype):
    # Updated in place, so it must already be an array of exactly the input's dtype.
    if _backend.is_device_array(value):
        value = _backend.as_device_array(value)
    elif not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy array (it is updated in place) or None, got "
            f"{type(value).__name__}"
        )
    if value.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {value.dtype}; expected {dtype}, the dtype x is computed in"
        )
    check_ndim(name, value, 1, "(C,)")
    check_shape(name, value, (channels,), f"to match the C={channels} channels of x")
    return value


@dataclass(frozen=True)
class _Geometry:
    """A validated batch-norm call: the input's layout and the checked hyper-parameters."""

    shape: tuple  # (N, C, H, W)
    dtype: np.dtype
    training: bool
    momentum: float
    eps: float

    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def count(self) -> int:
        """M = N·H·W, the elements each channel's statistics are taken over."""
        n_batch, _, height, width = self.shape
        return n_batch * height * width


def _geometry(x, training, momentum, eps) -> _Geometry:
    check_ndim("x", x, 4, _LAYOUT)
    training = boolean("training", training)
    momentum = finite_number("momentum", momentum)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    eps = finite_number("eps", eps)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return _Geometry(tuple(x.shape), x.dtype, training, momentum, eps)


def _running_stats(running_mean, running_var, geo: _Geometry):
    """The validated ``(running_mean, running_var)``, or None when both are None."""
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            "running_mean and running_var must both be arrays or both be None, got "
            f"running_mean={'None' if running_mean is None else 'an array'} and "
            f"running_var={'None' if running_var is None else 'an array'}"
        )
    if running_mean is None:
        return None
    return (
        _running_stat("running_mean", running_mean, geo.channels, geo.dtype),
        _running_stat("running_var", running_var, geo.channels, geo.dtype),
    )


def _scale_or_shift(backend, name: str, value, geo: _Geometry, default: float):
    if value is None:
        return _constant(backend, geo.channels, geo.dtype, default)
    return _per_channel(backend, name, value, geo.channels, geo.dtype)


def _statistics(backend, x, geo: _Geometry, running):
    """``(mean, invstd)`` of this batch (training; running statistics updated) or of the
    running statistics (eval)."""
    kernels = backend.kernels.norm
    invstd = backend.empty(geo.channels, geo.dtype)
    if not geo.training:
        if running is None:
            raise ValueError(
                "running_mean and running_var are None; eval mode (training=False) needs them"
            )
        mean = _copy(backend, running[0], geo.dtype)
        kernels.batch_norm_invstd(backend.contiguous(running[1], geo.dtype), geo.eps, invstd)
        return mean, invstd
    if geo.count <= 1:
        raise ValueError(
            "Expected more than 1 value per channel when training, got x of shape "
            f"{geo.shape} (N·H·W = {geo.count})"
        )
    for name, arr in zip(("running_mean", "running_var"), running or (), strict=False):
        # Device memory has no read-only flag.
        if isinstance(arr, np.ndarray) and not arr.flags.writeable:
            raise ValueError(f"{name} is read-only; training updates it in place")
    mean = backend.empty(geo.channels, geo.dtype)
    var = backend.empty(geo.channels, geo.dtype)
    kernels.batch_norm_stats(x, geo.eps, mean, var, invstd)
    if running is not None:
        unbias = geo.count / (geo.count - 1)
        _update_running(backend, mean, var, geo.momentum, unbias, *running)
    return mean, invstd


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
    return_stats=False,
):
    """Batch normalisation of an NCHW batch, as PyTorch's ``F.batch_norm``.

    ``y = (x − mean)·invstd·weight + bias`` per channel, with ``invstd = 1/sqrt(var +
    eps)``. In training, ``mean`` and the biased ``var`` are taken over (N, H, W) of this
    batch and the running statistics, when given, are updated in place:
    ``running = (1 − momentum)·running + momentum·batch``, with the unbiased variance
    (times M/(M−1), M = N·H·W). In eval mode the running statistics are used.

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W)
        float32 or float64 (integer and bool host arrays are cast to float64). The
        result, the statistics and every (C,) argument are in this dtype.
    running_mean, running_var : numpy.ndarray or CUDA device array of shape (C,), or None
        Same dtype as ``x`` and on the same device (updated there in place); any
        strides. Both None or both arrays; required in eval mode.
    weight, bias : array_like or CUDA device array, shape (C,), optional
        Scale (default 1) and shift (default 0), cast to ``x``'s dtype.
    training : bool, default False
        Use (and track) batch statistics. Needs N·H·W > 1.
    momentum : float, default 0.1
        In [0, 1].
    eps : float, default 1e-5
        > 0.
    return_stats : bool, default False
        Also return the ``(mean, invstd)`` used, for :func:`batch_norm_grad`.

    Returns
    -------
    y : numpy.ndarray or numba device array, shape (N, C, H, W)
        On ``x``'s device, as are the statistics.
    (mean, invstd) : tuple of arrays, shape (C,), only with ``return_stats``
        The batch mean and ``1/sqrt(biased var + eps)`` in training; a copy of
        ``running_mean`` and ``1/sqrt(running_var + eps)`` in eval mode.

    Raises
    ------
    ValueError
        Wrong ndim or shapes, C mismatches, ``momentum`` outside [0, 1], ``eps <= 0``,
        only one running statistic given, none in eval mode, or training with
        N·H·W <= 1 (an empty batch included: there are no statistics to take).
    TypeError
        Unsupported dtypes, running statistics that are not arrays of ``x``'s dtype,
        non-bool flags, non-numeric momentum or eps, host and device arrays mixed.
    RuntimeError
        Device arrays given but CUDA is not usable (the message says what is missing).
    """
    backend = _backend.select(
        "batch_norm",
        x=x,
        running_mean=running_mean,
        running_var=running_var,
        weight=weight,
        bias=bias,
    )
    x = as_array("x", x)
    geo = _geometry(x, training, momentum, eps)
    return_stats = boolean("return_stats", return_stats)
    running = _running_stats(running_mean, running_var, geo)
    weight = _scale_or_shift(backend, "weight", weight, geo, 1.0)
    bias = _scale_or_shift(backend, "bias", bias, geo, 0.0)
    x = backend.contiguous(x, geo.dtype)
    mean, invstd = _statistics(backend, x, geo, running)
    y = backend.empty(x.shape, geo.dtype)
    if y.size:
        backend.kernels.norm.batch_norm_apply(x, mean, invstd, weight, bias, y)
    return (y, (mean, invstd)) if return_stats else y


def _update_running(backend, mean, var, momentum, unbias, running_mean, running_var):
    # The kernel needs contiguous arrays; strided ones are updated through a copy.
    targets = [
        backend.contiguous(running_mean, mean.dtype),
        backend.contiguous(running_var, mean.dtype),
    ]
    backend.kernels.norm.batch_norm_update_running(mean, var, momentum, unbias, *targets)
    for original, updated in zip((running_mean, running_var), targets, strict=True):
        if updated is not original:
            original[:] = updated  # on the device: a copy kernel, no host round trip


def batch_norm_grad(grad_output, x, mean, invstd, weight=None, training=True):
    """Gradients of :func:`batch_norm` w.r.t. its input, weight and bias.

    With ``xhat = (x − mean)·invstd`` and sums over (N, H, W) of each channel (M
    elements)::

        grad_weight = Σ g·xhat,   grad_bias = Σ g
        grad_input  = invstd·weight/M · (M·g − Σ g − xhat·Σ g·xhat)   (training)
        grad_input  = invstd·weight · g                                (eval)

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, C, H, W)
        Gradient of the loss w.r.t. ``batch_norm``'s output.
    x : array_like or CUDA device array, shape (N, C, H, W)
        The input given to ``batch_norm``.
    mean, invstd : array_like or CUDA device array, shape (C,)
        The statistics ``batch_norm(..., return_stats=True)`` returned for that call.
    weight : array_like or CUDA device array, shape (C,), optional
        The scale used in the forward pass (default 1).
    training : bool, default True
        Whether the forward pass used batch statistics (the input gradient then flows
        through them) or running ones (constants).

    Returns
    -------
    grad_input : numpy.ndarray or numba device array, shape (N, C, H, W)
    grad_weight, grad_bias : numpy.ndarray or numba device array, shape (C,)
        All on the inputs' device, in the result dtype of ``grad_output`` and ``x``
        (float32 only when both are float32). An empty batch gives an empty
        ``grad_input`` and zero sums.
    """
    backend = _backend.select(
        "batch_norm_grad", grad_output=grad_output, x=x, mean=mean, invstd=invstd, weight=weight
    )
    grad_output = as_array("grad_output", grad_output)
    x = as_array("x", x)
    check_ndim("x", x, 4, _LAYOUT)
    check_ndim("grad_output", grad_output, 4, _LAYOUT)
    check_shape("grad_output", grad_output, x.shape, "(the shape of x)")
    training = boolean("training", training)
    dtype = result_dtype(grad_output, x)
    n_batch, channels, height, width = x.shape
    mean = _per_channel(backend, "mean", mean, channels, dtype)
    invstd = _per_channel(backend, "invstd", invstd, channels, dtype)
    weight = (
        _constant(backend, channels, dtype, 1.0)
        if weight is None
        else _per_channel(backend, "weight", weight, channels, dtype)
    )
    grad_input = backend.empty(x.shape, dtype)
    if n_batch * height * width == 0:
        return grad_input, backend.zeros(channels, dtype), backend.zeros(channels, dtype)
    grad_weight = backend.empty(channels, dtype)
    grad_bias = backend.empty(channels, dtype)
    backend.kernels.norm.batch_norm_backward(
        backend.contiguous(grad_output, dtype),
        backend.contiguous(x, dtype),
        mean,
        invstd,
        weight,
        training,
        grad_input,
        grad_weight,
        grad_bias,
    )
    return grad_input, grad_weight, grad_bias
