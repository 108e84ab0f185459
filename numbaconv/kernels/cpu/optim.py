"""Optimizer updates on the CPU: SGD (PyTorch's semantics) and Adam (fastai's).

Twin of :mod:`numbaconv.kernels.cuda.optim` (same launcher names, arguments and meanings): one
pass updates each parameter element, its buffers and its state in place with the per-element
rules of :mod:`numbaconv.kernels.update_rules`, which the CUDA kernels compile too. The
launchers round every scalar to the parameter's dtype, as NumPy rounds a Python float before it
meets a float32 array, so the result differs from the NumPy formulas only by fused multiply-adds.
Serial loops: a parameter is at most a few thousand elements in the chapter's models, and the
NumPy code these replace was single-threaded too."""

from __future__ import annotations

import numpy as np

from ..._jit import cpu_helper, cpu_serial_kernel
from .. import update_rules

_sgd_update = cpu_helper(update_rules.sgd_update)
_adam_update = cpu_helper(update_rules.adam_update)


# Scalars travel as one small array in the parameter's dtype: Numba dispatches NumPy scalars
# about 8x slower than arrays (5 us against 0.6 us per call), and a step runs once per parameter.


def _sgd_step(data, grad, buf, hyper, decay, use_momentum, first, nesterov):
    lr, momentum, keep, weight_decay = hyper[0], hyper[1], hyper[2], hyper[3]
    for i in range(data.shape[0]):
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


def _adam_step(data, grad, grad_avg, sqr_avg, hyper, decoupled, l2):
    decay_factor, wd, mom, one_minus_mom = hyper[0], hyper[1], hyper[2], hyper[3]
    sqr_mom, one_minus_sqr_mom, step_size, debias2, eps = (
        hyper[4],
        hyper[5],
        hyper[6],
        hyper[7],
        hyper[8],
    )
    for i in range(data.shape[0]):
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


_sgd_step = cpu_serial_kernel(_sgd_step)
_adam_step = cpu_serial_kernel(_adam_step)


def sgd_step(
    data, grad, buf, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov
):
    """One SGD update of the flat parameter ``data`` from ``grad``, in place.

    ``buf`` is the momentum buffer (written on the ``first`` step, read and updated after);
    ``keep`` is ``1 - dampening``; scalars are Python floats, rounded here to ``data``'s dtype;
    flags are bools. All arrays
    are 1-D C-contiguous of one float dtype.
    """
    hyper = np.array((lr, momentum, keep, weight_decay), dtype=data.dtype)
    _sgd_step(data, grad, buf, hyper, bool(decay), bool(use_momentum), bool(first), bool(nesterov))


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
    hyper = np.array(
        (decay_factor, wd, mom, one_minus_mom, sqr_mom, one_minus_sqr_mom, step_size, debias2, eps),
        dtype=data.dtype,
    )
    _adam_step(data, grad, grad_avg, sqr_avg, hyper, bool(decoupled), bool(l2))
