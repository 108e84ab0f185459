"""Pooling kernels (max, average, adaptive average) and their gradients on the CPU.

Every kernel runs ``prange`` over the ``N*C`` planes: each iteration owns one plane of the
array it writes, so results are bit-identical for any thread count. Forward kernels gather.
Backward kernels add into the plane their iteration owns, visiting outputs in row-major order,
so overlapping windows accumulate race-free and in a fixed order.

Max pooling has two paths, chosen per output: an output whose window lies wholly inside the
input (all of them without padding and ``ceil_mode``'s ragged edge; the interior otherwise)
takes its first maximum with selects and no bounds tests
(:func:`numbaconv.kernels.common.pool.inner_window_argmax`); an output whose window reaches
into padding takes :func:`numbaconv.kernels.common.pool.window_argmax`. Both apply the same
rule (first maximum in row-major window order, first NaN wins), so the path never changes a
result. 2x2 stride-2 windows get their own copy with constant sizes. The backward pass
recomputes the argmax the same way; where windows cannot overlap (stride at least the window's
extent) each interior window writes each of its elements exactly once (its gradient or 0)
instead of adding into them, and a plane the windows tile exactly is not zeroed first.

Training runs disjoint 2x2 windows through a second pair (:mod:`numbaconv.ops.max_pool_codes`):
the forward also writes each window's first-maximum position as a uint8 code (0..3, from
:func:`numbaconv.kernels.common.pool.first_max_2x2`, a select tree), and the backward writes
each ``grad_in`` element once from codes and ``grad_out`` without reading ``x``. Their parallel
unit is a run of whole planes of about CODES_CHUNK elements, so 14x14 planes do not cost a call
each.

The window arithmetic is shared with the CUDA twins: :mod:`numbaconv.kernels.common.pool`,
compiled here with ``cpu_helper``.

Launchers take C-contiguous arrays of one float dtype and preallocated outputs,
and never validate; :mod:`numbaconv.ops.pool` does. Backward kernels overwrite
their whole output, so ``np.empty`` outputs are fine.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_function, cpu_helper, cpu_kernel
from ..common import pool as _common

_avg_window_jit = cpu_helper(_common.avg_window)
_adaptive_window_jit = cpu_helper(_common.adaptive_window)
_interior_jit = cpu_helper(_common.interior)
_window_argmax_jit = cpu_helper(_common.window_argmax)


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


# Elements per partial sum of _run_sum: float32 rounding error grows with the length of a
# partial sum; 1024 keeps it near PyTorch's (which sums whole planes in float32).
RUN_CHUNK = 1024


def _run_sum(run, zero):
    """Sum of the contiguous 1-D ``run``: partial sums of RUN_CHUNK elements in ``run``'s dtype
    (``zero`` is a 0 of that dtype), added in float64.

    Adaptive pooling's windows that span whole rows (a global average above all) are such
    runs. A float32 vector add takes twice the elements of a float64 one, and this is the
    difference between 0.7x and 1.1x PyTorch on 512x8x14x14; the chunking bounds the float32
    error. The loops go over views indexed from 0, which LLVM vectorises (with a run-time start
    it kept Numba's negative-index wraparound and ran 10x slower).
    """
    total = 0.0
    for start in range(0, run.shape[0], RUN_CHUNK):
        chunk = run[start : start + RUN_CHUNK]
        partial = zero
        for i in range(chunk.shape[0]):
            partial += chunk[i]
        total += partial
    return total


def _window_add(plane, h0, h1, w0, w1, value):
    """``plane[h0:h1, w0:w1] += value``, row by row over views indexed from 0 (as
    :func:`_window_sum`)."""
    for ih in range(h0, h1):
        row = plane[ih, w0:w1]
        for iw in range(row.shape[0]):
            row[iw] += value


_window_sum_jit = cpu_helper(_window_sum)
_run_sum_jit = cpu_helper(_run_sum)
_window_add_jit = cpu_helper(_window_add)


def _two_by_two(kh, kw, sh, sw, ph, pw, dh, dw):
    """Whether the windows are 2x2, stride 2, unpadded and undilated: the common case, which
    gets its own copy of the row loops with every size a constant (LLVM then unrolls the window
    and strength-reduces the indexing; with run-time strides the same loop is 3-6x slower)."""
    return (
        kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0 and dh == 1 and dw == 1
    )


_inner_argmax_jit = cpu_helper(_common.inner_window_argmax)
_two_by_two_jit = cpu_helper(_two_by_two)


def _forward_edge(
    x, n, c, out, indices, write_indices, oh, ow0, ow1, kh, kw, sh, sw, ph, pw, dh, dw
):
    """Outputs ``ow0:ow1`` of row ``oh`` of plane ``(n, c)``, any window (bounds tested)."""
    for ow in range(ow0, ow1):
        value, index = _window_argmax_jit(x, n, c, oh * sh - ph, ow * sw - pw, kh, kw, dh, dw)
        out[n, c, oh, ow] = value
        if write_indices:
            indices[n, c, oh, ow] = index


def _backward_edge(grad_out, x, grad_in, n, c, oh, ow0, ow1, kh, kw, sh, sw, ph, pw, dh, dw):
    """Add the gradients of outputs ``ow0:ow1`` of row ``oh`` at their windows' first maxima,
    in order; any window (bounds tested)."""
    width = x.shape[3]
    for ow in range(ow0, ow1):
        _, index = _window_argmax_jit(x, n, c, oh * sh - ph, ow * sw - pw, kh, kw, dh, dw)
        if index >= 0:
            grad_in[n, c, index // width, index % width] += grad_out[n, c, oh, ow]


_forward_edge_jit = cpu_function(_forward_edge)
_backward_edge_jit = cpu_function(_backward_edge)


def _forward_plane(x, n, c, out, indices, write_indices, kh, kw, sh, sw, ph, pw, dh, dw):
    """Max pooling of plane ``(n, c)``: window maxima into ``out`` and, with
    ``write_indices``, their positions into ``indices``."""
    out_h, out_w = out.shape[2], out.shape[3]
    lo_h, hi_h = _interior_jit(out_h, sh, ph, kh, dh, x.shape[2])
    lo_w, hi_w = _interior_jit(out_w, sw, pw, kw, dw, x.shape[3])
    for oh in range(out_h):
        hstart = oh * sh - ph
        fast_lo, fast_hi = (lo_w, hi_w) if lo_h <= oh < hi_h else (0, 0)
        # From 0, not from fast_lo: unpadded, every index is then provably >= 0 and LLVM drops
        # Numba's negative-index wraparound (3-5x faster). Padded, the skip is predictable.
        for ow in range(fast_hi):
            if ow < fast_lo:
                continue
            value, index = _inner_argmax_jit(x, n, c, hstart, ow * sw - pw, kh, kw, dh, dw)
            out[n, c, oh, ow] = value
            if write_indices:
                indices[n, c, oh, ow] = index
        # Outputs whose window reaches into padding (or past a ceil_mode edge). Called, not
        # inlined, and only where there are some: inlined, this rarely run loop made LLVM
        # compile the fast loop above 8x slower.
        if fast_lo > 0:
            _forward_edge_jit(x, n, c, out, indices, write_indices, oh, 0, fast_lo,
                              kh, kw, sh, sw, ph, pw, dh, dw)  # fmt: skip
        if fast_hi < out_w:
            _forward_edge_jit(x, n, c, out, indices, write_indices, oh, fast_hi, out_w,
                              kh, kw, sh, sw, ph, pw, dh, dw)  # fmt: skip


def _backward_plane(grad_out, x, grad_in, n, c, kh, kw, sh, sw, ph, pw, dh, dw):
    """Gradient of max pooling for plane ``(n, c)``, written whole into ``grad_in``."""
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    lo_h, hi_h = _interior_jit(out_h, sh, ph, kh, dh, height)
    lo_w, hi_w = _interior_jit(out_w, sw, pw, kw, dw, width)
    # Windows that cannot overlap own their elements: written once, nothing to accumulate.
    disjoint = sh >= (kh - 1) * dh + 1 and sw >= (kw - 1) * dw + 1
    # Windows that tile the plane exactly write every element: no zeroing pass needed.
    tiled = (
        ph == 0 and pw == 0 and dh == 1 and dw == 1 and sh == kh and sw == kw
        and out_h * kh == height and out_w * kw == width
    )  # fmt: skip
    if not tiled:
        grad_in[n, c, :, :] = 0
    where = np.empty(out_w, np.int64)
    for oh in range(out_h):
        hstart = oh * sh - ph
        fast_lo, fast_hi = (lo_w, hi_w) if lo_h <= oh < hi_h and disjoint else (0, 0)
        # Two passes over the row: all argmax loads, then all stores. Interleaved, each load of
        # x followed a store to grad_in at the same offset modulo 4 KiB, which the CPU takes
        # for a possible dependence and stalls on (4K aliasing): 15x slower.
        for ow in range(fast_hi):  # from 0, as in _forward_plane
            if ow < fast_lo:
                continue
            _, where[ow] = _inner_argmax_jit(x, n, c, hstart, ow * sw - pw, kh, kw, dh, dw)
        for ow in range(fast_hi):
            if ow < fast_lo:
                continue
            # Each element of a disjoint window is written once: its gradient or 0 (selects).
            wstart = ow * sw - pw
            index = where[ow]
            g = grad_out[n, c, oh, ow]
            for ki in range(kh):
                ih = hstart + ki * dh
                for kj in range(kw):
                    iw = wstart + kj * dw
                    grad_in[n, c, ih, iw] = g if ih * width + iw == index else 0
        # Overlapping windows and windows reaching into padding: add at the first maximum, in
        # row-major output order (the order the CUDA twin sums in); called, as in
        # _forward_plane. Disjoint windows never share an element, so the order between the
        # two loops does not matter.
        if fast_lo > 0:
            _backward_edge_jit(grad_out, x, grad_in, n, c, oh, 0, fast_lo,
                               kh, kw, sh, sw, ph, pw, dh, dw)  # fmt: skip
        if fast_hi < out_w:
            _backward_edge_jit(grad_out, x, grad_in, n, c, oh, fast_hi, out_w,
                               kh, kw, sh, sw, ph, pw, dh, dw)  # fmt: skip


_forward_plane_inline = cpu_helper(_forward_plane)
_backward_plane_inline = cpu_helper(_backward_plane)


def _forward_plane_2x2(x, n, c, out, indices, write_indices):
    # Every size a constant: LLVM unrolls the window and strength-reduces the indexing.
    _forward_plane_inline(x, n, c, out, indices, write_indices, 2, 2, 2, 2, 0, 0, 1, 1)


def _backward_plane_2x2(grad_out, x, grad_in, n, c):
    _backward_plane_inline(grad_out, x, grad_in, n, c, 2, 2, 2, 2, 0, 0, 1, 1)


# One plane is a called unit of work (not inlined into the prange body): compiled once as a
# plain function, where LLVM optimises it fully, and kept out of Numba's parfor passes.
_forward_plane_any_jit = cpu_function(_forward_plane)
_backward_plane_any_jit = cpu_function(_backward_plane)
_forward_plane_2x2_jit = cpu_function(_forward_plane_2x2)
_backward_plane_2x2_jit = cpu_function(_backward_plane_2x2)


def _max_pool2d_forward(x, out, indices, write_indices, kh, kw, sh, sw, ph, pw, dh, dw):
    channels = x.shape[1]
    two_by_two = _two_by_two_jit(kh, kw, sh, sw, ph, pw, dh, dw)
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        if two_by_two:
            _forward_plane_2x2_jit(x, n, c, out, indices, write_indices)
        else:
            _forward_plane_any_jit(
                x, n, c, out, indices, write_indices, kh, kw, sh, sw, ph, pw, dh, dw
            )


def _max_pool2d_backward(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw):
    channels = x.shape[1]
    two_by_two = _two_by_two_jit(kh, kw, sh, sw, ph, pw, dh, dw)
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        if two_by_two:
            _backward_plane_2x2_jit(grad_out, x, grad_in, n, c)
        else:
            _backward_plane_any_jit(grad_out, x, grad_in, n, c, kh, kw, sh, sw, ph, pw, dh, dw)


def _forward_planes_codes(x, out, codes, p0, p1):
    """Disjoint 2x2 max pooling of planes ``p0:p1`` of ``x`` (P, H, W): maxima into ``out``
    (P, OH, OW) and each first maximum's position in its window (``2 * row + column``) into
    ``codes``."""
    for p in range(p0, p1):
        # Nested loops, row views indexed from 0: a flat row counter split by a division per
        # row, or 4-D indexing, made 7-wide rows (14x14 inputs) twice as slow.
        for oh in range(out.shape[1]):
            top, bottom = x[p, 2 * oh], x[p, 2 * oh + 1]
            out_row, code_row = out[p, oh], codes[p, oh]
            for ow in range(out_row.shape[0]):
                value, code = _first_max_2x2_jit(
                    top[2 * ow], top[2 * ow + 1], bottom[2 * ow], bottom[2 * ow + 1]
                )
                out_row[ow] = value
                code_row[ow] = code


def _backward_planes_codes(grad_out, codes, grad_in, p0, p1, zero):
    """Gradient of disjoint 2x2 max pooling for planes ``p0:p1`` of ``grad_in`` (P, H, W) from
    the forward's codes, in one pass that writes every element once: its window's gradient
    where the code points at it, else 0 (rows and columns past the last window, too)."""
    height, width = grad_in.shape[1], grad_in.shape[2]
    out_h, out_w = grad_out.shape[1], grad_out.shape[2]
    for p in range(p0, p1):
        for oh in range(out_h):
            g_row, code_row = grad_out[p, oh], codes[p, oh]
            # One input row at a time: writing both rows of a window in one loop was 3x slower.
            for r in range(2):
                row = grad_in[p, 2 * oh + r]
                for ow in range(out_w):
                    g = g_row[ow]
                    k = code_row[ow] - 2 * r
                    row[2 * ow] = g if k == 0 else zero
                    row[2 * ow + 1] = g if k == 1 else zero
                for iw in range(2 * out_w, width):
                    row[iw] = zero
        for ih in range(2 * out_h, height):
            grad_in[p, ih, :] = zero


_first_max_2x2_jit = cpu_helper(_common.first_max_2x2)
_forward_planes_codes_jit = cpu_function(_forward_planes_codes)
_backward_planes_codes_jit = cpu_function(_backward_planes_codes)

# Elements per parallel work unit of the 2x2 code kernels: whole planes, several when small
# (a call per 14x14 plane cost as much as the plane's work).
CODES_CHUNK = 1 << 14


def _plane_chunks(planes, plane_size):
    per_chunk = max(1, CODES_CHUNK // max(plane_size, 1))
    return per_chunk, (planes + per_chunk - 1) // per_chunk


_plane_chunks_jit = cpu_helper(_plane_chunks)


def _max_pool2d_forward_codes(x, out, codes):
    x3 = x.reshape(x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    out3 = out.reshape(x3.shape[0], out.shape[2], out.shape[3])
    codes3 = codes.reshape(out3.shape)
    per_chunk, chunks = _plane_chunks_jit(x3.shape[0], x.shape[2] * x.shape[3])
    for chunk in prange(chunks):
        p0 = chunk * per_chunk
        _forward_planes_codes_jit(x3, out3, codes3, p0, min(p0 + per_chunk, x3.shape[0]))


def _max_pool2d_backward_codes(grad_out, codes, grad_in):
    planes = grad_in.shape[0] * grad_in.shape[1]
    g3 = grad_out.reshape(planes, grad_out.shape[2], grad_out.shape[3])
    codes3 = codes.reshape(g3.shape)
    gi3 = grad_in.reshape(planes, grad_in.shape[2], grad_in.shape[3])
    zero = np.zeros(1, grad_in.dtype)[0]
    per_chunk, chunks = _plane_chunks_jit(planes, grad_in.shape[2] * grad_in.shape[3])
    for chunk in prange(chunks):
        p0 = chunk * per_chunk
        _backward_planes_codes_jit(g3, codes3, gi3, p0, min(p0 + per_chunk, planes), zero)


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
    flat = x.reshape(x.shape[0] * channels, height * width)
    zero = np.zeros(1, x.dtype)[0]
    if out_h == 1 and out_w == 1:  # a global average: one run per plane, nothing else
        means = out.reshape(out.size)
        for plane_index in prange(flat.shape[0]):
            means[plane_index] = _run_sum_jit(flat[plane_index], zero) / flat.shape[1]
        return
    for plane_index in prange(x.shape[0] * channels):
        n = plane_index // channels
        c = plane_index % channels
        plane = x[n, c]
        for oh in range(out_h):
            h0, h1 = _adaptive_window_jit(oh, out_h, height)
            for ow in range(out_w):
                w0, w1 = _adaptive_window_jit(ow, out_w, width)
                if out_w == 1:  # whole rows: one contiguous run
                    total = _run_sum_jit(flat[plane_index, h0 * width : h1 * width], zero)
                else:
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


_NO_INDICES = np.empty((1, 1, 1, 1), np.int64)

_max_pool2d_forward_jit = cpu_kernel(_max_pool2d_forward)
_max_pool2d_backward_jit = cpu_kernel(_max_pool2d_backward)
_max_pool2d_forward_codes_jit = cpu_kernel(_max_pool2d_forward_codes)
_max_pool2d_backward_codes_jit = cpu_kernel(_max_pool2d_backward_codes)
_avg_pool2d_forward_jit = cpu_kernel(_avg_pool2d_forward)
_avg_pool2d_backward_jit = cpu_kernel(_avg_pool2d_backward)
_adaptive_avg_pool2d_forward_jit = cpu_kernel(_adaptive_avg_pool2d_forward)
_adaptive_avg_pool2d_backward_jit = cpu_kernel(_adaptive_avg_pool2d_backward)


def max_pool2d_forward(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    """Fill ``out`` (N, C, OH, OW) with window maxima of ``x`` (N, C, H, W) and, unless
    ``indices`` is None, ``indices`` (int64, same shape) with their flat ``h*W + w`` positions."""
    write_indices = indices is not None
    if not write_indices:
        indices = _NO_INDICES  # never written: one signature whether indices are wanted or not
    _max_pool2d_forward_jit(x, out, indices, write_indices, kh, kw, sh, sw, ph, pw, dh, dw)


def max_pool2d_backward(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw):
    """Overwrite ``grad_in`` (shaped like ``x``): each ``grad_out`` element goes to
    the first maximum of its window, overlapping windows accumulate."""
    _max_pool2d_backward_jit(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw)


def max_pool2d_forward_codes(x, out, codes):
    """Disjoint 2x2 max pooling (stride 2, no padding or dilation, ``out`` (N, C, OH, OW) with
    ``2*OH <= H`` and ``2*OW <= W``): fill ``out`` with the window maxima of ``x`` (N, C, H, W)
    and ``codes`` (uint8, shape of ``out``) with each first maximum's ``2 * row + column``."""
    _max_pool2d_forward_codes_jit(x, out, codes)


def max_pool2d_backward_codes(grad_out, codes, grad_in):
    """Overwrite ``grad_in`` (N, C, H, W) with the gradient of disjoint 2x2 max pooling: each
    ``grad_out`` element at the position ``codes`` gives in its window, 0 everywhere else."""
    _max_pool2d_backward_codes_jit(grad_out, codes, grad_in)


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
