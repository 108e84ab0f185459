"""CUDA twins of ``numbaconv.kernels.cpu.conv``: conv2d forward and its three gradients, as tiled
implicit GEMMs (:mod:`numbaconv.kernels.cuda.igemm`).

Same launchers, argument order and layouts (NCHW, OIHW, ``padding`` = top/left) as the CPU
module. Per group, with ``Og = O/groups`` and ``Cg = C/groups``:

- forward: ``out[(n, oh, ow), o] = sum_{(c, kh, kw)} x_pad[n, c, oh*sh + kh*dh, ow*sw + kw*dw]
  * w[o, (c, kh, kw)]``, rows N*OH*OW, columns Og, terms Cg*KH*KW; the bias is added at the store;
- grad_input: ``gx[(n, ih, iw), c] = sum_{(o, kh, kw)} gy[n, o, oh, ow] * w[o, c, kh, kw]`` where
  ``(oh, ow)`` is the output position whose tap ``(kh, kw)`` read ``(ih, iw)`` (a zero term where
  there is none: a stride gap or the border), rows N*H*W, columns Cg, terms Og*KH*KW;
- grad_weight: ``gw[o, (c, kh, kw)] = sum_{(n, oh, ow)} gy[n, o, oh, ow] * x_pad[...]``, rows Og,
  columns Cg*KH*KW, terms N*OH*OW: the terms are split into pieces (enough blocks to fill the
  device, at most ``launch.MAX_TERMS_PER_PIECE`` terms each), each piece's tile is written to a
  float64 scratch array, and a second kernel adds the pieces in order 0, 1, 2, ... (no atomics,
  so every run gives the same bits);
- grad_bias: one block per channel, a float64 tree reduction in a fixed pairing.

The tile comes from :func:`launch.gemm_tile` (a narrow tile for few columns, a square one
otherwise, whichever fits the device's threads and shared memory); where none fits, the
one-thread-per-element kernels of :mod:`numbaconv.kernels.cuda.conv_reference` run instead. Those
stay as the reference the tests compare against. The summation order differs from the CPU
kernels' (which call BLAS) and from the reference kernels': the backends agree to rounding.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from ..common import index as _index
from . import conv_reference
from .conv_reference import _source_position
from .igemm import gemm_grid, make_gemm_kernel
from .launch import (
    NARROW_TILE,
    WIDE_TILE,
    elementwise_grid,
    gemm_tile,
    grid_blocks,
    reduction_pieces,
)
from .norm import REDUCTION_THREADS, _block_sum

_unravel3 = cuda_device(_index.unravel3)


def _load_x_tap(x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw):
    """``x_pad[n, c, oh*sh + kh*dh, ow*sw + kw*dw]``: 0 in the padding."""
    ih = oh * sh - ph + kh * dh
    iw = ow * sw - pw + kw * dw
    if ih < 0 or ih >= x.shape[2] or iw < 0 or iw >= x.shape[3]:
        return x.dtype.type(0)
    return x[n, c, ih, iw]


_load_x_tap = cuda_device(_load_x_tap)

# --- forward: p = x, q = w, r = out, extra = bias ----------------------------------------


def _forward_geometry(x, w, out, bias, groups):
    n_batch, n_out, h_out, w_out = out.shape
    return n_batch * h_out * w_out, n_out // groups, w.shape[1] * w.shape[2] * w.shape[3]


def _forward_load_x(x, w, out, bias, groups, g, m, k, sh, sw, ph, pw, dh, dw):
    n, oh, ow = _unravel3(m, out.shape[2], out.shape[3])
    c, kh, kw = _unravel3(k, w.shape[2], w.shape[3])
    return _load_x_tap(x, n, g * w.shape[1] + c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw)


def _forward_load_w(x, w, out, bias, groups, g, k, col, sh, sw, ph, pw, dh, dw):
    c, kh, kw = _unravel3(k, w.shape[2], w.shape[3])
    return w[g * (out.shape[1] // groups) + col, c, kh, kw]


def _forward_store(x, w, out, bias, groups, g, piece, m, col, value):
    n, oh, ow = _unravel3(m, out.shape[2], out.shape[3])
    o = g * (out.shape[1] // groups) + col
    out[n, o, oh, ow] = value + bias[o]


# --- grad_input: p = gy, q = w, r = gx, extra = w (unused) -------------------------------


def _grad_input_geometry(gy, w, gx, extra, groups):
    n_batch, _, h_in, w_in = gx.shape
    return n_batch * h_in * w_in, w.shape[1], (w.shape[0] // groups) * w.shape[2] * w.shape[3]


def _grad_input_load_gy(gy, w, gx, extra, groups, g, m, k, sh, sw, ph, pw, dh, dw):
    n, ih, iw = _unravel3(m, gx.shape[2], gx.shape[3])
    o, kh, kw = _unravel3(k, w.shape[2], w.shape[3])
    oh = _source_position(ih, ph, kh * dh, sh, gy.shape[2])
    ow = _source_position(iw, pw, kw * dw, sw, gy.shape[3])
    if oh < 0 or ow < 0:
        return gy.dtype.type(0)
    return gy[n, g * (w.shape[0] // groups) + o, oh, ow]


def _grad_input_load_w(gy, w, gx, extra, groups, g, k, col, sh, sw, ph, pw, dh, dw):
    o, kh, kw = _unravel3(k, w.shape[2], w.shape[3])
    return w[g * (w.shape[0] // groups) + o, col, kh, kw]


def _grad_input_store(gy, w, gx, extra, groups, g, piece, m, col, value):
    n, ih, iw = _unravel3(m, gx.shape[2], gx.shape[3])
    gx[n, g * w.shape[1] + col, ih, iw] = value


# --- grad_weight: p = x, q = gy, r = partial (pieces, O, Cg*KH*KW) float64, extra = gw ----


def _grad_weight_geometry(x, gy, partial, gw, groups):
    columns = gw.shape[1] * gw.shape[2] * gw.shape[3]
    return gw.shape[0] // groups, columns, gy.shape[0] * gy.shape[2] * gy.shape[3]


def _grad_weight_load_gy(x, gy, partial, gw, groups, g, m, k, sh, sw, ph, pw, dh, dw):
    n, oh, ow = _unravel3(k, gy.shape[2], gy.shape[3])
    return gy[n, g * (gw.shape[0] // groups) + m, oh, ow]


def _grad_weight_load_x(x, gy, partial, gw, groups, g, k, col, sh, sw, ph, pw, dh, dw):
    n, oh, ow = _unravel3(k, gy.shape[2], gy.shape[3])
    c, kh, kw = _unravel3(col, gw.shape[2], gw.shape[3])
    return _load_x_tap(x, n, g * gw.shape[1] + c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw)


def _grad_weight_store(x, gy, partial, gw, groups, g, piece, m, col, value):
    partial[piece, g * (gw.shape[0] // groups) + m, col] = value


# Operand index that walks fastest in memory, per pass (see igemm): forward reads x along ow
# (rows) and w along (c, kh, kw) (terms); grad_input reads gy along iw (rows) and w along
# (kh, kw) (terms); grad_weight reads gy and x along (n, oh, ow) (terms).
_PASSES = {
    "forward": (_forward_geometry, _forward_load_x, _forward_load_w, _forward_store, True, True),
    "grad_input": (_grad_input_geometry, _grad_input_load_gy, _grad_input_load_w,
                   _grad_input_store, True, True),
    "grad_weight": (_grad_weight_geometry, _grad_weight_load_gy, _grad_weight_load_x,
                    _grad_weight_store, False, True),
}  # fmt: skip


@cache
def _tiled_kernel(conv_pass: str, tile):
    """The tiled kernel of ``conv_pass`` for ``tile``, compiled once per process."""
    geometry, load_a, load_b, store, a_rows_fastest, b_terms_fastest = _PASSES[conv_pass]
    suffix = "narrow" if tile.bn <= NARROW_TILE.bn else "wide"
    return make_gemm_kernel(
        f"_conv2d_{conv_pass}_{suffix}", __name__, tile,
        cuda_device(geometry), cuda_device(load_a), cuda_device(load_b), cuda_device(store),
        a_rows_fastest, b_terms_fastest,
    )  # fmt: skip


# The GPU kernels by name, so that the PTX tier compiles each for cc 9.0.
_conv2d_forward_wide = _tiled_kernel("forward", WIDE_TILE)
_conv2d_forward_narrow = _tiled_kernel("forward", NARROW_TILE)
_conv2d_grad_input_wide = _tiled_kernel("grad_input", WIDE_TILE)
_conv2d_grad_input_narrow = _tiled_kernel("grad_input", NARROW_TILE)
_conv2d_grad_weight_wide = _tiled_kernel("grad_weight", WIDE_TILE)
_conv2d_grad_weight_narrow = _tiled_kernel("grad_weight", NARROW_TILE)


def _sum_pieces(partial, gw):
    # Coalesced: consecutive threads own consecutive weight elements.
    pieces, _, columns = partial.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, gw.size, step):
        o = idx // columns
        col = idx % columns
        acc = 0.0
        for piece in range(pieces):
            acc += partial[piece, o, col]
        kw_size = gw.shape[3]
        rest = col // kw_size
        gw[o, rest // gw.shape[2], rest % gw.shape[2], col % kw_size] = acc


def _conv2d_grad_bias(gy, gb):
    partial = cuda.shared.array(REDUCTION_THREADS, dtype=np.float64)
    n_batch, n_out, h_out, w_out = gy.shape
    plane = h_out * w_out
    t = cuda.threadIdx.x
    for o in range(cuda.blockIdx.x, n_out, cuda.gridDim.x):
        acc = 0.0
        for i in range(t, n_batch * plane, REDUCTION_THREADS):
            r = i % plane
            acc += gy[i // plane, o, r // w_out, r % w_out]
        total = _block_sum(partial, acc)
        if t == 0:
            gb[o] = total


_sum_pieces = cuda_kernel(_sum_pieces)
_conv2d_grad_bias = cuda_kernel(_conv2d_grad_bias)


def _signatures():
    i64 = cuda.int64
    hyper = (i64,) * 7  # piece_length and sh, sw, ph, pw, dh, dw; then groups below
    table = {}
    for f in (cuda.float32, cuda.float64):
        a4, a3, a1 = f[:, :, :, ::1], cuda.float64[:, :, ::1], f[::1]
        for suffix in ("wide", "narrow"):
            table.setdefault(f"_conv2d_forward_{suffix}", []).append(
                cuda.void(a4, a4, a4, a1, *hyper, i64)
            )
            table.setdefault(f"_conv2d_grad_input_{suffix}", []).append(
                cuda.void(a4, a4, a4, a4, *hyper, i64)
            )
            table.setdefault(f"_conv2d_grad_weight_{suffix}", []).append(
                cuda.void(a4, a4, a3, a4, *hyper, i64))  # fmt: skip
        table.setdefault("_sum_pieces", []).append(cuda.void(a3, a4))
        table.setdefault("_conv2d_grad_bias", []).append(cuda.void(a4, a1))
        table.setdefault("_load_x_tap", []).append(f(a4, *(i64,) * 12))
    return table


PTX_SIGNATURES = _signatures()

# A few float64 scratch arrays for grad_weight's partial tiles, reused across calls (an
# allocation per backward step would cost more than the kernel on small layers).
_scratch: dict[tuple, object] = {}


def _partial_scratch(shape):
    if shape not in _scratch:
        if len(_scratch) >= 8:
            _scratch.clear()
        _scratch[shape] = cuda.device_array(shape, dtype=np.float64)
    return _scratch[shape]


def _launch(conv_pass, tile, grid, p, q, r, extra, piece_length, hyper):
    kernel = _tiled_kernel(conv_pass, tile)
    kernel[grid, tile.threads](p, q, r, extra, piece_length, *hyper)


def conv2d_forward(x, weight, bias, out, stride, padding, dilation, groups):
    """``out[n, o] = bias[o] + sum_{c, kh, kw} weight[o, c, kh, kw] * x_pad[n, g*C/g + c, ...]``.

    x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,), out (N, O, OH, OW), all C-contiguous
    device arrays of one dtype; ``padding`` is the (top, left) padding.
    """
    if out.size == 0:
        return
    columns = out.shape[1] // groups
    tile = gemm_tile(columns, out.dtype.itemsize)
    if tile is None:
        conv_reference.conv2d_forward(x, weight, bias, out, stride, padding, dilation, groups)
        return
    rows = out.shape[0] * out.shape[2] * out.shape[3]
    grid = gemm_grid(tile, rows, columns, groups)
    hyper = (*stride, *padding, *dilation, groups)
    # One piece: every term (at most weight.size of them) in one pass.
    _launch("forward", tile, grid, x, weight, out, bias, weight.size, hyper)


def conv2d_grad_input(grad_output, weight, grad_input, stride, padding, dilation, groups):
    """Gradient of ``conv2d_forward`` with respect to x, into ``grad_input`` (N, C, H, W)."""
    if grad_input.size == 0:
        return
    columns = weight.shape[1]
    tile = gemm_tile(columns, grad_input.dtype.itemsize)
    if tile is None:
        conv_reference.conv2d_grad_input(
            grad_output, weight, grad_input, stride, padding, dilation, groups
        )
        return
    rows = grad_input.shape[0] * grad_input.shape[2] * grad_input.shape[3]
    grid = gemm_grid(tile, rows, columns, groups)
    hyper = (*stride, *padding, *dilation, groups)
    _launch("grad_input", tile, grid, grad_output, weight, grad_input, weight, weight.size, hyper)


def conv2d_grad_weight(x, grad_output, grad_weight, stride, padding, dilation, groups):
    """Gradient with respect to the weight, written into ``grad_weight`` (O, C/groups, KH, KW)."""
    if grad_weight.size == 0:
        return
    n_out = grad_weight.shape[0]
    columns = grad_weight.size // n_out
    terms = grad_output.shape[0] * grad_output.shape[2] * grad_output.shape[3]
    tile = gemm_tile(columns, grad_weight.dtype.itemsize)
    if tile is None or terms == 0:
        conv_reference.conv2d_grad_weight(
            x, grad_output, grad_weight, stride, padding, dilation, groups
        )
        return
    rows = n_out // groups
    tiles = gemm_grid(tile, rows, columns, groups)
    pieces, length = reduction_pieces(terms, tiles[0] * tiles[1], tile.bk)
    partial = _partial_scratch((pieces, n_out, columns))
    hyper = (*stride, *padding, *dilation, groups)
    _launch("grad_weight", tile, (tiles[0], tiles[1], pieces), x, grad_output, partial,
            grad_weight, length, hyper)  # fmt: skip
    _sum_pieces[elementwise_grid(grad_weight.size)](partial, grad_weight)


def conv2d_grad_bias(grad_output, grad_bias):
    """Gradient with respect to the bias: ``grad_output`` summed over N, OH, OW, into (O,)."""
    if grad_bias.size == 0:
        return
    blocks = grid_blocks(grad_bias.size * REDUCTION_THREADS, REDUCTION_THREADS)
    _conv2d_grad_bias[blocks, REDUCTION_THREADS](grad_output, grad_bias)
