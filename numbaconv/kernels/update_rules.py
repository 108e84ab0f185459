"""Per-element optimizer updates, written once and compiled twice (imports no numba).

:mod:`numbaconv.kernels.cpu.optim` compiles these as inlined CPU helpers and
:mod:`numbaconv.kernels.cuda.optim` as CUDA device functions, so both backends run the same
operations in the same order: one element of a parameter, its gradient and its state in, the
updated values out. Scalars arrive in the parameter's dtype.
"""

from __future__ import annotations

import math


def sgd_update(p, g, b, lr, momentum, keep, weight_decay, decay, use_momentum, first, nesterov):
    """PyTorch's SGD on one element: ``(new p, new momentum buffer b)``.

    ``keep`` is ``1 - dampening``; without momentum ``b`` comes back unchanged.
    """
    step = g
    if decay:
        step = step + weight_decay * p
    if use_momentum:
        if first:
            b = step
        else:
            b = b * momentum
            b = b + keep * step
        step = step + momentum * b if nesterov else b
    return p - lr * step, b


def adam_update(
    p,
    g,
    m,
    v,
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
    """fastai's Adam on one element: ``(new p, new grad_avg m, new sqr_avg v)``.

    ``decoupled``: ``p *= decay_factor`` first; ``l2``: ``g += wd * p`` instead.
    """
    if decoupled:
        p = p * decay_factor
    if l2:
        g = g + wd * p
    m = m * mom
    m = m + one_minus_mom * g
    v = v * sqr_mom
    v = v + one_minus_sqr_mom * (g * g)
    return p - step_size * m / (math.sqrt(v / debias2) + eps), m, v
