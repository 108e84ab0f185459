"""Pooling kernels (max, average, adaptive average) and their gradients on the CPU.

Every kernel runs ``prange`` over the ``N*C`` planes. Forward kernels gather: each
output element is computed by the iteration that owns its plane. Backward kernels
scatter, but only inside the plane their iteration owns, visiting outputs in
row-major order, so overlapping windows accumulate race-free and in a fixed order:
results are bit-identical for any thread count.

Launchers take C-contiguous arrays of one float dtype and preallocated outputs,
and never validate; :mod:`numbaconv.ops.pool` does. Backward kernels overwrite
their whole output (they zero each plane first), so ``np.empty`` outputs are fine.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_helper, cpu_kernel


def _window_argmax(plane, hstart, wstart, kh, kw, dh, dw):
    """First maximum of one window in row-major order, as (value, flat h*W+w index).

    Out-of-range positions are padding and never selected. A NaN wins over every
    number and the first NaN is kept, so NaN propagates as in PyTorch. A window
    that holds no real element (possible with large dilation) gives (-inf, -1).
    """
    height, width = plane.shape
    best = -np.inf
    best_index = -1
    for ki in range(kh):
        ih = hstart + ki * dh
        if ih < 0 or ih >= height:
            continue
        for kj in range(kw):
            iw = wstart + kj * dw
            if iw < 0 or iw >= width:
                continue
            value = plane[ih, iw]
            # best_index < 0: the first real element is taken even when it is -inf.
            if best_index < 0 or value > best or (value != value and best == best):
                best = value
                best_index = ih * width + iw
    return best, best_index


def _window_sum(plane, h0, h1, w0, w1):
    """Sum of ``plane[h0:h1, w0:w1]`` in float64, row by row.

    Each row gets its own accumulator: LLVM vectorises a reduction only when its
    accumulator lives in the innermost loop. One running sum over the whole window
    made a global average over 16x64x56x56 4-5x slower.
    """
    total = 0.0
    for ih in range(h0, h1):
        row = plane[ih, w0:w1]  # indices from 0: no negative-index wraparound to check
        row_total = 0.0
        for iw in range(row.shape[0]):
            row_total += row[iw]
        total += row_total
    return total


def _window_add(plane, h0, h1, w0, w1, value):
    """``plane[h0:h1, w0:w1] += value``, row by row over views indexed from 0 (as
    :func:`_window_sum`)."""
    for ih in range(h0, h1):
        row = plane[ih, w0:w1]
        for iw in range(row.shape[0]):
            row[iw] += value


def _avg_window(o, stride, padding, kernel, size, count_include_pad):
    """PyTorch's average-pool window on one axis: clipped ``[start, stop)`` and the
    divisor factor (cells inside the padded extent, or inside the real input)."""
    start = o * stride - padding
    stop = min(start + kernel, size + padding)
    padded_count = stop - start
    start = max(start, 0)
    stop = min(stop, size)
    return start, stop, padded_count if count_include_pad else stop - start


def _adaptive_window(o, out_size, in_size):
    """Window ``[floor(o*in/out), ceil((o+1)*in/out))`` of adaptive pooling, in integers."""
    start = (o * in_size) // out_size
    stop = ((o + 1) * in_size + out_size - 1) // out_size
    return start, stop


_window_argmax_jit = cpu_helper(_window_argmax)
_avg_window_jit = cpu_helper(_avg_window)
_window_sum_jit = cpu_helper(_window_sum)
_window_add_jit = cpu_helper(_window_add)
_adaptive_window_jit = cpu_helper(_adaptive_window)


def _max_pool2d_forward(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    channels = x.shape[1]
    out_h, out_w = out.shape[2], out.shape[3]
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        plane = x[n, c]
        for oh in range(out_h):
            for ow in range(out_w):
                value, index = _window_argmax_jit(plane, oh * sh - ph, ow * sw - pw, kh, kw, dh, dw)
                out[n, c, oh, ow] = value
                indices[n, c, oh, ow] = index


def _max_pool2d_backward(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw):
    channels = x.shape[1]
    width = x.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        plane = x[n, c]
        grad_plane = grad_in[n, c]
        grad_plane[:, :] = 0
        for oh in range(out_h):
            for ow in range(out_w):
                # Recompute the argmax rather than trust stored indices.
                _, index = _window_argmax_jit(plane, oh * sh - ph, ow * sw - pw, kh, kw, dh, dw)
                if index >= 0:
                    grad_plane[index // width, index % width] += grad_out[n, c, oh, ow]


def _avg_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    channels = x.shape[1]
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        for oh in range(out_h):
            h0, h1, count_h = _avg_window_jit(oh, sh, ph, kh, height, count_include_pad)
            for ow in range(out_w):
                w0, w1, count_w = _avg_window_jit(ow, sw, pw, kw, width, count_include_pad)
                if h0 >= h1 or w0 >= w1:
                    out[n, c, oh, ow] = 0.0
                    continue
                # Accumulate in float64 whatever the dtype: cheap and more accurate.
                total = _window_sum_jit(x[n, c], h0, h1, w0, w1)
                divisor = divisor_override if divisor_override != 0 else count_h * count_w
                out[n, c, oh, ow] = total / divisor


def _avg_pool2d_backward(
    grad_out, grad_in, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override
):
    channels = grad_in.shape[1]
    height, width = grad_in.shape[2], grad_in.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    for plane_index in prange(grad_in.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        grad_plane = grad_in[n, c]
        grad_plane[:, :] = 0
        for oh in range(out_h):
            h0, h1, count_h = _avg_window_jit(oh, sh, ph, kh, height, count_include_pad)
            for ow in range(out_w):
                w0, w1, count_w = _avg_window_jit(ow, sw, pw, kw, width, count_include_pad)
                if h0 >= h1 or w0 >= w1:
                    continue
                divisor = divisor_override if divisor_override != 0 else count_h * count_w
                _window_add_jit(grad_plane, h0, h1, w0, w1, grad_out[n, c, oh, ow] / divisor)


def _adaptive_avg_pool2d_forward(x, out):
    channels = x.shape[1]
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        plane = x[n, c]
        for oh in range(out_h):
            h0, h1 = _adaptive_window_jit(oh, out_h, height)
            for ow in range(out_w):
                w0, w1 = _adaptive_window_jit(ow, out_w, width)
                total = _window_sum_jit(plane, h0, h1, w0, w1)
                out[n, c, oh, ow] = total / ((h1 - h0) * (w1 - w0))


def _adaptive_avg_pool2d_backward(grad_out, grad_in):
    channels = grad_in.shape[1]
    height, width = grad_in.shape[2], grad_in.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    for plane_index in prange(grad_in.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        grad_plane = grad_in[n, c]
        grad_plane[:, :] = 0
        for oh in range(out_h):
            h0, h1 = _adaptive_window_jit(oh, out_h, height)
            for ow in range(out_w):
                w0, w1 = _adaptive_window_jit(ow, out_w, width)
                share = grad_out[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                _window_add_jit(grad_plane, h0, h1, w0, w1, share)


_max_pool2d_forward_jit = cpu_kernel(_max_pool2d_forward)
_max_pool2d_backward_jit = cpu_kernel(_max_pool2d_backward)
_avg_pool2d_forward_jit = cpu_kernel(_avg_pool2d_forward)
_avg_pool2d_backward_jit = cpu_kernel(_avg_pool2d_backward)
_adaptive_avg_pool2d_forward_jit = cpu_kernel(_adaptive_avg_pool2d_forward)
_adaptive_avg_pool2d_backward_jit = cpu_kernel(_adaptive_avg_pool2d_backward)


def max_pool2d_forward(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    """Fill ``out`` (N, C, OH, OW) with window maxima of ``x`` (N, C, H, W) and
    ``indices`` (int64, same shape) with their flat ``h*W + w`` positions."""
    _max_pool2d_forward_jit(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw)


def max_pool2d_backward(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw):
    """Overwrite ``grad_in`` (shaped like ``x``): each ``grad_out`` element goes to
    the first maximum of its window, overlapping windows accumulate."""
    _max_pool2d_backward_jit(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw)


def avg_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Fill ``out`` with window means of ``x``; ``divisor_override`` 0 means none."""
    _avg_pool2d_forward_jit(
        x, out, kh, kw, sh, sw, ph, pw, bool(count_include_pad), int(divisor_override)
    )


def avg_pool2d_backward(
    grad_out, grad_in, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override
):
    """Overwrite ``grad_in`` (N, C, H, W) with the gradient of average pooling;
    ``divisor_override`` 0 means none."""
    _avg_pool2d_backward_jit(
        grad_out, grad_in, kh, kw, sh, sw, ph, pw, bool(count_include_pad), int(divisor_override)
    )


def adaptive_avg_pool2d_forward(x, out):
    """Fill ``out`` (N, C, OH, OW) with adaptive window means of ``x`` (N, C, H, W)."""
    _adaptive_avg_pool2d_forward_jit(x, out)


def adaptive_avg_pool2d_backward(grad_out, grad_in):
    """Overwrite ``grad_in`` (N, C, H, W) with the gradient of adaptive average pooling."""
    _adaptive_avg_pool2d_backward_jit(grad_out, grad_in)
