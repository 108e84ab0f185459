"""CUDA twins of ``numbaconv.kernels.cpu.norm``: batch-norm statistics, running-stat update,
normalisation and its gradients (NCHW, per-channel statistics).

Same launchers, argument order and meanings as the CPU module.

Per-channel reductions (``batch_norm_stats``, ``batch_norm_backward``) give each block one
channel (grid-stride over channels). Each of the block's ``REDUCTION_THREADS`` threads sums a
fixed, strided subset of the channel's N·H·W elements in float64, then the partial sums are
combined by a shared-memory tree in a fixed pairing. No atomics, so results are identical from
run to run; the block width is a constant rather than ``NUMBACONV_CUDA_THREADS`` so that the
summation order, and hence every bit of the result, does not depend on the launch
configuration. (The order differs from the CPU's single running sum: the two backends agree to
rounding.) Statistics take one coalesced pass over the input (sums of ``x − shift`` and its
square, the shift one of the channel's values; see the kernel). The backward kernel's block
sums in one pass and then writes the channel's input gradients, with the float64 sums in hand.

Elementwise work (``batch_norm_apply``: one thread per element; ``batch_norm_invstd`` and
``batch_norm_update_running``: one thread per channel) uses the usual grid-stride launch.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from . import _max_blocks, launch_config

# A power of two (the tree halves it); 128 threads keep a multiprocessor busy per channel. The
# simulator starts an OS thread per CUDA thread and polls them all at every barrier: there 8
# threads run the same tree (3 levels instead of 7), 16 times cheaper.
REDUCTION_THREADS = 8 if cuda.config.ENABLE_CUDASIM else 128


def _block_sum(partial, value):
    """Sum of ``value`` over the block's threads, returned to every thread. ``partial`` is the
    block's shared float64 scratch of ``REDUCTION_THREADS`` elements; all threads must call."""
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    stride = REDUCTION_THREADS // 2
    while stride > 0:
        if t < stride:
            partial[t] += partial[t + stride]
        cuda.syncthreads()
        stride //= 2
    total = partial[0]
    # Every thread reads the total before anyone writes the scratch again.
    cuda.syncthreads()
    return total


def _sqrt(value):
    """``sqrt(value)``, NaN below zero as NumPy gives it (Python's math.sqrt, which the
    simulator runs, would raise there instead)."""
    return math.sqrt(value) if value >= 0 else math.nan


_block_sum = cuda_device(_block_sum)
_sqrt = cuda_device(_sqrt)


def _batch_norm_stats(x, eps, mean, var, invstd):
    partial = cuda.shared.array(REDUCTION_THREADS, dtype=np.float64)
    n_batch, channels, height, width = x.shape
    plane = height * width
    count = n_batch * plane
    t = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        # One pass over the channel, summing x - shift and its square. The shift is one of the
        # channel's own values, so (mean - shift)² is of the order of the variance and
        # E[d²] − E[d]² loses no more than the two-pass formula would; a non-finite shift
        # would turn every term into NaN, so plain sums (shift 0) propagate Inf as NumPy does.
        shift = np.float64(x[0, c, 0, 0])
        if not math.isfinite(shift):
            shift = 0.0
        total = 0.0
        squares = 0.0
        for i in range(t, count, REDUCTION_THREADS):
            r = i % plane
            deviation = x[i // plane, c, r // width, r % width] - shift
            total += deviation
            squares += deviation * deviation
        mean_deviation = _block_sum(partial, total) / count
        channel_var = _block_sum(partial, squares) / count - mean_deviation * mean_deviation
        if channel_var < 0.0:  # rounding; NaN passes through
            channel_var = 0.0
        if t == 0:
            mean[c] = shift + mean_deviation
            var[c] = channel_var
            invstd[c] = 1.0 / _sqrt(channel_var + eps)


def _batch_norm_invstd(var, eps, invstd):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for c in range(start, var.shape[0], step):
        invstd[c] = 1.0 / _sqrt(np.float64(var[c]) + eps)


def _batch_norm_update_running(mean, var, momentum, unbias, running_mean, running_var):
    keep = 1.0 - momentum
    start, step = cuda.grid(1), cuda.gridsize(1)
    for c in range(start, mean.shape[0], step):
        running_mean[c] = keep * running_mean[c] + momentum * np.float64(mean[c])
        running_var[c] = keep * running_var[c] + momentum * (np.float64(var[c]) * unbias)


def _batch_norm_apply(x, mean, invstd, weight, bias, out):
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, x.size, step):
        j = idx % width
        rest = idx // width
        i = rest % height
        rest = rest // height
        c = rest % channels
        n = rest // channels
        shift = np.float64(mean[c])
        scale = np.float64(invstd[c]) * weight[c]
        offset = np.float64(bias[c])
        out[n, c, i, j] = (x[n, c, i, j] - shift) * scale + offset


def _batch_norm_backward(
    grad_output, x, mean, invstd, weight, training, grad_input, grad_weight, grad_bias
):
    partial = cuda.shared.array(REDUCTION_THREADS, dtype=np.float64)
    n_batch, channels, height, width = x.shape
    plane = height * width
    count = n_batch * plane
    t = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        shift = np.float64(mean[c])
        channel_invstd = np.float64(invstd[c])
        sum_grad = 0.0
        sum_grad_centred = 0.0
        for i in range(t, count, REDUCTION_THREADS):
            n = i // plane
            r = i % plane
            g = np.float64(grad_output[n, c, r // width, r % width])
            sum_grad += g
            sum_grad_centred += g * (x[n, c, r // width, r % width] - shift)
        sum_grad = _block_sum(partial, sum_grad)
        sum_grad_xhat = _block_sum(partial, sum_grad_centred) * channel_invstd
        if t == 0:
            grad_bias[c] = sum_grad
            grad_weight[c] = sum_grad_xhat
        scale = channel_invstd * weight[c]
        # d/dx through the batch mean and variance (training):
        # invstd*w * (g - mean(g) - xhat * mean(g*xhat)); a constant scale otherwise.
        mean_grad = sum_grad / count
        mean_grad_xhat = sum_grad_xhat / count
        for i in range(t, count, REDUCTION_THREADS):
            n = i // plane
            r = i % plane
            h = r // width
            w = r % width
            if training:
                xhat = (x[n, c, h, w] - shift) * channel_invstd
                grad_input[n, c, h, w] = scale * (
                    grad_output[n, c, h, w] - mean_grad - xhat * mean_grad_xhat
                )
            else:
                grad_input[n, c, h, w] = scale * grad_output[n, c, h, w]


_batch_norm_stats = cuda_kernel(_batch_norm_stats)
_batch_norm_invstd = cuda_kernel(_batch_norm_invstd)
_batch_norm_update_running = cuda_kernel(_batch_norm_update_running)
_batch_norm_apply = cuda_kernel(_batch_norm_apply)
_batch_norm_backward = cuda_kernel(_batch_norm_backward)


def _signatures():
    f64, b1 = cuda.float64, cuda.boolean
    table = {}
    for f in (cuda.float32, cuda.float64):
        a4, a1 = f[:, :, :, ::1], f[::1]
        sigs = {
            "_batch_norm_stats": cuda.void(a4, f64, a1, a1, a1),
            "_batch_norm_invstd": cuda.void(a1, f64, a1),
            "_batch_norm_update_running": cuda.void(a1, a1, f64, f64, a1, a1),
            "_batch_norm_apply": cuda.void(a4, a1, a1, a1, a1, a4),
            "_batch_norm_backward": cuda.void(a4, a4, a1, a1, a1, b1, a4, a1, a1),
        }
        for name, sig in sigs.items():
            table.setdefault(name, []).append(sig)
    table["_block_sum"] = [f64(f64[::1], f64)]
    table["_sqrt"] = [f64(f64)]
    return table


PTX_SIGNATURES = _signatures()


def _reduction_blocks(channels):
    return min(channels, _max_blocks())


def batch_norm_stats(x, eps, mean, var, invstd):
    """Per-channel batch mean, biased variance and ``1/sqrt(var + eps)``.

    x (N, C, H, W) with N·H·W > 0; mean, var, invstd (C,) outputs.
    """
    if mean.size == 0:
        return
    _batch_norm_stats[_reduction_blocks(mean.size), REDUCTION_THREADS](
        x, float(eps), mean, var, invstd
    )


def batch_norm_invstd(var, eps, invstd):
    """``invstd = 1/sqrt(var + eps)`` for (C,) arrays (eval mode's running variance)."""
    if invstd.size == 0:
        return
    blocks, threads = launch_config(invstd.size)
    _batch_norm_invstd[blocks, threads](var, float(eps), invstd)


def batch_norm_update_running(mean, var, momentum, unbias, running_mean, running_var):
    """Blend batch statistics into the running ones in place.

    ``running = (1 − momentum)·running + momentum·batch``; the variance is scaled by
    ``unbias`` (M/(M−1)) first. All arrays (C,).
    """
    if mean.size == 0:
        return
    blocks, threads = launch_config(mean.size)
    _batch_norm_update_running[blocks, threads](
        mean, var, float(momentum), float(unbias), running_mean, running_var
    )


def batch_norm_apply(x, mean, invstd, weight, bias, out):
    """``out = (x − mean)·invstd·weight + bias`` per channel; x, out (N, C, H, W)."""
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _batch_norm_apply[blocks, threads](x, mean, invstd, weight, bias, out)


def batch_norm_backward(
    grad_output, x, mean, invstd, weight, training, grad_input, grad_weight, grad_bias
):
    """Gradients of :func:`batch_norm_apply` w.r.t. x, weight and bias.

    With ``training`` the input gradient flows through the batch statistics (``mean``
    and ``invstd`` must be the batch ones); otherwise they are constants. grad_output,
    x, grad_input (N, C, H, W); mean, invstd, weight, grad_weight, grad_bias (C,).
    """
    if grad_bias.size == 0:
        return
    _batch_norm_backward[_reduction_blocks(grad_bias.size), REDUCTION_THREADS](
        grad_output, x, mean, invstd, weight, bool(training), grad_input, grad_weight, grad_bias
    )
