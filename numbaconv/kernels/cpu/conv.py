"""2-D convolution (cross-correlation) kernels: forward and the three gradients.

Layout NCHW for activations and OIHW for weights (I = in channels per group).
Every launcher takes C-contiguous arrays of one float dtype, the top/left padding
``(ph, pw)`` (the bottom/right padding is implied by the output's shape, which is
how PyTorch's asymmetric ``padding="same"`` fits), and a preallocated output.

Method: im2col + GEMM. A chunk of images is unfolded into a column matrix
``col[(c, kh, kw), (n, oh, ow)]`` (one parallel kernel), multiplied with the
weight matrix by BLAS (Numba's ``np.dot``), and the product is copied into
NCHW order (another parallel kernel). The backward passes use the same pieces:
``grad_col = W.T @ grad_out`` folded back with col2im, and
``grad_W = grad_out @ col.T``. Direct loops were 5-15x slower on the chapter's
layer shapes, single-threaded.

Ownership, so results do not depend on Numba's thread count: every parallel
iteration writes only its own rows of ``col``, its own output plane, or (col2im)
its own input-gradient plane, in a fixed loop order. BLAS splits a product over
rows and columns of the result, never over the summed dimension, so its thread
count does not change the result either.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_helper, cpu_kernel, cpu_serial_kernel

# Upper bound on the im2col workspace, in elements: the batch is processed in chunks so
# that a large batch does not need a column matrix of N * C*KH*KW * OH*OW elements.
_WORKSPACE_ELEMENTS = 2 << 20


def _first_last_out(size_in, size_out, k_offset, stride, pad):
    """Output positions ``[lo, hi)`` whose input coordinate ``o*stride - pad + k_offset``
    falls inside ``[0, size_in)``."""
    # o*stride >= pad - k_offset  ->  o >= ceil((pad - k_offset) / stride)
    num = pad - k_offset
    lo = 0 if num <= 0 else (num + stride - 1) // stride
    # o*stride <= size_in - 1 + pad - k_offset
    top = size_in - 1 + pad - k_offset
    hi = 0 if top < 0 else top // stride + 1
    if hi > size_out:
        hi = size_out
    if lo > hi:
        lo = hi
    return lo, hi


_first_last_out = cpu_helper(_first_last_out)


def _im2col(x, col, n0, nb, c0, sh, sw, ph, pw, dh, dw, kh_size, kw_size, h_out, w_out):
    """``col[(c, kh, kw), (n, oh, ow)] = x_pad[n0 + n, c0 + c, oh*sh + kh*dh, ow*sw + kw*dw]``."""
    h_in, w_in = x.shape[2], x.shape[3]
    ohw = h_out * w_out
    taps = kh_size * kw_size
    for job in prange(col.shape[0] * nb):
        r = job // nb
        nl = job % nb
        c = r // taps
        kh = (r // kw_size) % kh_size
        kw = r % kw_size
        src = x[n0 + nl, c0 + c]
        dst = col[r, nl * ohw : (nl + 1) * ohw]
        oh_lo, oh_hi = _first_last_out(h_in, h_out, kh * dh, sh, ph)
        ow_lo, ow_hi = _first_last_out(w_in, w_out, kw * dw, sw, pw)
        if oh_lo > 0 or oh_hi < h_out or ow_lo > 0 or ow_hi < w_out:
            dst[:] = 0  # some taps fall in the zero padding
        iw0 = kw * dw - pw
        for oh in range(oh_lo, oh_hi):
            row = src[oh * sh - ph + kh * dh]
            base = oh * w_out
            for ow in range(ow_lo, ow_hi):
                dst[base + ow] = row[ow * sw + iw0]


def _col2im(col, gx, n0, nb, c0, sh, sw, ph, pw, dh, dw, kh_size, kw_size, h_out, w_out):
    """Fold ``col`` back: each input pixel sums the column entries that read it."""
    h_in, w_in = gx.shape[2], gx.shape[3]
    ohw = h_out * w_out
    cin_per_group = col.shape[0] // (kh_size * kw_size)
    for job in prange(nb * cin_per_group):
        nl = job // cin_per_group
        c = job % cin_per_group
        plane = gx[n0 + nl, c0 + c]
        plane[:, :] = 0
        for kh in range(kh_size):
            oh_lo, oh_hi = _first_last_out(h_in, h_out, kh * dh, sh, ph)
            for kw in range(kw_size):
                ow_lo, ow_hi = _first_last_out(w_in, w_out, kw * dw, sw, pw)
                src = col[(c * kh_size + kh) * kw_size + kw, nl * ohw : (nl + 1) * ohw]
                iw0 = kw * dw - pw
                for oh in range(oh_lo, oh_hi):
                    row = plane[oh * sh - ph + kh * dh]
                    base = oh * w_out
                    for ow in range(ow_lo, ow_hi):
                        row[ow * sw + iw0] += src[base + ow]


def _rows_to_planes(rows, bias, out, n0, nb, o0):
    """``out[n0 + n, o0 + o] = rows[o, (n, oh, ow)] + bias[o0 + o]``."""
    n_rows = rows.shape[0]
    ohw = out.shape[2] * out.shape[3]
    for job in prange(nb * n_rows):
        nl = job // n_rows
        o = job % n_rows
        src = rows[o, nl * ohw : (nl + 1) * ohw]
        dst = out[n0 + nl, o0 + o].reshape(ohw)
        b = bias[o0 + o]
        for i in range(ohw):
            dst[i] = src[i] + b


def _planes_to_rows(planes, rows, n0, nb, o0):
    """``rows[o, (n, oh, ow)] = planes[n0 + n, o0 + o]``: the inverse layout change."""
    n_rows = rows.shape[0]
    ohw = planes.shape[2] * planes.shape[3]
    for job in prange(nb * n_rows):
        nl = job // n_rows
        o = job % n_rows
        rows[o, nl * ohw : (nl + 1) * ohw] = planes[n0 + nl, o0 + o].reshape(ohw)


def _sum_planes(gy, gb):
    n_batch, n_out, h_out, w_out = gy.shape
    for o in prange(n_out):
        acc = 0.0  # float64: the sum runs over N*OH*OW terms
        for n in range(n_batch):
            for oh in range(h_out):
                for ow in range(w_out):
                    acc += gy[n, o, oh, ow]
        gb[o] = acc


_im2col = cpu_kernel(_im2col)
_col2im = cpu_kernel(_col2im)
_rows_to_planes = cpu_kernel(_rows_to_planes)
_planes_to_rows = cpu_kernel(_planes_to_rows)
_sum_planes = cpu_kernel(_sum_planes)


def _chunk(n_batch, k, ohw):
    """Images per chunk so that the column matrix stays within the workspace bound."""
    return max(1, min(n_batch, _WORKSPACE_ELEMENTS // max(1, k * ohw)))


_chunk = cpu_helper(_chunk)


def _conv2d_forward(x, w, b, out, sh, sw, ph, pw, dh, dw, groups):
    n_batch = x.shape[0]
    n_out, cin_per_group, kh_size, kw_size = w.shape
    h_out, w_out = out.shape[2], out.shape[3]
    out_per_group = n_out // groups
    ohw = h_out * w_out
    k = cin_per_group * kh_size * kw_size
    chunk = _chunk(n_batch, k, ohw)
    w2 = w.reshape(n_out, k)
    col_buf = np.empty(k * chunk * ohw, x.dtype)
    row_buf = np.empty(out_per_group * chunk * ohw, x.dtype)
    for n0 in range(0, n_batch, chunk):
        nb = min(chunk, n_batch - n0)
        col = col_buf[: k * nb * ohw].reshape(k, nb * ohw)
        rows = row_buf[: out_per_group * nb * ohw].reshape(out_per_group, nb * ohw)
        for g in range(groups):
            o0 = g * out_per_group
            _im2col(
                x,
                col,
                n0,
                nb,
                g * cin_per_group,
                sh,
                sw,
                ph,
                pw,
                dh,
                dw,
                kh_size,
                kw_size,
                h_out,
                w_out,
            )
            np.dot(w2[o0 : o0 + out_per_group], col, rows)
            _rows_to_planes(rows, b, out, n0, nb, o0)


def _conv2d_grad_input(gy, w, gx, sh, sw, ph, pw, dh, dw, groups):
    n_batch = gx.shape[0]
    n_out, cin_per_group, kh_size, kw_size = w.shape
    h_out, w_out = gy.shape[2], gy.shape[3]
    out_per_group = n_out // groups
    ohw = h_out * w_out
    k = cin_per_group * kh_size * kw_size
    chunk = _chunk(n_batch, k, ohw)
    w2 = w.reshape(n_out, k)
    col_buf = np.empty(k * chunk * ohw, gy.dtype)
    row_buf = np.empty(out_per_group * chunk * ohw, gy.dtype)
    for g in range(groups):
        o0 = g * out_per_group
        w_t = np.ascontiguousarray(w2[o0 : o0 + out_per_group].T)
        for n0 in range(0, n_batch, chunk):
            nb = min(chunk, n_batch - n0)
            col = col_buf[: k * nb * ohw].reshape(k, nb * ohw)
            rows = row_buf[: out_per_group * nb * ohw].reshape(out_per_group, nb * ohw)
            _planes_to_rows(gy, rows, n0, nb, o0)
            np.dot(w_t, rows, col)
            _col2im(
                col,
                gx,
                n0,
                nb,
                g * cin_per_group,
                sh,
                sw,
                ph,
                pw,
                dh,
                dw,
                kh_size,
                kw_size,
                h_out,
                w_out,
            )


def _conv2d_grad_weight(x, gy, gw, sh, sw, ph, pw, dh, dw, groups):
    n_batch = x.shape[0]
    n_out, cin_per_group, kh_size, kw_size = gw.shape
    h_out, w_out = gy.shape[2], gy.shape[3]
    out_per_group = n_out // groups
    ohw = h_out * w_out
    k = cin_per_group * kh_size * kw_size
    chunk = _chunk(n_batch, k, ohw)
    gw2 = gw.reshape(n_out, k)
    gw2[:, :] = 0
    col_buf = np.empty(k * chunk * ohw, x.dtype)
    row_buf = np.empty(out_per_group * chunk * ohw, x.dtype)
    part = np.empty((out_per_group, k), x.dtype)
    for g in range(groups):
        o0 = g * out_per_group
        for n0 in range(0, n_batch, chunk):
            nb = min(chunk, n_batch - n0)
            col = col_buf[: k * nb * ohw].reshape(k, nb * ohw)
            rows = row_buf[: out_per_group * nb * ohw].reshape(out_per_group, nb * ohw)
            _im2col(
                x,
                col,
                n0,
                nb,
                g * cin_per_group,
                sh,
                sw,
                ph,
                pw,
                dh,
                dw,
                kh_size,
                kw_size,
                h_out,
                w_out,
            )
            _planes_to_rows(gy, rows, n0, nb, o0)
            np.dot(rows, col.T, part)
            gw2[o0 : o0 + out_per_group] += part


# The drivers run serially and call the parallel kernels above and BLAS in turn.
_conv2d_forward = cpu_serial_kernel(_conv2d_forward)
_conv2d_grad_input = cpu_serial_kernel(_conv2d_grad_input)
_conv2d_grad_weight = cpu_serial_kernel(_conv2d_grad_weight)


def conv2d_forward(x, weight, bias, out, stride, padding, dilation, groups):
    """``out[n, o] = bias[o] + sum_{c, kh, kw} weight[o, c, kh, kw] * x_pad[n, g*C/g + c, ...]``.

    x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,), out (N, O, OH, OW), all one dtype;
    ``padding`` is the (top, left) padding.
    """
    _conv2d_forward(x, weight, bias, out, *stride, *padding, *dilation, groups)


def conv2d_grad_input(grad_output, weight, grad_input, stride, padding, dilation, groups):
    """Gradient with respect to x, written into ``grad_input`` (N, C, H, W)."""
    _conv2d_grad_input(grad_output, weight, grad_input, *stride, *padding, *dilation, groups)


def conv2d_grad_weight(x, grad_output, grad_weight, stride, padding, dilation, groups):
    """Gradient with respect to the weight, written into ``grad_weight`` (O, C/groups, KH, KW)."""
    _conv2d_grad_weight(x, grad_output, grad_weight, *stride, *padding, *dilation, groups)


def conv2d_grad_bias(grad_output, grad_bias):
    """Gradient with respect to the bias: ``grad_output`` summed over N, OH, OW, into (O,)."""
    _sum_planes(grad_output, grad_bias)
