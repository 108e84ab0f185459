"""Optimizer steps: one in-place SGD or Adam update of a parameter and its state buffers.

``numbaconv.optim``'s optimizers call these for every parameter; the kernels
(:mod:`numbaconv.kernels.cpu.optim`, :mod:`numbaconv.kernels.cuda.optim`) update each element,
its buffers and its state in one pass. Both functions accept NumPy arrays (CPU kernels) or CUDA
device arrays (CUDA kernels; nothing is copied to the host), all on one device.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _backend
from .._validate import KERNEL_DTYPES, as_array, boolean, check_shape, describe, finite_number

__all__ = ["adam_step", "sgd_step"]


def _hyper(name: str, value, maximum=None) -> float:
    """A finite float >= 0 (and <= ``maximum``): the common case checked without the generic
    validator, which a step per parameter would pay for ~10 times."""
    if type(value) is float or type(value) is int:
        number = float(value)
        if math.isfinite(number) and number >= 0 and (maximum is None or number <= maximum):
            return number
    return finite_number(name, value, minimum=0, maximum=maximum)


def _param(name: str, value):
    """``value`` as a flat view: a float32/float64, C-contiguous (writable) array."""
    if _backend.is_device_array(value):
        value = _backend.as_device_array(value)
        contiguous = value.is_c_contiguous()
    elif isinstance(value, np.ndarray):
        contiguous = value.flags.c_contiguous and value.flags.writeable
    else:
        raise TypeError(f"{name} must be a NumPy or CUDA device array, got {describe(value)}")
    if value.dtype not in KERNEL_DTYPES:
        raise TypeError(f"{name} has dtype {value.dtype}; expected float32 or float64")
    if not contiguous:
        raise ValueError(
            f"{name} must be a writable C-contiguous array (it is updated in place), got a "
            "non-contiguous or read-only one"
        )
    return value.reshape(value.size)


def _state(name: str, value, param, shape):
    """A state buffer: like ``param`` (dtype, device, layout) and of ``shape``."""
    flat = _param(name, value)
    check_shape(name, value, shape, "(the shape of param)")
    if flat.dtype != param.dtype:
        raise TypeError(f"{name} has dtype {flat.dtype}; expected {param.dtype}, param's dtype")
    return flat


def _grad(backend, grad, param, shape):
    grad = as_array("grad", grad)
    check_shape("grad", grad, shape, "(the shape of param)")
    return backend.contiguous(grad, param.dtype).reshape(param.size)


def sgd_step(
    param,
    grad,
    momentum_buffer=None,
    *,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    first_step=False,
):
    """One step of PyTorch's SGD on ``param``, in place.

    ``g = grad + weight_decay * param``; with momentum, ``buf = g`` on the first step, else
    ``momentum * buf + (1 - dampening) * g``, and ``g = g + momentum * buf`` (Nesterov) or
    ``buf``; then ``param -= lr * g``.

    Parameters
    ----------
    param : numpy.ndarray or CUDA device array, any shape
        float32 or float64, C-contiguous; updated in place.
    grad : array_like or CUDA device array, same shape
        Cast to ``param``'s dtype; any strides. Not modified.
    momentum_buffer : array like ``param``, optional
        Needed when ``momentum != 0``: written on the first step, updated after.
    lr, momentum, dampening, weight_decay : float
        Finite, >= 0 (``dampening`` in [0, 1]); rounded to ``param``'s dtype (as NumPy rounds
        a Python float that meets a float32 array).
    nesterov, first_step : bool
        Nesterov momentum; whether ``momentum_buffer`` is fresh (its content is ignored).

    Raises
    ------
    ValueError, TypeError
        Mismatched shapes or dtypes, a missing buffer, a non-contiguous ``param``, a bad
        hyper-parameter, or arrays on different devices.
    """
    backend = _backend.select("sgd_step", param=param, grad=grad, momentum_buffer=momentum_buffer)
    data = _param("param", param)
    shape = tuple(param.shape)
    lr, momentum = _hyper("lr", lr), _hyper("momentum", momentum)
    keep = 1.0 - _hyper("dampening", dampening, maximum=1)
    weight_decay = _hyper("weight_decay", weight_decay)
    nesterov, first_step = boolean("nesterov", nesterov), boolean("first_step", first_step)
    use_momentum = momentum != 0
    buf = data  # never read without momentum
    if use_momentum:
        if momentum_buffer is None:
            raise ValueError("momentum_buffer is None; SGD with momentum != 0 needs one")
        buf = _state("momentum_buffer", momentum_buffer, data, shape)
    flat_grad = _grad(backend, grad, data, shape)
    if data.size == 0:
        return
    backend.kernels.optim.sgd_step(
        data,
        flat_grad,
        buf,
        lr,
        momentum,
        keep,
        weight_decay,
        weight_decay != 0,
        use_momentum,
        first_step,
        nesterov,
    )


def adam_step(
    param, grad, grad_avg, sqr_avg, *, step, lr, mom, sqr_mom, eps, wd=0.0, decouple_wd=True
):
    """One step of fastai's Adam on ``param``, in place (see :class:`numbaconv.optim.Adam`).

    ``param *= 1 - lr*wd`` (decoupled) or ``g = grad + wd*param`` (L2); ``grad_avg`` and
    ``sqr_avg`` become the moving averages of ``g`` and ``g**2``; then
    ``param -= lr / (1 - mom**step) * grad_avg / (sqrt(sqr_avg / (1 - sqr_mom**step)) + eps)``.

    Parameters
    ----------
    param : numpy.ndarray or CUDA device array, any shape
        float32 or float64, C-contiguous; updated in place.
    grad : array_like or CUDA device array, same shape
        Cast to ``param``'s dtype; any strides. Not modified.
    grad_avg, sqr_avg : arrays like ``param``
        The moving averages (zeros before the first step), updated in place.
    step : int
        This step's number, counted from 1 (the bias corrections use it).
    lr, mom, sqr_mom, eps, wd : float
        Finite, >= 0; ``mom`` and ``sqr_mom`` in [0, 1). Rounded to ``param``'s dtype.
    decouple_wd : bool, default True

    Raises
    ------
    ValueError, TypeError
        As :func:`sgd_step`, or ``step < 1``.
    """
    backend = _backend.select(
        "adam_step", param=param, grad=grad, grad_avg=grad_avg, sqr_avg=sqr_avg
    )
    data = _param("param", param)
    shape = tuple(param.shape)
    m_avg = _state("grad_avg", grad_avg, data, shape)
    v_avg = _state("sqr_avg", sqr_avg, data, shape)
    if (
        type(step) is not int
        and (isinstance(step, (bool, np.bool_)) or not isinstance(step, np.integer))
    ) or step < 1:
        raise ValueError(f"step must be an integer >= 1, got {describe(step)}")
    lr, eps, wd = _hyper("lr", lr), _hyper("eps", eps), _hyper("wd", wd)
    mom, sqr_mom = _hyper("mom", mom), _hyper("sqr_mom", sqr_mom)
    if mom >= 1 or sqr_mom >= 1:
        name, value = ("mom", mom) if mom >= 1 else ("sqr_mom", sqr_mom)
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    decoupled = boolean("decouple_wd", decouple_wd)
    flat_grad = _grad(backend, grad, data, shape)
    if data.size == 0:
        return
    # Python floats: the launchers round them to the parameter's dtype, as NumPy would.
    backend.kernels.optim.adam_step(
        data,
        flat_grad,
        m_avg,
        v_avg,
        1.0 - lr * wd,
        wd != 0 and decoupled,
        wd != 0 and not decoupled,
        wd,
        mom,
        1.0 - mom,
        sqr_mom,
        1.0 - sqr_mom,
        lr / (1.0 - mom**step),
        1.0 - sqr_mom**step,
        eps,
    )
