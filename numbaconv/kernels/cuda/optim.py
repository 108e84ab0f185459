"""Optimizer updates on the device: SGD (PyTorch's semantics) and Adam (fastai's).

One thread owns one parameter element and updates it, its gradient-derived buffers and its
state in place, with the same operations in the same order as ``numbaconv.optim``'s NumPy code.
Every scalar arrives already rounded to the parameter's dtype, as NumPy rounds a Python float
before it meets a float32 array, so the two paths differ only by fused multiply-adds.
"""

from __future__ import annotations

import math

from numba import cuda

from ..._jit import cuda_kernel
from . import launch_config


def _sgd_step(
    data, grad, buf, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov
):
    start, step_size = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, data.shape[0], step_size):
        p = data[i]
        step = grad[i]
        if decay:
            step = step + weight_decay * p
        if use_momentum:
            if first:
                b = step
            else:
                b = buf[i] * momentum
                b = b + keep * step
            buf[i] = b
            step = step + momentum * b if nesterov else b
        data[i] = p - lr * step


def _adam_step(
    data,
    grad,
    grad_avg,
    sqr_avg,
    decay_factor,
    decoupled,
    l2,
    wd,
    mom,
    one_minus_mom,
    sqr_mom,
    one_minus_sqr_mom,
    step_size,
    debias2,
    eps,
):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, data.shape[0], stride):
        p = data[i]
        g = grad[i]
        if decoupled:
            p = p * decay_factor
        if l2:
            g = g + wd * p
        m = grad_avg[i] * mom
        m = m + one_minus_mom * g
        v = sqr_avg[i] * sqr_mom
        v = v + one_minus_sqr_mom * (g * g)
        grad_avg[i] = m
        sqr_avg[i] = v
        data[i] = p - step_size * m / (math.sqrt(v / debias2) + eps)


_sgd_step = cuda_kernel(_sgd_step)
_adam_step = cuda_kernel(_adam_step)


def _signatures():
    b1 = cuda.boolean
    table = {"_sgd_step": [], "_adam_step": []}
    for f in (cuda.float32, cuda.float64):
        v = f[::1]
        table["_sgd_step"].append(cuda.void(v, v, v, f, f, f, f, b1, b1, b1, b1))
        table["_adam_step"].append(cuda.void(v, v, v, v, f, b1, b1, f, f, f, f, f, f, f, f))
    return table


PTX_SIGNATURES = _signatures()


def sgd_step(
    data, grad, buf, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov
):
    """One SGD update of the flat parameter ``data`` from ``grad``, in place.

    ``buf`` is the momentum buffer (written on the ``first`` step, read and updated after);
    ``keep`` is ``1 - dampening``; scalars are in ``data``'s dtype; flags are bools. All arrays
    are 1-D C-contiguous device arrays of one float dtype.
    """
    if data.shape[0] == 0:
        return
    blocks, threads = launch_config(data.shape[0])
    _sgd_step[blocks, threads](
        data, grad, buf, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov
    )


def adam_step(
    data,
    grad,
    grad_avg,
    sqr_avg,
    decay_factor,
    decoupled,
    l2,
    wd,
    mom,
    one_minus_mom,
    sqr_mom,
    one_minus_sqr_mom,
    step_size,
    debias2,
    eps,
):
    """One Adam update (fastai's order) of the flat parameter ``data``, in place.

    ``decoupled``: multiply ``data`` by ``decay_factor`` (``1 - lr*wd``) first; ``l2``: add
    ``wd * data`` to the gradient instead. ``step_size`` is ``lr / (1 - mom**step)`` and
    ``debias2`` is ``1 - sqr_mom**step``. Scalars in ``data``'s dtype.
    """
    if data.shape[0] == 0:
        return
    blocks, threads = launch_config(data.shape[0])
    _adam_step[blocks, threads](
        data,
        grad,
        grad_avg,
        sqr_avg,
        decay_factor,
        decoupled,
        l2,
        wd,
        mom,
        one_minus_mom,
        sqr_mom,
        one_minus_sqr_mom,
        step_size,
        debias2,
        eps,
    )
