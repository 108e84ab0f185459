"""``numbaconv.warmup()``: compile every CPU kernel once, up front."""

from __future__ import annotations

import numpy as np

from . import ops
from .ops import max_pool_codes


def warmup(dtypes=(np.float32, np.float64)) -> None:
    """Compile (or load from the on-disk cache) every CPU kernel for the given dtypes.

    Kernels compile lazily on first use, a few seconds each. Call this once at start-up
    to pay that cost before timing-sensitive work; with a warm ``NUMBA_CACHE_DIR`` it only
    loads the cached machine code.

    Parameters
    ----------
    dtypes : sequence of numpy dtypes, default (float32, float64)
        The float types to compile for.
    """
    for dtype in dtypes:
        x = np.ones((2, 2, 4, 4), dtype)
        w = np.ones((2, 1, 3, 3), dtype)
        y = ops.conv2d(x, w, np.zeros(2, dtype), padding=1, groups=2)
        ops.conv2d_grad_input(x.shape, w, y, padding=1, groups=2)
        ops.conv2d_grad_weight(x, w.shape, y, padding=1, groups=2)
        ops.conv2d_grad_bias(y)
        x1 = x[:, :1]  # one input channel: the direct forward and weight-gradient kernels
        ops.conv2d_grad_weight(x1, w.shape, ops.conv2d(x1, w, stride=2), stride=2)
        ops.relu_grad(y, ops.relu(y))
        p = ops.max_pool2d(x, 2)
        ops.max_pool2d_grad(p, x, 2)
        _, codes = max_pool_codes.max_pool2d_with_codes(x, 2)  # what autograd runs for 2x2
        max_pool_codes.max_pool2d_grad_codes(p, codes, x.shape)
        a = ops.avg_pool2d(x, 2)
        ops.avg_pool2d_grad(a, x.shape, 2)
        q = ops.adaptive_avg_pool2d(x, 1)
        ops.adaptive_avg_pool2d_grad(q, x.shape)
        mean, var = np.zeros(2, dtype), np.ones(2, dtype)
        z, (m, invstd) = ops.batch_norm(x, mean, var, training=True, return_stats=True)
        ops.batch_norm_grad(z, x, m, invstd)
        ops.batch_norm(x, mean, var, training=False)
        ops.correlate2d(x[0, 0], w[0, 0])
        ops.correlate2d(x[0, 0], w[0, 0], boundary="symm")
