"""Slow, obviously-correct pooling references (PyTorch semantics) for tests/test_pool.py.

Written independently of the kernels: windows are cut from explicitly padded
arrays or listed position by position, and linear gradients come from the
Jacobian built by pooling one-hot inputs.
"""

from __future__ import annotations

import math

import numpy as np


def output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Number of windows along one axis, by PyTorch's documented formula."""
    span = (size + 2 * padding - dilation * (kernel - 1) - 1) / stride
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    # A window must start inside the input or the left padding.
    if ceil_mode and (out - 1) * stride - padding >= size:
        out -= 1
    return out


def max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """(out, indices); padding is never selected, ties and NaN take the first one."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n_, c_, h_, w_ = x.shape
    oh_ = output_size(h_, kh, sh, ph, dh, ceil_mode)
    ow_ = output_size(w_, kw, sw, pw, dw, ceil_mode)
    out = np.empty((n_, c_, oh_, ow_), dtype=x.dtype)
    indices = np.empty((n_, c_, oh_, ow_), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for oh in range(oh_):
                for ow in range(ow_):
                    values, positions = [], []
                    for i in range(kh):
                        for j in range(kw):
                            h = oh * sh - ph + i * dh
                            w = ow * sw - pw + j * dw
                            if 0 <= h < h_ and 0 <= w < w_:
                                values.append(x[n, c, h, w])
                                positions.append(h * w_ + w)
                    if not values:
                        out[n, c, oh, ow], indices[n, c, oh, ow] = -np.inf, -1
                        continue
                    # np.argmax returns the first maximum, or the first NaN if any.
                    best = int(np.argmax(np.array(values)))
                    out[n, c, oh, ow] = values[best]
                    indices[n, c, oh, ow] = positions[best]
    return out, indices


def max_pool2d_grad(grad_output, x, kernel, stride, padding, dilation, ceil_mode):
    _, indices = max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
    grad = np.zeros(x.shape, dtype=np.float64)
    n_, c_, _, w_ = x.shape
    for n in range(n_):
        for c in range(c_):
            for (oh, ow), index in np.ndenumerate(indices[n, c]):
                if index >= 0:
                    grad[n, c, index // w_, index % w_] += grad_output[n, c, oh, ow]
    return grad


def avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n_, c_, h_, w_ = x.shape
    oh_ = output_size(h_, kh, sh, ph, 1, ceil_mode)
    ow_ = output_size(w_, kw, sw, pw, 1, ceil_mode)
    # Room on the right for ceil_mode windows that run past the padded extent.
    pad = ((0, 0), (0, 0), (ph, ph + kh + sh), (pw, pw + kw + sw))
    padded = np.pad(x.astype(np.float64), pad)
    real = np.pad(np.ones((h_, w_)), pad[2:])
    padded_extent = np.pad(np.ones((h_ + 2 * ph, w_ + 2 * pw)), ((0, kh + sh), (0, kw + sw)))
    counted = padded_extent if count_include_pad else real
    out = np.empty((n_, c_, oh_, ow_), dtype=np.float64)
    for oh in range(oh_):
        for ow in range(ow_):
            rows = slice(oh * sh, oh * sh + kh)
            cols = slice(ow * sw, ow * sw + kw)
            divisor = divisor_override or counted[rows, cols].sum()
            out[:, :, oh, ow] = padded[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return out


def adaptive_avg_pool2d(x, out_h, out_w):
    n_, c_, h_, w_ = x.shape
    out = np.empty((n_, c_, out_h, out_w), dtype=np.float64)
    for oh in range(out_h):
        h0, h1 = math.floor(oh * h_ / out_h), math.ceil((oh + 1) * h_ / out_h)
        for ow in range(out_w):
            w0, w1 = math.floor(ow * w_ / out_w), math.ceil((ow + 1) * w_ / out_w)
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].astype(np.float64).mean(axis=(2, 3))
    return out


def linear_grad(forward, grad_output, input_shape):
    """Gradient of a linear, plane-wise pooling ``forward`` (plane -> plane): J^T g,
    with J's columns obtained by pooling one-hot planes."""
    n_, c_, h_, w_ = input_shape
    columns = []
    for k in range(h_ * w_):
        one_hot = np.zeros((1, 1, h_, w_))
        one_hot.flat[k] = 1.0
        columns.append(forward(one_hot).ravel())
    jacobian = np.stack(columns, axis=1)  # (OH*OW, H*W)
    grad = np.empty(input_shape, dtype=np.float64)
    for n in range(n_):
        for c in range(c_):
            g = np.asarray(grad_output[n, c], dtype=np.float64).ravel()
            grad[n, c] = (jacobian.T @ g).reshape(h_, w_)
    return grad
