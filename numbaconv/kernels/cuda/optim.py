"""Optimizer updates on the device: SGD (PyTorch's semantics) and Adam (fastai's).

One thread owns one parameter element and updates it, its gradient-derived buffers and its
state in place with the per-element rules of :mod:`numbaconv.kernels.update_rules`, which the
CPU kernels compile too.
The launchers round every scalar to the parameter's dtype, as NumPy rounds a Python float
before it meets a float32 array, so the CPU and CUDA paths differ only by fused multiply-adds.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from .. import update_rules
from . import launch_config

_sgd_update = cuda_device(update_rules.sgd_update)
_adam_update = cuda_device(update_rules.adam_update)


def _sgd_step(
    data, grad, buf, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov
):
    start, step_size = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, data.shape[0], step_size):
        p, b = _sgd_update(
            data[i],
            grad[i],
            buf[i],
            lr,
            momentum,
            keep,
            weight_decay,
            decay,
            use_momentum,
            first,
            nesterov,
        )
        if use_momentum:  # without momentum buf is data itself: never write it twice
            buf[i] = b
        data[i] = p


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
        data[i], grad_avg[i], sqr_avg[i] = _adam_update(
            data[i],
            grad[i],
            grad_avg[i],
            sqr_avg[i],
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
    ``keep`` is ``1 - dampening``; scalars are Python floats, rounded here to ``data``'s dtype;
    flags are bools. All arrays
    are 1-D C-contiguous device arrays of one float dtype.
    """
    if data.shape[0] == 0:
        return
    blocks, threads = launch_config(data.shape[0])
    f = data.dtype.type
    _sgd_step[blocks, threads](
        data,
        grad,
        buf,
        f(lr),
        f(momentum),
        f(keep),
        f(weight_decay),
        bool(decay),
        bool(use_momentum),
        bool(first),
        bool(nesterov),
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
    ``debias2`` is ``1 - sqr_mom**step``. Scalars are Python floats, rounded here to ``data``'s
    dtype.
    """
    if data.shape[0] == 0:
        return
    blocks, threads = launch_config(data.shape[0])
    f = data.dtype.type
    _adam_step[blocks, threads](
        data,
        grad,
        grad_avg,
        sqr_avg,
        f(decay_factor),
        bool(decoupled),
        bool(l2),
        f(wd),
        f(mom),
        f(one_minus_mom),
        f(sqr_mom),
        f(one_minus_sqr_mom),
        f(step_size),
        f(debias2),
        f(eps),
    )
