"""Slow, independent references built on SciPy, used across the test files.

Nothing here calls numbaconv: the convolution reference is assembled from
``scipy.signal.correlate2d`` on an explicitly padded input with an explicitly
dilated kernel, subsampled by the stride.
"""

from __future__ import annotations

import numpy as np
from scipy import signal


def dilate_kernel(kernel: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """Insert ``dilation - 1`` zeros between the taps of a 2-D kernel."""
    kh, kw = kernel.shape
    dh, dw = dilation
    out = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=kernel.dtype)
    out[::dh, ::dw] = kernel
    return out


def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Reference conv2d in float64; padding is (top, bottom, left, right)."""
    x = np.asarray(x, np.float64)
    weight = np.asarray(weight, np.float64)
    n = x.shape[0]
    o, cpg, _, _ = weight.shape
    top, bottom, left, right = padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    opg = o // groups
    rows = []
    for i in range(n):
        planes = []
        for j in range(o):
            g = j // opg
            acc = 0.0
            for k in range(cpg):
                kern = dilate_kernel(weight[j, k], dilation)
                acc = acc + signal.correlate2d(xp[i, g * cpg + k], kern, mode="valid")
            acc = acc[:: stride[0], :: stride[1]]
            if bias is not None:
                acc = acc + float(bias[j])
            planes.append(acc)
        rows.append(np.stack(planes))
    return np.stack(rows)


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar function ``f`` at ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def batch_norm(x, running_mean, running_var, weight, bias, training, eps):
    """Float64 batch norm over (N, H, W) per channel: ``(y, mean, invstd)``.

    Training uses this batch's mean and biased variance; eval the running statistics.
    """
    x = np.asarray(x, np.float64)
    if training:
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    else:
        mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    per_channel = (1, -1, 1, 1)
    xhat = (x - mean.reshape(per_channel)) * invstd.reshape(per_channel)
    y = xhat * np.asarray(weight, np.float64).reshape(per_channel)
    return y + np.asarray(bias, np.float64).reshape(per_channel), mean, invstd


def batch_norm_running(running_mean, running_var, x, momentum):
    """The running statistics after one training step (unbiased variance, as PyTorch)."""
    x = np.asarray(x, np.float64)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    return (1 - momentum) * running_mean + momentum * mean, (
        1 - momentum
    ) * running_var + momentum * var
