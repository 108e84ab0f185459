"""Optimizer updates on the CPU: SGD (PyTorch's semantics) and Adam (fastai's).

Twin of :mod:`numbaconv.kernels.cuda.optim` (same launcher names, arguments and meanings): one
pass updates each parameter element, its buffers and its state in place, with the operations
of ``numbaconv.optim``'s formulas in their order. Every scalar arrives already rounded to the
parameter's dtype, as NumPy rounds a Python float before it meets a float32 array, so the
result differs from the NumPy formula only by fused multiply-adds. Serial loops: a parameter
is at most a few thousand elements in the chapter's models, and the NumPy code these replace
was single-threaded too.
"""

from __future__ import annotations

from ..._jit import cpu_helper, cpu_serial_kernel
from .. import update_rules

_sgd_update = cpu_helper(update_rules.sgd_update)
_adam_update = cpu_helper(update_rules.adam_update)


def _sgd_step(
    data, grad, buf, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov
):
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
    ``keep`` is ``1 - dampening``; scalars are in ``data``'s dtype; flags are bools. All arrays
    are 1-D C-contiguous of one float dtype.
    """
    _sgd_step(
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
    _adam_step(
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
