"""Kernels behind the SciPy-compatible ``correlate2d`` / ``convolve2d`` on the CPU.

One kernel, :func:`correlate2d_boundary`, does the direct work without building a
padded copy of the image (which would cost a full extra pass over memory). Each
output row is owned by one ``prange`` iteration and stays in L1 cache while the
kernel rows are added to it, one pass per group of up to five taps of a kernel
row: the outputs whose whole row window lies inside the image ("interior") read
contiguous slices of the image row in a branch-free loop with the group's taps
unrolled, so the loop vectorises over output columns and each pass loads and
stores the output once for up to five multiply-adds. Only the few outputs near
the left and right edges map their columns through SciPy's ``fill``/``symm``/``wrap``
rule, tap by tap; rows outside the image are mapped once per kernel row. The
order of the additions depends on the shapes only, so results are bit-identical
for any thread count.

Launchers take C-contiguous arrays of one dtype (float32, float64, complex64 or
complex128) and preallocated outputs, and never validate;
:mod:`numbaconv.ops.correlate` does.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_function, cpu_helper, cpu_kernel
from ..common.correlate import BOUNDARY_FILL, BOUNDARY_SYMM, BOUNDARY_WRAP, source_index

__all__ = ["BOUNDARY_FILL", "BOUNDARY_SYMM", "BOUNDARY_WRAP", "correlate2d_boundary"]

# The boundary codes and the index rule are written once, for this kernel and its CUDA twin.
_source_index_jit = cpu_helper(source_index)

#: Taps of one kernel row unrolled in one pass over an output row.
TAP_GROUP = 5


def _weight(kernel, j, k, conjugate):
    weight = kernel[j, k]
    return weight.conjugate() if conjugate else weight


_weight = cpu_helper(_weight)


def _add_tap_group(target, source, kernel, j, k0, taps, conjugate):
    """``target[n] += sum_{t < taps} source[n + k0 + t] * kernel[j, k0 + t]`` (taps <= 5),
    the taps unrolled so that the loop over ``n`` vectorises."""
    count = target.shape[0]
    # One slice per tap, indexed by the loop variable alone: an index such as ``n + 1`` would
    # carry Numba's negative-index wraparound check, which stops LLVM from vectorising.
    s0 = source[k0 : k0 + count]
    w0 = _weight(kernel, j, k0, conjugate)
    if taps == 1:
        for n in range(count):
            target[n] += s0[n] * w0
        return
    s1 = source[k0 + 1 : k0 + 1 + count]
    w1 = _weight(kernel, j, k0 + 1, conjugate)
    if taps == 2:
        for n in range(count):
            target[n] += s0[n] * w0 + s1[n] * w1
        return
    s2 = source[k0 + 2 : k0 + 2 + count]
    w2 = _weight(kernel, j, k0 + 2, conjugate)
    if taps == 3:
        for n in range(count):
            target[n] += s0[n] * w0 + s1[n] * w1 + s2[n] * w2
        return
    s3 = source[k0 + 3 : k0 + 3 + count]
    w3 = _weight(kernel, j, k0 + 3, conjugate)
    if taps == 4:
        for n in range(count):
            target[n] += s0[n] * w0 + s1[n] * w1 + s2[n] * w2 + s3[n] * w3
        return
    s4 = source[k0 + 4 : k0 + 4 + count]
    w4 = _weight(kernel, j, k0 + 4, conjugate)
    for n in range(count):
        target[n] += s0[n] * w0 + s1[n] * w1 + s2[n] * w2 + s3[n] * w3 + s4[n] * w4


# Called, not inlined: inside the prange body LLVM does not vectorise these loops (the
# shifted slices defeat its alias analysis there); as a function of its own it does.
_add_tap_group = cpu_function(_add_tap_group)


def _add_edge_taps(out_row, in_row, kernel, j, col_start, lo, hi, boundary, fill, conjugate):
    """Outputs ``[0, lo)`` and ``[hi, len)`` of one kernel row, columns mapped tap by tap."""
    width = in_row.shape[0]
    out_width = out_row.shape[0]
    for k in range(kernel.shape[1]):
        weight = _weight(kernel, j, k, conjugate)
        offset = col_start + k
        for n in range(lo):
            c = _source_index_jit(offset + n, width, boundary)
            out_row[n] += (fill if c < 0 else in_row[c]) * weight
        for n in range(hi, out_width):
            c = _source_index_jit(offset + n, width, boundary)
            out_row[n] += (fill if c < 0 else in_row[c]) * weight


_add_edge_taps = cpu_helper(_add_edge_taps)


def _set_fused_3x3(target, block, kernel, c, conjugate):
    """``target[n] = sum_{j,k < 3} block[j, c + n + k] * w[j, k]``: all nine taps in one
    vectorised pass (one store per output, no zeroing pass, no re-reading of ``target``)."""
    count = target.shape[0]
    a, b, d = block[0, c:], block[1, c:], block[2, c:]
    a0, a1, a2 = a[:count], a[1 : 1 + count], a[2 : 2 + count]
    b0, b1, b2 = b[:count], b[1 : 1 + count], b[2 : 2 + count]
    d0, d1, d2 = d[:count], d[1 : 1 + count], d[2 : 2 + count]
    w00, w01, w02 = (
        _weight(kernel, 0, 0, conjugate),
        _weight(kernel, 0, 1, conjugate),
        _weight(kernel, 0, 2, conjugate),
    )
    w10, w11, w12 = (
        _weight(kernel, 1, 0, conjugate),
        _weight(kernel, 1, 1, conjugate),
        _weight(kernel, 1, 2, conjugate),
    )
    w20, w21, w22 = (
        _weight(kernel, 2, 0, conjugate),
        _weight(kernel, 2, 1, conjugate),
        _weight(kernel, 2, 2, conjugate),
    )
    for n in range(count):
        target[n] = (
            a0[n] * w00 + a1[n] * w01 + a2[n] * w02
            + b0[n] * w10 + b1[n] * w11 + b2[n] * w12
            + d0[n] * w20 + d1[n] * w21 + d2[n] * w22
        )  # fmt: skip


_set_fused_3x3 = cpu_function(_set_fused_3x3)


def _set_fused_5x5(target, block, kernel, c, conjugate):
    """As :func:`_set_fused_3x3` for a 5 x 5 kernel: 25 taps, one pass."""
    count = target.shape[0]
    a, b, d, e, g = block[0, c:], block[1, c:], block[2, c:], block[3, c:], block[4, c:]
    # fmt: off
    a0, a1, a2, a3, a4 = (a[:count], a[1:1 + count], a[2:2 + count], a[3:3 + count],
                          a[4:4 + count])
    b0, b1, b2, b3, b4 = (b[:count], b[1:1 + count], b[2:2 + count], b[3:3 + count],
                          b[4:4 + count])
    d0, d1, d2, d3, d4 = (d[:count], d[1:1 + count], d[2:2 + count], d[3:3 + count],
                          d[4:4 + count])
    e0, e1, e2, e3, e4 = (e[:count], e[1:1 + count], e[2:2 + count], e[3:3 + count],
                          e[4:4 + count])
    g0, g1, g2, g3, g4 = (g[:count], g[1:1 + count], g[2:2 + count], g[3:3 + count],
                          g[4:4 + count])
    w00, w01, w02, w03, w04 = (_weight(kernel, 0, 0, conjugate), _weight(kernel, 0, 1, conjugate),
                               _weight(kernel, 0, 2, conjugate), _weight(kernel, 0, 3, conjugate),
                               _weight(kernel, 0, 4, conjugate))
    w10, w11, w12, w13, w14 = (_weight(kernel, 1, 0, conjugate), _weight(kernel, 1, 1, conjugate),
                               _weight(kernel, 1, 2, conjugate), _weight(kernel, 1, 3, conjugate),
                               _weight(kernel, 1, 4, conjugate))
    w20, w21, w22, w23, w24 = (_weight(kernel, 2, 0, conjugate), _weight(kernel, 2, 1, conjugate),
                               _weight(kernel, 2, 2, conjugate), _weight(kernel, 2, 3, conjugate),
                               _weight(kernel, 2, 4, conjugate))
    w30, w31, w32, w33, w34 = (_weight(kernel, 3, 0, conjugate), _weight(kernel, 3, 1, conjugate),
                               _weight(kernel, 3, 2, conjugate), _weight(kernel, 3, 3, conjugate),
                               _weight(kernel, 3, 4, conjugate))
    w40, w41, w42, w43, w44 = (_weight(kernel, 4, 0, conjugate), _weight(kernel, 4, 1, conjugate),
                               _weight(kernel, 4, 2, conjugate), _weight(kernel, 4, 3, conjugate),
                               _weight(kernel, 4, 4, conjugate))
    # fmt: on
    for n in range(count):
        target[n] = (
            a0[n] * w00 + a1[n] * w01 + a2[n] * w02 + a3[n] * w03 + a4[n] * w04
            + b0[n] * w10 + b1[n] * w11 + b2[n] * w12 + b3[n] * w13 + b4[n] * w14
            + d0[n] * w20 + d1[n] * w21 + d2[n] * w22 + d3[n] * w23 + d4[n] * w24
            + e0[n] * w30 + e1[n] * w31 + e2[n] * w32 + e3[n] * w33 + e4[n] * w34
            + g0[n] * w40 + g1[n] * w41 + g2[n] * w42 + g3[n] * w43 + g4[n] * w44
        )  # fmt: skip


_set_fused_5x5 = cpu_function(_set_fused_5x5)


def _correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill, conjugate, out):
    height, width = image.shape
    kernel_height, kernel_width = kernel.shape
    out_height, out_width = out.shape
    zero = out.dtype.type(0)
    # Outputs [lo, hi) have every tap of a kernel row inside the image row.
    lo = min(max(0, -col_start), out_width)
    hi = max(min(out_width, width - col_start - kernel_width + 1), lo)
    # 3 x 3 and 5 x 5 kernels whose window rows lie inside the image: one fused pass over the
    # interior outputs (no zeroing pass, one store per output, every image value loaded once
    # per tap); the rows near the top and bottom edges take the general path below.
    # (Complex 5 x 5 is left to the general path: 25 complex taps in one expression run
    # several times slower there, measured.)
    fused = kernel_height == kernel_width and hi > lo
    fused = fused and (kernel_height == 3 or (kernel_height == 5 and np.isrealobj(out)))
    for m in prange(out_height):
        out_row = out[m]
        top = row_start + m
        if fused and 0 <= top and top + kernel_height <= height:
            block = image[top : top + kernel_height]
            if kernel_height == 3:
                _set_fused_3x3(out_row[lo:hi], block, kernel, col_start + lo, conjugate)
            else:
                _set_fused_5x5(out_row[lo:hi], block, kernel, col_start + lo, conjugate)
            for n in range(lo):
                out_row[n] = zero
            for n in range(hi, out_width):
                out_row[n] = zero
            for j in range(kernel_height):
                _add_edge_taps(
                    out_row, image[top + j], kernel, j, col_start, lo, hi, boundary, fill, conjugate
                )
            continue
        for n in range(out_width):
            out_row[n] = zero
        # Every product is formed, zero weights and fill included, so 0*inf gives NaN
        # exactly where SciPy's loop gives it.
        for j in range(kernel_height):
            source_row = _source_index_jit(row_start + m + j, height, boundary)
            if source_row < 0:
                for k in range(kernel_width):
                    fill_term = fill * _weight(kernel, j, k, conjugate)
                    for n in range(out_width):
                        out_row[n] += fill_term
                continue
            in_row = image[source_row]
            _add_edge_taps(out_row, in_row, kernel, j, col_start, lo, hi, boundary, fill, conjugate)
            if hi > lo:
                # Slices with non-negative bounds keep the hot loops free of wraparound checks.
                source = in_row[col_start + lo : col_start + hi + kernel_width - 1]
                target = out_row[lo:hi]
                for k0 in range(0, kernel_width, TAP_GROUP):
                    taps = min(TAP_GROUP, kernel_width - k0)
                    _add_tap_group(target, source, kernel, j, k0, taps, conjugate)


_correlate2d_boundary_jit = cpu_kernel(_correlate2d_boundary)


def correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill_value, conjugate, out):
    """Cross-correlate ``image``, extended by ``boundary``, with ``kernel`` (or its conjugate).

    ``out[m, n] = sum_{j,k} ext[row_start + m + j, col_start + n + k] * w[j, k]``,
    where ``w`` is ``kernel`` (``conj(kernel)`` when ``conjugate``) and ``ext`` is
    ``image`` extended with the constant ``fill_value`` (``BOUNDARY_FILL``), by
    mirroring with the edge repeated (``BOUNDARY_SYMM``) or periodically
    (``BOUNDARY_WRAP``), repeatedly where the window reaches further than one image
    size. ``row_start = col_start = 0`` with an output of
    ``image.shape - kernel.shape + 1`` is a plain "valid" correlation.

    Parameters
    ----------
    image : ndarray, shape (H, W), float32, float64, complex64 or complex128, C-contiguous
        ``H`` or ``W`` may be 0 only with ``BOUNDARY_FILL``.
    kernel : ndarray, shape (KH, KW), same dtype, C-contiguous
    row_start, col_start : int
        Image coordinates of the first output's window (negative: in the border).
    boundary : int
        ``BOUNDARY_FILL``, ``BOUNDARY_SYMM`` or ``BOUNDARY_WRAP``.
    fill_value : scalar
        Value outside the image with ``BOUNDARY_FILL`` (ignored otherwise).
    conjugate : bool
        Use the complex conjugate of every weight (SciPy's correlation rule); no effect
        on real dtypes.
    out : ndarray, shape (OH, OW), same dtype, C-contiguous
        Output, overwritten entirely.
    """
    _correlate2d_boundary_jit(
        image, kernel, row_start, col_start, boundary, out.dtype.type(fill_value), conjugate, out
    )
