"""Batch-norm kernels (NCHW, per-channel statistics).

Reductions give each ``prange`` iteration one whole channel, summed over (N, H, W)
in a fixed order in float64 accumulators, so results do not depend on the thread
count. Elementwise passes give each iteration one image. Launchers take
C-contiguous arrays of one float dtype (per-channel arrays of shape (C,)) and
preallocated outputs; ``numbaconv.ops.norm`` validates and allocates.
"""

from __future__ import annotations

import numba
import numpy as np

from ..._jit import cpu_kernel, cpu_serial_kernel


def _batch_norm_stats(x, eps, mean, var, invstd):
    n_batch, channels, plane = x.shape
    count = n_batch * plane
    for c in numba.prange(channels):
        # Each plane is summed into its own accumulator, then added in: LLVM vectorises a
        # reduction only when its accumulator lives in the innermost loop (one running
        # sum across the n loop measured 8x slower).
        total = 0.0
        for n in range(n_batch):
            row = x[n, c]
            plane_total = 0.0
            for i in range(plane):
                plane_total += row[i]
            total += plane_total
        channel_mean = total / count
        # Two passes: summing squared deviations avoids E[x²] − E[x]² cancellation.
        squares = 0.0
        for n in range(n_batch):
            row = x[n, c]
            plane_squares = 0.0
            for i in range(plane):
                deviation = row[i] - channel_mean
                plane_squares += deviation * deviation
            squares += plane_squares
        channel_var = squares / count
        mean[c] = channel_mean
        var[c] = channel_var
        invstd[c] = 1.0 / np.sqrt(channel_var + eps)


def _batch_norm_invstd(var, eps, invstd):
    for c in range(var.shape[0]):
        invstd[c] = 1.0 / np.sqrt(np.float64(var[c]) + eps)


def _batch_norm_update_running(mean, var, momentum, unbias, running_mean, running_var):
    keep = 1.0 - momentum
    for c in range(mean.shape[0]):
        running_mean[c] = keep * running_mean[c] + momentum * np.float64(mean[c])
        running_var[c] = keep * running_var[c] + momentum * (np.float64(var[c]) * unbias)


def _batch_norm_apply(x, mean, invstd, weight, bias, out):
    n_batch, channels, plane = x.shape
    for n in numba.prange(n_batch):
        for c in range(channels):
            shift = np.float64(mean[c])
            scale = np.float64(invstd[c]) * weight[c]
            offset = np.float64(bias[c])
            for i in range(plane):
                out[n, c, i] = (x[n, c, i] - shift) * scale + offset


def _batch_norm_backward(
    grad_output, x, mean, invstd, weight, training, grad_input, grad_weight, grad_bias
):
    n_batch, channels, plane = x.shape
    count = n_batch * plane
    for c in numba.prange(channels):
        shift = np.float64(mean[c])
        channel_invstd = np.float64(invstd[c])
        sum_grad = 0.0
        sum_grad_centred = 0.0
        for n in range(n_batch):
            g_row = grad_output[n, c]
            x_row = x[n, c]
            plane_grad = 0.0
            plane_grad_centred = 0.0
            for i in range(plane):
                g = np.float64(g_row[i])
                plane_grad += g
                plane_grad_centred += g * (x_row[i] - shift)
            sum_grad += plane_grad
            sum_grad_centred += plane_grad_centred
        sum_grad_xhat = sum_grad_centred * channel_invstd
        grad_bias[c] = sum_grad
        grad_weight[c] = sum_grad_xhat
        scale = channel_invstd * weight[c]
        if training:
            # d/dx through the batch mean and variance:
            # invstd*w * (g - mean(g) - xhat * mean(g*xhat)).
            mean_grad = sum_grad / count
            mean_grad_xhat = sum_grad_xhat / count
            for n in range(n_batch):
                for i in range(plane):
                    xhat = (x[n, c, i] - shift) * channel_invstd
                    grad_input[n, c, i] = scale * (
                        grad_output[n, c, i] - mean_grad - xhat * mean_grad_xhat
                    )
        else:
            for n in range(n_batch):
                for i in range(plane):
                    grad_input[n, c, i] = scale * grad_output[n, c, i]


def _planes(arr):
    """(N, C, H, W) -> (N, C, H·W): one flat loop per plane instead of short rows (a free
    reshape: launchers get C-contiguous arrays)."""
    n, c, h, w = arr.shape
    return arr.reshape(n, c, h * w)


_batch_norm_stats = cpu_kernel(_batch_norm_stats)
_batch_norm_invstd = cpu_serial_kernel(_batch_norm_invstd)
_batch_norm_update_running = cpu_serial_kernel(_batch_norm_update_running)
_batch_norm_apply = cpu_kernel(_batch_norm_apply)
_batch_norm_backward = cpu_kernel(_batch_norm_backward)


def batch_norm_stats(x, eps, mean, var, invstd):
    """Per-channel batch mean, biased variance and ``1/sqrt(var + eps)``.

    x (N, C, H, W) with N·H·W > 0; mean, var, invstd (C,) outputs.
    """
    _batch_norm_stats(_planes(x), float(eps), mean, var, invstd)


def batch_norm_invstd(var, eps, invstd):
    """``invstd = 1/sqrt(var + eps)`` for (C,) arrays (eval mode's running variance)."""
    _batch_norm_invstd(var, float(eps), invstd)


def batch_norm_update_running(mean, var, momentum, unbias, running_mean, running_var):
    """Blend batch statistics into the running ones in place.

    ``running = (1 − momentum)·running + momentum·batch``; the variance is scaled by
    ``unbias`` (M/(M−1)) first. All arrays (C,).
    """
    _batch_norm_update_running(mean, var, float(momentum), float(unbias), running_mean, running_var)


def batch_norm_apply(x, mean, invstd, weight, bias, out):
    """``out = (x − mean)·invstd·weight + bias`` per channel; x, out (N, C, H, W)."""
    _batch_norm_apply(_planes(x), mean, invstd, weight, bias, _planes(out))


def batch_norm_backward(
    grad_output, x, mean, invstd, weight, training, grad_input, grad_weight, grad_bias
):
    """Gradients of :func:`batch_norm_apply` w.r.t. x, weight and bias.

    With ``training`` the input gradient flows through the batch statistics (``mean``
    and ``invstd`` must be the batch ones); otherwise they are constants. grad_output,
    x, grad_input (N, C, H, W); mean, invstd, weight, grad_weight, grad_bias (C,).
    """
    _batch_norm_backward(
        _planes(grad_output),
        _planes(x),
        mean,
        invstd,
        weight,
        bool(training),
        _planes(grad_input),
        grad_weight,
        grad_bias,
    )
