"""``numbaconv.warmup()``: compile every CPU kernel once, up front."""

from __future__ import annotations

import os
import subprocess
import sys

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


# A first training run spends nearly all its time compiling (about 24 of 26 s for
# `numbaconv train` on the 2-core box), and Numba compiles on one core under a global lock.
# With an empty kernel cache, the training kernels are therefore compiled in two processes
# at once: a child compiles the backward-pass kernels into the shared on-disk cache while this
# process compiles the forward ones; the step itself then loads them all from the cache.


def _conv_inputs(dtype):
    # Tiny shapes that take the same paths, with the same signatures, as the chapter's
    # stride-2 layers: im2col + BLAS (never the direct or Winograd paths, which need larger
    # or stride-1 inputs and compile lazily if a model uses them).
    x = np.ones((2, 2, 6, 6), dtype)
    w = np.ones((3, 2, 3, 3), dtype)
    y = np.ones((2, 3, 3, 3), dtype)
    return x, w, y


def _forward_kernels(dtype, batch_norm=False) -> None:
    """What a training step's forward pass compiles, and the weight gradient (to balance
    the two processes: it shares the im2col helpers with the forward)."""
    x, w, y = _conv_inputs(dtype)
    ops.relu(ops.conv2d(x, w, np.zeros(3, dtype), stride=2, padding=1))
    ops.conv2d_grad_weight(x, w.shape, y, stride=2, padding=1)
    ops.nll_loss(np.zeros((2, 3), dtype), np.zeros(2, np.int64))
    if batch_norm:
        ones, zeros = np.ones(3, dtype), np.zeros(3, dtype)
        for training in (True, False):
            ops.batch_norm(y, zeros.copy(), ones.copy(), ones, zeros, training=training)


def _backward_kernels(dtype, batch_norm=False) -> None:
    """The rest of a training step: input and bias gradients, ReLU's and the loss's
    gradients, Adam's update (the CLI's default optimizer)."""
    dtype = np.dtype(dtype)
    if batch_norm:
        ones = np.ones(3, dtype)
        ops.batch_norm_grad(ones.reshape(1, 3, 1, 1), ones.reshape(1, 3, 1, 1), ones, ones, ones)
    x, w, y = _conv_inputs(dtype)
    ops.conv2d_grad_input(x.shape, w, y, stride=2, padding=1)
    ops.conv2d_grad_bias(y)
    ops.relu_grad(y, y)
    ops.nll_loss_grad(np.ones(2, dtype), np.zeros(2, np.int64), (2, 3))
    p, g = np.zeros(4, dtype), np.ones(4, dtype)
    ops.adam_step(p, g, np.zeros_like(p), np.zeros_like(p), step=1, lr=1e-3, mom=0.9,
                  sqr_mom=0.99, eps=1e-5)  # fmt: skip


def _cache_is_cold() -> bool:
    """True when Numba's on-disk cache holds nothing yet for the conv kernels; False when
    it does, when caching is off, or when this Numba keeps its cache elsewhere."""
    from .kernels.cpu import conv

    try:
        index = conv._conv2d_grad_input.dispatcher._cache._cache_file._index_path
    except AttributeError:  # NUMBACONV_CACHE=0 (a null cache) or other Numba internals
        return False
    return not os.path.exists(index)


def warmup_training(dtype=np.float32, batch_norm=False) -> bool:
    """Compile a CNN training step's CPU kernels on two cores when the kernel cache is cold.

    Parameters
    ----------
    dtype : numpy dtype, default float32
    batch_norm : bool, default False
        Also the batch-norm kernels (training and evaluation forward, gradient).

    Returns
    -------
    bool
        Whether a second process compiled part of the kernels (False on a warm cache, with
        caching off, on one core, or when the child failed: the kernels then compile
        lazily, as they always may).
    """
    if (os.cpu_count() or 1) < 2 or not _cache_is_cold():
        return False
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    code = (
        "from numbaconv._warmup import _backward_kernels; "
        f"_backward_kernels({np.dtype(dtype).name!r}, {bool(batch_norm)})"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _forward_kernels(dtype, batch_norm)
    finally:
        child.wait()
    return child.returncode == 0
