"""2-D convolution (cross-correlation) kernels: forward and the three gradients.

Layout NCHW for activations and OIHW for weights (I = in channels per group).
Every launcher takes C-contiguous arrays of one float dtype, the top/left padding
``(ph, pw)`` (the bottom/right padding is implied by the output's shape, which is
how PyTorch's asymmetric ``padding="same"`` fits), and a preallocated output.

Paths (chosen from the shapes alone, see each launcher's docstring): 3x3, stride-1,
undilated, ungrouped layers with at least ``WINOGRAD_MIN_CHANNELS`` input and output
channels take Winograd F(2x2, 3x3) (``winograd.py``) for all three passes; ungrouped
layers with small images and one input channel (forward) or one to three (weight
gradient; ``_uses_direct``: the chapter's first layers, RGB inputs) take the direct
kernels of ``conv_direct.py``; every other call takes im2col + GEMM,
described here.

Method: im2col + GEMM, parallel over chunks of images. Each ``prange`` iteration
owns a chunk: it unfolds its images (a tile of output rows at a time when one image
is too big for the workspace) into a private column matrix
``col[(c, kh, kw), (n, oh, ow)]``, multiplies it with the weight matrix through
single-threaded BLAS (Numba's ``np.dot``), and writes its own output planes. The
backward passes reuse the pieces: ``grad_col = W.T @ grad_out`` folded back into
the chunk's input-gradient planes (col2im), and per-chunk partial weight gradients
``grad_out @ col.T`` summed in chunk order afterwards.

Two column layouts. Chunks of whole small images (the chapter's layers: 28x28 and
smaller, batches of 64-512) put the batch innermost: the chunk is first transposed to
``(c, h, w, n)``, so every tap of the unfold is a contiguous copy of ``nb`` elements and
the columns are ordered ``(oh, ow, n)``. The image-major layout ``(n, oh, ow)`` copies
runs of one output row, which for 14- or 2-pixel rows at stride 2 left the unfold
bound by loop overhead (10-class batch-norm model at batch 512: 28 ms of conv per
training step before, 11 ms after). Large images, cut into row tiles one image at a
time, keep the image-major layout.

Why chunks, and why BLAS on one thread: on a 2-core machine, many small parallel
regions (one per im2col, one per copy) and BLAS's own thread pool spinning beside
Numba's made a multi-threaded call several times slower than a single-threaded one
(measured: shape 64x8x14x14 -> 16, forward 7.9 ms vs 0.53 ms). One parallel region
per call, with BLAS limited to one thread while it runs, gave 0.26 ms.

Determinism: the chunk size depends only on the shapes, never on the thread count,
and partial sums are merged in chunk order, so results are bit-identical for any
number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_function, cpu_helper, cpu_kernel
from ..common import conv as common_conv
from . import conv_direct, winograd
from ._blas import single_threaded_blas

# Column-matrix elements per work unit (1 MiB of float32): big enough to amortise a BLAS
# call, small enough to stay in cache between im2col and the product that reads it.
_WORKSPACE_ELEMENTS = 1 << 18
# At least four chunks per batch when the images are small: two per thread on the 2-core
# box. Eight (the first choice) halved each chunk's GEMM and doubled the per-chunk calls,
# 10-20 % of the chapter's 0.1-0.2 ms calls (14x14 layer, batch 64, all passes; measured
# interleaved, 2 threads). The forward of deep layers keeps eight: OpenBLAS's ``W @ col``
# with K = C·KH·KW >= 128 slows as the chunk's columns grow (K = 144: 90 GFLOP/s at 128
# columns, 76 at 256, one thread), which cost the 7x7 layer's forward 0.095 -> 0.114 ms.
_MIN_CHUNKS = 4
_MIN_CHUNKS_DEEP_FORWARD = 8
_DEEP_K = 128


def _work_split(n_batch, k, h_out, w_out, min_chunks=_MIN_CHUNKS):
    """``(images per chunk, output rows per tile)`` from the shapes alone.

    Chunks of whole images while one image's column matrix fits the workspace (at least
    ``min_chunks`` chunks when the batch allows, so every thread has work); otherwise
    one image per chunk, cut into tiles of output rows. Never depends on the thread
    count, which keeps results identical for any number of threads.
    """
    per_image = k * h_out * w_out
    if per_image <= _WORKSPACE_ELEMENTS:
        by_count = -(-n_batch // min_chunks)
        chunk = max(1, min(by_count, _WORKSPACE_ELEMENTS // max(1, per_image)))
        # Evened out over the chunks that the cap implies: 64 images at 9 a chunk left a last
        # chunk of one image and one thread with 36 of them (64x3x32x32 -> 32: 8 chunks of 8).
        n_chunks = max(1, -(-n_batch // chunk))
        return max(1, -(-n_batch // n_chunks)), h_out
    return 1, max(1, min(h_out, _WORKSPACE_ELEMENTS // max(1, k * w_out)))


def _copy(src, dst):
    """``dst[:len(src)] = src``. Loops written this way, over an index from 0 into views,
    vectorise: with an offset index (``dst[j + i]``) Numba must check every index for
    negative wraparound, and that check kept LLVM from vectorising the copies."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


def _add(src, dst):
    """``dst += src[:len(dst)]``, written as :func:`_copy` for the same reason."""
    for i in range(dst.shape[0]):
        dst[i] += src[i]


def _add_matrix(src, dst):
    """``dst += src`` for 2-D arrays of one shape. Written out: NumPy-style array expressions
    in a kernel compile Numba's broadcasting and shape-error machinery (seconds per kernel on
    an empty cache), and inside ``prange`` its parfor passes on top."""
    for i in range(dst.shape[0]):
        _add(src[i], dst[i])


def _add_transposed(src, dst):
    """``dst += src.T`` for 2-D arrays, as :func:`_add_matrix`."""
    for i in range(dst.shape[0]):
        row = dst[i]
        for j in range(dst.shape[1]):
            row[j] += src[j, i]


def _tap_ranges(size_in, k_size, dil, stride, pad, lo_clip, hi_clip):
    """``[lo, hi)`` output positions of every kernel tap along one axis, clipped to
    ``[lo_clip, hi_clip)``: computed once per chunk rather than per image and channel
    (the integer divisions cost more than a small layer's copy)."""
    r = np.empty((k_size, 2), np.int64)
    for t in range(k_size):
        lo, hi = _first_last_out(size_in, hi_clip, t * dil, stride, pad)
        r[t, 0] = max(lo, lo_clip)
        r[t, 1] = max(hi, r[t, 0])
    return r


def _zero_padding_columns(run, oh_lo, oh_hi, oh0, ow_lo, ow_hi, w_out):
    """Zero ``run[(oh - oh0) * w_out + ow]`` for ``oh_lo <= oh < oh_hi`` and every ``ow``
    outside ``[ow_lo, ow_hi)``: the entries of a tap that fall in the left/right padding."""
    if ow_lo == 0 and ow_hi == w_out:
        return
    for oh in range(oh_lo, oh_hi):
        row = run[(oh - oh0) * w_out : (oh - oh0 + 1) * w_out]
        row[:ow_lo] = 0
        row[ow_hi:] = 0


def _flat_span(oh_lo, oh_hi, oh0, ow_lo, ow_hi, w_out, shift):
    """For a stride-1 tap whose output rows are as wide as the input rows: the column
    positions ``[first, last)`` from its first to its last in-bounds element, and the offset
    of the input element each reads (``input_flat[t + offset]``). Between the two, the
    tap reads one contiguous run of the input plane; positions that fall in the left or right
    padding read a neighbouring row's pixel and must be masked."""
    first = (oh_lo - oh0) * w_out + ow_lo
    last = (oh_hi - 1 - oh0) * w_out + ow_hi
    return first, last, oh0 * w_out + shift


def _im2col(x, col, n0, nb, c0, oh0, oh1, hp, kh_size, kw_size, w_out):
    """``col[(c, kh, kw), (n, oh - oh0, ow)] = x_pad[n0 + n, c0 + c, oh*sh + kh*dh, ow*sw + kw*dw]``
    for the output rows ``oh0 <= oh < oh1`` of images ``n0 .. n0 + nb``."""
    sh, sw, ph, pw, dh, dw = hp
    h_in, w_in = x.shape[2], x.shape[3]
    m = (oh1 - oh0) * w_out
    cin_per_group = col.shape[0] // (kh_size * kw_size)
    rh = _tap_ranges(h_in, kh_size, dh, sh, ph, oh0, oh1)
    rw = _tap_ranges(w_in, kw_size, dw, sw, pw, 0, w_out)
    # Stride 1 and output rows as wide as input rows ("same" width, e.g. k3 p1): a tap's
    # rows form one shifted run of the input plane, copied in one go instead of row by row
    # (shape f's unfold: 56-element runs, where per-row overhead dominated).
    flat = sh == 1 and sw == 1 and w_out == w_in
    x3 = x.reshape(x.shape[0], x.shape[1], h_in * w_in)
    for nl in range(nb):
        for c in range(cin_per_group):
            src = x[n0 + nl, c0 + c]
            src_flat = x3[n0 + nl, c0 + c]
            for kh in range(kh_size):
                oh_lo, oh_hi = rh[kh, 0], rh[kh, 1]
                for kw in range(kw_size):
                    ow_lo, ow_hi = rw[kw, 0], rw[kw, 1]
                    dst = col[(c * kh_size + kh) * kw_size + kw, nl * m : (nl + 1) * m]
                    if oh_lo > oh0 or oh_hi < oh1 or ow_lo > 0 or ow_hi < w_out:
                        dst[:] = 0  # some taps fall in the zero padding
                    if oh_lo >= oh_hi or ow_lo >= ow_hi:
                        continue
                    if flat:
                        shift = (kh * dh - ph) * w_in + kw * dw - pw
                        first, last, offset = _flat_span(
                            oh_lo, oh_hi, oh0, ow_lo, ow_hi, w_out, shift
                        )
                        _copy(src_flat[first + offset : last + offset], dst[first:])
                        _zero_padding_columns(dst, oh_lo, oh_hi, oh0, ow_lo, ow_hi, w_out)
                        continue
                    iw_lo = ow_lo * sw + kw * dw - pw
                    iw_hi = iw_lo + (ow_hi - ow_lo - 1) * sw + 1
                    for oh in range(oh_lo, oh_hi):
                        base = (oh - oh0) * w_out
                        _copy(src[oh * sh - ph + kh * dh, iw_lo:iw_hi:sw], dst[base + ow_lo :])


def _col2im_add(col, gx, n0, nb, c0, oh0, oh1, hp, kh_size, kw_size, w_out):
    """Fold ``col`` back, adding to ``gx``: each input pixel gains the column entries that
    read it (the caller zeroes the planes once, before the first row tile). ``col`` is the
    caller's scratch: entries that read padding may be overwritten with zeros."""
    sh, sw, ph, pw, dh, dw = hp
    h_in, w_in = gx.shape[2], gx.shape[3]
    m = (oh1 - oh0) * w_out
    cin_per_group = col.shape[0] // (kh_size * kw_size)
    rh = _tap_ranges(h_in, kh_size, dh, sh, ph, oh0, oh1)
    rw = _tap_ranges(w_in, kw_size, dw, sw, pw, 0, w_out)
    flat = sh == 1 and sw == 1 and w_out == w_in  # as in _im2col
    gx3 = gx.reshape(gx.shape[0], gx.shape[1], h_in * w_in)
    for nl in range(nb):
        for c in range(cin_per_group):
            plane = gx[n0 + nl, c0 + c]
            plane_flat = gx3[n0 + nl, c0 + c]
            for kh in range(kh_size):
                oh_lo, oh_hi = rh[kh, 0], rh[kh, 1]
                for kw in range(kw_size):
                    ow_lo, ow_hi = rw[kw, 0], rw[kw, 1]
                    if oh_lo >= oh_hi or ow_lo >= ow_hi:
                        continue
                    src = col[(c * kh_size + kh) * kw_size + kw, nl * m : (nl + 1) * m]
                    if flat:
                        # Zero the entries that read padding first, so that the one-run add
                        # gives their neighbouring-row pixels nothing.
                        _zero_padding_columns(src, oh_lo, oh_hi, oh0, ow_lo, ow_hi, w_out)
                        shift = (kh * dh - ph) * w_in + kw * dw - pw
                        first, last, offset = _flat_span(
                            oh_lo, oh_hi, oh0, ow_lo, ow_hi, w_out, shift
                        )
                        _add(src[first:], plane_flat[first + offset : last + offset])
                        continue
                    iw_lo = ow_lo * sw + kw * dw - pw
                    iw_hi = iw_lo + (ow_hi - ow_lo - 1) * sw + 1
                    for oh in range(oh_lo, oh_hi):
                        base = (oh - oh0) * w_out
                        _add(src[base + ow_lo :], plane[oh * sh - ph + kh * dh, iw_lo:iw_hi:sw])


def _rows_to_planes(rows, bias, out, n0, nb, o0, oh0, oh1):
    """``out[n0 + n, o0 + o, oh0:oh1] = rows[o, (n, oh - oh0, ow)] + bias[o0 + o]``."""
    w_out = out.shape[3]
    m = (oh1 - oh0) * w_out
    # Flattened once: a reshape per plane costs more than copying a small plane.
    out3 = out.reshape(out.shape[0], out.shape[1], out.shape[2] * w_out)
    for nl in range(nb):
        for o in range(rows.shape[0]):
            src = rows[o, nl * m : (nl + 1) * m]
            dst = out3[n0 + nl, o0 + o, oh0 * w_out : oh1 * w_out]
            b = bias[o0 + o]
            for i in range(m):
                dst[i] = src[i] + b


def _planes_to_rows(planes, rows, n0, nb, o0, oh0, oh1):
    """``rows[o, (n, oh - oh0, ow)] = planes[n0 + n, o0 + o, oh0:oh1]``: the inverse."""
    w_out = planes.shape[3]
    m = (oh1 - oh0) * w_out
    planes3 = planes.reshape(planes.shape[0], planes.shape[1], planes.shape[2] * w_out)
    for nl in range(nb):
        for o in range(rows.shape[0]):
            src = planes3[n0 + nl, o0 + o]
            _copy(src[oh0 * w_out : oh1 * w_out], rows[o, nl * m : (nl + 1) * m])


def _to_batch_last(x, xt, n0, nb):
    """``xt[c, h, w, n] = x[n0 + n, c, h, w]``: a chunk of images with the batch innermost."""
    # Whole planes flattened: one loop of H*W strided writes per (c, n) rather than one of W
    # per row, whose loop starts cost more than the copies on 7x7 planes (16 images of
    # 16x7x7: 8.9 -> 4.2 us).
    p = x.shape[2] * x.shape[3]
    x3 = x.reshape(x.shape[0], x.shape[1], p)
    xt2 = xt.reshape(x.shape[1], p * nb)
    for c in range(x.shape[1]):
        dst = xt2[c]
        for nl in range(nb):
            src = x3[n0 + nl, c]
            for j in range(p):
                dst[j * nb + nl] = src[j]


def _from_batch_last(xt, x, n0, nb):
    """``x[n0 + n, c, h, w] = xt[c, h, w, n]``: the inverse of :func:`_to_batch_last`."""
    p = x.shape[2] * x.shape[3]
    x3 = x.reshape(x.shape[0], x.shape[1], p)
    xt2 = xt.reshape(x.shape[1], p * nb)
    for c in range(x.shape[1]):
        src = xt2[c]
        for nl in range(nb):
            dst = x3[n0 + nl, c]
            for j in range(p):
                dst[j] = src[j * nb + nl]


def _im2col_bl(xt, col, c0, hp, kh_size, kw_size, h_out, w_out):
    """Batch-innermost im2col: ``col[(c, kh, kw), (oh, ow, n)] = xt_pad[c0 + c, ih, iw, n]``.

    For small images the image-major :func:`_im2col` spends its time on loop overhead
    (runs of ``w_out`` elements, strided when the stride is 2); here every tap copies a
    contiguous run of ``nb`` elements.
    """
    sh, sw, ph, pw, dh, dw = hp
    h_in, w_in, nb = xt.shape[1], xt.shape[2], xt.shape[3]
    cin_per_group = col.shape[0] // (kh_size * kw_size)
    for c in range(cin_per_group):
        for kh in range(kh_size):
            for kw in range(kw_size):
                dst = col[(c * kh_size + kh) * kw_size + kw]
                for oh in range(h_out):
                    ih = oh * sh - ph + kh * dh
                    for ow in range(w_out):
                        iw = ow * sw - pw + kw * dw
                        j = (oh * w_out + ow) * nb
                        if 0 <= ih < h_in and 0 <= iw < w_in:
                            # Offset indexing rather than _copy into a view: with runs of
                            # nb <= 64 elements the view cost more than it saved (measured).
                            src = xt[c0 + c, ih, iw]
                            for nl in range(nb):
                                dst[j + nl] = src[nl]
                        else:
                            for nl in range(nb):
                                dst[j + nl] = 0


def _col2im_bl_add(col, gxt, c0, hp, kh_size, kw_size, h_out, w_out):
    """Fold a batch-innermost ``col`` back, adding into ``gxt[c, ih, iw, n]``."""
    sh, sw, ph, pw, dh, dw = hp
    h_in, w_in, nb = gxt.shape[1], gxt.shape[2], gxt.shape[3]
    cin_per_group = col.shape[0] // (kh_size * kw_size)
    for c in range(cin_per_group):
        for kh in range(kh_size):
            for kw in range(kw_size):
                src = col[(c * kh_size + kh) * kw_size + kw]
                for oh in range(h_out):
                    ih = oh * sh - ph + kh * dh
                    if ih < 0 or ih >= h_in:
                        continue
                    for ow in range(w_out):
                        iw = ow * sw - pw + kw * dw
                        if 0 <= iw < w_in:
                            _add(src[(oh * w_out + ow) * nb :], gxt[c0 + c, ih, iw])


def _rows_bl_to_planes(rows, bias, out, n0, nb, o0):
    """``out[n0 + n, o0 + o, oh, ow] = rows[o, (oh, ow, n)] + bias[o0 + o]``."""
    # One output channel at a time: its row of ``rows`` (P * nb elements) stays in L1.
    p = out.shape[2] * out.shape[3]
    out3 = out.reshape(out.shape[0], out.shape[1], p)
    for o in range(rows.shape[0]):
        src = rows[o]
        b = bias[o0 + o]
        for nl in range(nb):
            dst = out3[n0 + nl, o0 + o]
            for j in range(p):
                dst[j] = src[j * nb + nl] + b


def _planes_to_rows_bl(planes, rows, n0, nb, o0):
    """``rows[o, (oh, ow, n)] = planes[n0 + n, o0 + o, oh, ow]``: the inverse."""
    p = planes.shape[2] * planes.shape[3]
    planes3 = planes.reshape(planes.shape[0], planes.shape[1], p)
    for o in range(rows.shape[0]):
        dst = rows[o]
        for nl in range(nb):
            src = planes3[n0 + nl, o0 + o]
            for j in range(p):
                dst[j * nb + nl] = src[j]


_copy = cpu_helper(_copy)
_add = cpu_helper(_add)
_add_matrix = cpu_helper(_add_matrix)
_add_transposed = cpu_helper(_add_transposed)
_first_last_out = cpu_helper(common_conv.first_last_out)
_tap_ranges = cpu_helper(_tap_ranges)
_zero_padding_columns = cpu_helper(_zero_padding_columns)
_flat_span = cpu_helper(_flat_span)
_im2col = cpu_function(_im2col)
_col2im_add = cpu_function(_col2im_add)
_rows_to_planes = cpu_function(_rows_to_planes)
_planes_to_rows = cpu_function(_planes_to_rows)
_to_batch_last = cpu_function(_to_batch_last)
_from_batch_last = cpu_function(_from_batch_last)
_im2col_bl = cpu_function(_im2col_bl)
_col2im_bl_add = cpu_function(_col2im_bl_add)
_rows_bl_to_planes = cpu_function(_rows_bl_to_planes)
_planes_to_rows_bl = cpu_function(_planes_to_rows_bl)


def _forward_chunk(x, w2, b, out, hp, groups, kh_size, kw_size, n0, nb, tile, batch_inner):
    """Forward pass of images ``n0 .. n0 + nb`` (one ``prange`` iteration's work)."""
    c_in = x.shape[1]
    n_out, k = w2.shape
    h_out, w_out = out.shape[2], out.shape[3]
    out_per_group = n_out // groups
    cin_per_group = k // (kh_size * kw_size)
    col_buf = np.empty(k * nb * tile * w_out, x.dtype)
    row_buf = np.empty(out_per_group * nb * tile * w_out, x.dtype)
    if batch_inner:  # whole images, tile == h_out
        xt = np.empty((c_in, x.shape[2], x.shape[3], nb), x.dtype)
        _to_batch_last(x, xt, n0, nb)
        col = col_buf.reshape(k, -1)
        rows = row_buf.reshape(out_per_group, -1)
        for g in range(groups):
            o0 = g * out_per_group
            _im2col_bl(xt, col, g * cin_per_group, hp, kh_size, kw_size, h_out, w_out)
            np.dot(w2[o0 : o0 + out_per_group], col, rows)
            _rows_bl_to_planes(rows, b, out, n0, nb, o0)
        return
    for oh0 in range(0, h_out, tile):
        oh1 = min(h_out, oh0 + tile)
        m = nb * (oh1 - oh0) * w_out
        col = col_buf[: k * m].reshape(k, m)
        rows = row_buf[: out_per_group * m].reshape(out_per_group, m)
        for g in range(groups):
            o0 = g * out_per_group
            _im2col(x, col, n0, nb, g * cin_per_group, oh0, oh1, hp, kh_size, kw_size, w_out)
            np.dot(w2[o0 : o0 + out_per_group], col, rows)
            _rows_to_planes(rows, b, out, n0, nb, o0, oh0, oh1)


def _grad_input_chunk(gy, w_t, gx, hp, kh_size, kw_size, n0, nb, tile, batch_inner):
    """Input gradient of images ``n0 .. n0 + nb``; ``w_t[g]`` is group g's weight matrix,
    transposed, (C/groups·KH·KW, O/groups)."""
    c_in = gx.shape[1]
    groups, k, out_per_group = w_t.shape
    cin_per_group = k // (kh_size * kw_size)
    h_out, w_out = gy.shape[2], gy.shape[3]
    col_buf = np.empty(k * nb * tile * w_out, gy.dtype)
    row_buf = np.empty(out_per_group * nb * tile * w_out, gy.dtype)
    if batch_inner:  # whole images, tile == h_out
        gxt = np.zeros((c_in, gx.shape[2], gx.shape[3], nb), gx.dtype)
        col = col_buf.reshape(k, -1)
        rows = row_buf.reshape(out_per_group, -1)
        for g in range(groups):
            _planes_to_rows_bl(gy, rows, n0, nb, g * out_per_group)
            np.dot(w_t[g], rows, col)
            _col2im_bl_add(col, gxt, g * cin_per_group, hp, kh_size, kw_size, h_out, w_out)
        _from_batch_last(gxt, gx, n0, nb)
        return
    gx[n0 : n0 + nb] = 0
    for oh0 in range(0, h_out, tile):
        oh1 = min(h_out, oh0 + tile)
        m = nb * (oh1 - oh0) * w_out
        col = col_buf[: k * m].reshape(k, m)
        rows = row_buf[: out_per_group * m].reshape(out_per_group, m)
        for g in range(groups):
            _planes_to_rows(gy, rows, n0, nb, g * out_per_group, oh0, oh1)
            np.dot(w_t[g], rows, col)
            _col2im_add(col, gx, n0, nb, g * cin_per_group, oh0, oh1, hp, kh_size, kw_size, w_out)


def _grad_weight_chunk(x, gy, partial, hp, groups, kh_size, kw_size, n0, nb, tile, batch_inner):
    """This chunk's share of the weight gradient, accumulated into ``partial``
    (O, C/groups·KH·KW), which it owns."""
    c_in = x.shape[1]
    n_out, k = partial.shape
    out_per_group = n_out // groups
    cin_per_group = k // (kh_size * kw_size)
    h_out, w_out = gy.shape[2], gy.shape[3]
    col_buf = np.empty(k * nb * tile * w_out, x.dtype)
    row_buf = np.empty(out_per_group * nb * tile * w_out, x.dtype)
    # The product transposed, (C/groups·KH·KW, O/groups): BLAS ran ``col @ rows.T`` at 1.4x
    # the speed of ``rows @ col.T`` for the 7x7 layer's chunks (32x256 by 256x144: 41 -> 29 us)
    # and no slower elsewhere; the same dot specialisation, so nothing new to compile.
    product = np.empty((k, out_per_group), x.dtype)
    if batch_inner:  # whole images, tile == h_out
        xt = np.empty((c_in, x.shape[2], x.shape[3], nb), x.dtype)
        _to_batch_last(x, xt, n0, nb)
        col = col_buf.reshape(k, -1)
        rows = row_buf.reshape(out_per_group, -1)
        for g in range(groups):
            o0 = g * out_per_group
            _im2col_bl(xt, col, g * cin_per_group, hp, kh_size, kw_size, h_out, w_out)
            _planes_to_rows_bl(gy, rows, n0, nb, o0)
            np.dot(col, rows.T, product)
            _add_transposed(product, partial[o0 : o0 + out_per_group])
        return
    for oh0 in range(0, h_out, tile):
        oh1 = min(h_out, oh0 + tile)
        m = nb * (oh1 - oh0) * w_out
        col = col_buf[: k * m].reshape(k, m)
        rows = row_buf[: out_per_group * m].reshape(out_per_group, m)
        for g in range(groups):
            o0 = g * out_per_group
            _im2col(x, col, n0, nb, g * cin_per_group, oh0, oh1, hp, kh_size, kw_size, w_out)
            _planes_to_rows(gy, rows, n0, nb, o0, oh0, oh1)
            np.dot(col, rows.T, product)
            _add_transposed(product, partial[o0 : o0 + out_per_group])


_forward_chunk = cpu_function(_forward_chunk)
_grad_input_chunk = cpu_function(_grad_input_chunk)
_grad_weight_chunk = cpu_function(_grad_weight_chunk)


# The kernels: one prange over chunks of images, each iteration calling the chunk's function.
# Keeping the work out of the prange body keeps Numba's parfor passes (and compile time) small.


def _conv2d_forward(x, w, b, out, hp, groups, chunk, tile, batch_inner):
    n_batch = x.shape[0]
    n_out, cin_per_group, kh_size, kw_size = w.shape
    w2 = w.reshape(n_out, cin_per_group * kh_size * kw_size)
    for ci in prange(-(-n_batch // chunk)):
        n0 = ci * chunk
        nb = min(chunk, n_batch - n0)
        _forward_chunk(x, w2, b, out, hp, groups, kh_size, kw_size, n0, nb, tile, batch_inner)


def _conv2d_grad_input(gy, w, gx, hp, groups, chunk, tile, batch_inner):
    n_batch = gx.shape[0]
    n_out, cin_per_group, kh_size, kw_size = w.shape
    out_per_group = n_out // groups
    k = cin_per_group * kh_size * kw_size
    # W.T per group, contiguous, so every chunk's BLAS call sees plain C arrays.
    w_t = np.empty((groups, k, out_per_group), w.dtype)
    w2 = w.reshape(n_out, k)
    for g in range(groups):
        for i in range(k):
            for o in range(out_per_group):
                w_t[g, i, o] = w2[g * out_per_group + o, i]
    for ci in prange(-(-n_batch // chunk)):
        n0 = ci * chunk
        nb = min(chunk, n_batch - n0)
        _grad_input_chunk(gy, w_t, gx, hp, kh_size, kw_size, n0, nb, tile, batch_inner)


def _conv2d_grad_weight(x, gy, gw, hp, groups, chunk, tile, batch_inner):
    n_batch = x.shape[0]
    n_out, cin_per_group, kh_size, kw_size = gw.shape
    k = cin_per_group * kh_size * kw_size
    n_chunks = -(-n_batch // chunk)
    partial = np.zeros((n_chunks, n_out, k), x.dtype)
    for ci in prange(n_chunks):
        n0 = ci * chunk
        nb = min(chunk, n_batch - n0)
        _grad_weight_chunk(
            x, gy, partial[ci], hp, groups, kh_size, kw_size, n0, nb, tile, batch_inner
        )
    # Merge the per-chunk partials in chunk order (not thread order): deterministic.
    gw2 = gw.reshape(n_out, k)
    gw2[:, :] = 0
    for ci in range(n_chunks):
        _add_matrix(partial[ci], gw2)


def _conv2d_grad_bias(gy, gb):
    n_batch, n_out, plane = gy.shape
    for o in prange(n_out):
        acc = 0.0  # float64: the sum runs over N*OH*OW terms
        for n in range(n_batch):
            row = gy[n, o]
            plane_acc = 0.0  # an innermost accumulator, so that LLVM vectorises the sum
            for i in range(plane):
                plane_acc += row[i]
            acc += plane_acc
        gb[o] = acc


_conv2d_forward = cpu_kernel(_conv2d_forward)
_conv2d_grad_input = cpu_kernel(_conv2d_grad_input)
_conv2d_grad_weight = cpu_kernel(_conv2d_grad_weight)
_conv2d_grad_bias = cpu_kernel(_conv2d_grad_bias)


def _split(batch, weight_shape, out_hw, stride, forward=False):
    """``(images per chunk, output rows per tile, batch innermost?)`` for one call."""
    cin_per_group, kh, kw = weight_shape[1:]
    k = cin_per_group * kh * kw
    deep = forward and k >= _DEEP_K
    min_chunks = _MIN_CHUNKS_DEEP_FORWARD if deep else _MIN_CHUNKS
    chunk, tile = _work_split(batch.shape[0], k, out_hw[0], out_hw[1], min_chunks)
    # Image-major when each tap unfolds as one run (stride 1, "same" width; see _im2col): that
    # beats the batch-innermost copies (shape e, 64x3x32x32 k3 p1: 5.6 ms -> 4.5 ms for the
    # three passes). Otherwise batch innermost for chunks of whole images, unless the chunk is
    # shorter than both an output row and 8 (a lone small image), whose copies would run a few
    # elements at a time.
    one_run_taps = tuple(stride) == (1, 1) and batch.shape[3] == out_hw[1]
    batch_inner = not one_run_taps and tile == out_hw[0] and chunk >= min(out_hw[1], 8)
    return chunk, tile, batch_inner


# Winograd needs enough channels for its 16 products to be worth BLAS calls; below this the
# transforms cost more than the multiplies they save.
WINOGRAD_MIN_CHANNELS = 16


def _uses_winograd(weight_shape, stride, dilation, groups):
    """Whether a call takes the Winograd F(2x2, 3x3) path (``winograd.py``): 3x3 kernels,
    stride 1, no dilation, one group, and at least ``WINOGRAD_MIN_CHANNELS`` input and output
    channels. Depends on the shapes only, as every path choice here does."""
    n_out, cin, kh, kw = weight_shape
    return (
        (kh, kw) == (3, 3)
        and tuple(stride) == (1, 1)
        and tuple(dilation) == (1, 1)
        and groups == 1
        and min(n_out, cin) >= WINOGRAD_MIN_CHANNELS
    )


# The direct kernels gather each image into KW (x stride) planes about the size of its output
# plane: bounded, so that the path stays in cache and large images keep im2col's row tiles.
# Below the bound the direct path beat im2col on every batch measured with one input channel
# (28x28 images, k3 s2 and k5 s2, batches 1 to 512: 1.2x to 1.9x, one and two threads). With
# 3 channels (shape e, 64x3x32x32 -> 32, k3 s1) its weight gradient was 1.9-2.1x im2col's
# but its forward 1.06x on one thread and 0.8x on two; with 8 channels both lost
# (64x8x14x14 -> 16, k3 s2: 0.74x and 0.80x).
DIRECT_MAX_CHANNELS = {"forward": 1, "grad_weight": 3}
DIRECT_MAX_PLANE = 4096
# Inputs below this many elements keep im2col: there the direct kernels save tens of
# microseconds a call, while compiling them costs about 9 s on a cold cache, which is a
# quarter of a first `numbaconv train` (batches of 64 digits, 50,176 elements).
DIRECT_MIN_ELEMENTS = 2**17


def _uses_direct(x_shape, weight_shape, out_hw, stride, dilation, groups, which):
    """Whether pass ``which`` ("forward" or "grad_weight") takes the direct path
    (``conv_direct.py``): one group, at most ``DIRECT_MAX_CHANNELS[which]`` input channels,
    an output plane ``OH x OW`` of at most ``DIRECT_MAX_PLANE`` elements and an input of at
    least ``DIRECT_MIN_ELEMENTS``. Depends on the shapes only."""
    return (
        groups == 1
        and x_shape[0] * x_shape[1] * x_shape[2] * x_shape[3] >= DIRECT_MIN_ELEMENTS
        and x_shape[1] <= DIRECT_MAX_CHANNELS[which]
        and out_hw[0] * out_hw[1] <= DIRECT_MAX_PLANE
        and x_shape[2] * x_shape[3] < 2**32  # the gather tables index pixels as uint32
    )


def conv2d_forward(x, weight, bias, out, stride, padding, dilation, groups):
    """``out[n, o] = bias[o] + sum_{c, kh, kw} weight[o, c, kh, kw] * x_pad[n, g*C/g + c, ...]``.

    x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,), out (N, O, OH, OW), all one dtype;
    ``padding`` is the (top, left) padding.

    Path: Winograd F(2x2, 3x3) when ``_uses_winograd`` holds for the shapes (and the input
    is finite; a NaN or Inf sends the call to im2col so it propagates exactly), the direct
    kernel when ``_uses_direct`` holds, otherwise im2col + GEMM.
    """
    if _uses_direct(x.shape, weight.shape, out.shape[2:], stride, dilation, groups, "forward"):
        conv_direct.forward(x, weight, bias, out, stride, padding, dilation)
        return
    if _uses_winograd(weight.shape, stride, dilation, groups) and x.shape[0] > 0:
        with single_threaded_blas():
            if winograd.forward(x, weight, bias, out, padding):
                return
    chunk, tile, batch_inner = _split(x, weight.shape, out.shape[2:], stride, forward=True)
    with single_threaded_blas():
        _conv2d_forward(
            x, weight, bias, out, (*stride, *padding, *dilation), groups, chunk, tile, batch_inner
        )


def conv2d_grad_input(grad_output, weight, grad_input, stride, padding, dilation, groups):
    """Gradient with respect to x, written into ``grad_input`` (N, C, H, W).

    Path: for ``_uses_winograd`` shapes, the Winograd forward pass over ``grad_output`` with
    the weights flipped and transposed (stride 1: the transposed convolution is a convolution
    with padding ``2 - p``); otherwise im2col + GEMM and col2im.
    """
    if _uses_winograd(weight.shape, stride, dilation, groups) and grad_input.shape[0] > 0:
        flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        zeros = np.zeros(grad_input.shape[1], grad_input.dtype)
        pad_t = (2 - padding[0], 2 - padding[1])
        with single_threaded_blas():
            if winograd.forward(grad_output, flipped, zeros, grad_input, pad_t):
                return
    chunk, tile, batch_inner = _split(grad_input, weight.shape, grad_output.shape[2:], stride)
    with single_threaded_blas():
        _conv2d_grad_input(
            grad_output,
            weight,
            grad_input,
            (*stride, *padding, *dilation),
            groups,
            chunk,
            tile,
            batch_inner,
        )


def conv2d_grad_weight(x, grad_output, grad_weight, stride, padding, dilation, groups):
    """Gradient with respect to the weight, written into ``grad_weight`` (O, C/groups, KH, KW).

    Path: Winograd (``dU = sum (A dY A^T) V^T``, then ``G^T dU G``) for ``_uses_winograd``
    shapes with a finite input, the direct kernel for ``_uses_direct`` shapes with a finite
    input, otherwise im2col + GEMM.
    """
    out_hw = grad_output.shape[2:]
    if _uses_direct(x.shape, grad_weight.shape, out_hw, stride, dilation, groups, "grad_weight"):
        if conv_direct.grad_weight(x, grad_output, grad_weight, stride, padding, dilation):
            return
    if _uses_winograd(grad_weight.shape, stride, dilation, groups) and x.shape[0] > 0:
        with single_threaded_blas():
            if winograd.grad_weight(x, grad_output, grad_weight, padding):
                return
    chunk, tile, batch_inner = _split(x, grad_weight.shape, grad_output.shape[2:], stride)
    with single_threaded_blas():
        _conv2d_grad_weight(
            x,
            grad_output,
            grad_weight,
            (*stride, *padding, *dilation),
            groups,
            chunk,
            tile,
            batch_inner,
        )


def conv2d_grad_bias(grad_output, grad_bias):
    """Gradient with respect to the bias: ``grad_output`` summed over N, OH, OW, into (O,)."""
    n, o, h, w = grad_output.shape
    _conv2d_grad_bias(grad_output.reshape(n, o, h * w), grad_bias)  # one flat loop per plane
