"""Direct convolution for layers with few input channels (ungrouped; the selector in
``conv.py`` takes up to three): forward and weight gradient, no column matrix.

With one input channel (the chapter's first layers: shape d, 512x1x28x28 -> 8, k5 s2 p2) the
im2col GEMM has K = KH*KW rows of work per output element and only O (4-8) rows in the
weight matrix: BLAS runs far from its peak while the unfold writes KH*KW copies of the input
(25x for a 5x5 kernel) to memory. Here every image is first gathered into small planes, one
per input channel ``c``, row phase ``rp`` of the stride and kernel column ``kw``:

    plane (c, rp, kw)[i, j] = x_pad[c, sh*i + rp, sw*j + kw*dw]

(``x_pad`` the zero-padded image; planes of HE x OW, ``HE = OH + (KH-1)*dh // sh``).
A tap ``(kh, kw)`` reads, for the output at ``(oh, ow)``,
plane ``(c, kh*dh % sh, kw)`` at ``(oh + kh*dh // sh, ow)``: over the flattened output plane,
every tap is one contiguous run of the buffer at a fixed offset, as long as the output plane.
The inner loops are flat, unit-stride and vectorise whatever the stride, and work in place on
the output (or output-gradient) planes:

- forward: ``out[o, p] += sum_t w[o, t] * buf[off_t + p]``, blocks of four output channels
  by four taps (each input vector loaded once for four channels, each store carrying four
  products);
- weight gradient: ``gw[o, t] += sum_p gy[o, p] * buf[off_t + p]``, the 16 dot products of
  a block of four channels by four taps in one pass.

Parallel over chunks of images. The weight gradient sums per-chunk partials in chunk order,
and the chunk count depends on the batch size only, so results are bit-identical for any
thread count. The weight gradient also counts the finite values it gathers and reports a
non-finite input, for the launcher to recompute on the im2col path (whose Inf/NaN pattern
the tests pin down), a cheap guard that keeps the two paths' non-finite results identical.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import prange

from ..._jit import cpu_function, cpu_helper, cpu_kernel

# Per-chunk partial weight gradients are merged in chunk order: at most this many chunks,
# from the batch size alone (never the thread count).
_MAX_CHUNKS = 16


def geometry(x_shape, w_shape, out_hw, stride, dilation):
    """``(HE, offsets)``: plane height and each tap's offset into an image's plane buffer,
    taps ordered ``(c, kh, kw)`` like a flattened OIHW weight. Planes are ``(c, rp, kw)``,
    each ``HE x OW``."""
    c_in = x_shape[1]
    kh_size, kw_size = w_shape[2], w_shape[3]
    sh = stride[0]
    dh = dilation[0]
    he = out_hw[0] + ((kh_size - 1) * dh) // sh
    offsets = np.empty(c_in * kh_size * kw_size, np.int64)
    t = 0
    for c in range(c_in):
        for kh in range(kh_size):
            for kw in range(kw_size):
                plane = (c * sh + kh * dh % sh) * kw_size + kw
                offsets[t] = (plane * he + kh * dh // sh) * out_hw[1]
                t += 1
    return he, offsets


def gather_table(x_shape, w_shape, he, out_w, stride, padding, dilation):
    """``table[k]``: for entry ``k`` of one channel's planes (``(rp, kw, i, j)`` flattened,
    ``x_pad[sh*i + rp, sw*j + kw*dw]``), the flat index into that channel's image of the
    pixel it holds, or ``H*W`` (a zero placed after the image) where it falls in the padding."""
    h_in, w_in = x_shape[2], x_shape[3]
    sh, sw = stride
    ph, pw = padding
    rp, kw, i, j = np.meshgrid(
        np.arange(sh), np.arange(w_shape[3]), np.arange(he), np.arange(out_w), indexing="ij"
    )
    iy = sh * i + rp - ph
    ix = sw * j + kw * dilation[1] - pw
    inside = (iy >= 0) & (iy < h_in) & (ix >= 0) & (ix < w_in)
    # Unsigned: Numba then skips its negative-index wraparound check, which made the gather
    # 1.3-1.7x slower (1.0-1.3 us per 28x28 image with int64, 0.75 us with uint32).
    return np.where(inside, iy * w_in + ix, h_in * w_in).astype(np.uint32).reshape(-1)


def _fill_planes(x, n, buf, table, scratch):
    """Image ``n``'s planes into ``buf``: one gather per channel from a copy of the image
    followed by a zero, with no branch per pixel. Returns whether every pixel of the image
    was finite."""
    c_in = x.shape[1]
    hw = x.shape[2] * x.shape[3]
    plane = table.shape[0]
    x3 = x.reshape(x.shape[0], c_in, hw)
    finite = 0
    for c in range(c_in):
        src = x3[n, c]
        for k in range(hw):
            value = src[k]
            scratch[k] = value
            finite += abs(value) < np.inf  # counted, not branched on: the copy vectorises
        scratch[hw] = 0
        dst = buf[c * plane : (c + 1) * plane]
        for k in range(plane):
            dst[k] = scratch[table[k]]
    return finite == c_in * hw


def _fma4(acc, x0, x1, x2, x3, w0, w1, w2, w3):
    for p in range(acc.shape[0]):
        acc[p] += w0 * x0[p] + w1 * x1[p] + w2 * x2[p] + w3 * x3[p]


def _fma1(acc, x0, w0):
    for p in range(acc.shape[0]):
        acc[p] += w0 * x0[p]


def _dot4(g, x0, x1, x2, x3, zero):
    s0, s1, s2, s3 = zero, zero, zero, zero
    for p in range(g.shape[0]):
        gp = g[p]
        s0 += gp * x0[p]
        s1 += gp * x1[p]
        s2 += gp * x2[p]
        s3 += gp * x3[p]
    return s0, s1, s2, s3


def _dot1(g, x0, zero):
    s0 = zero
    for p in range(g.shape[0]):
        s0 += g[p] * x0[p]
    return s0


def _fma4x4(a0, a1, a2, a3, x0, x1, x2, x3, w, o, t):
    """Four outputs' rows ``a0..a3`` gain four taps each (weights ``w[o + i, t + j]``): every
    input vector loaded once serves four outputs, and each store carries four products."""
    w00, w01, w02, w03 = w[o, t], w[o, t + 1], w[o, t + 2], w[o, t + 3]
    w10, w11, w12, w13 = w[o + 1, t], w[o + 1, t + 1], w[o + 1, t + 2], w[o + 1, t + 3]
    w20, w21, w22, w23 = w[o + 2, t], w[o + 2, t + 1], w[o + 2, t + 2], w[o + 2, t + 3]
    w30, w31, w32, w33 = w[o + 3, t], w[o + 3, t + 1], w[o + 3, t + 2], w[o + 3, t + 3]
    for p in range(a0.shape[0]):
        v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
        a0[p] += w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
        a1[p] += w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
        a2[p] += w20 * v0 + w21 * v1 + w22 * v2 + w23 * v3
        a3[p] += w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3


def _fma4x1(a0, a1, a2, a3, x0, w, o, t):
    w0, w1, w2, w3 = w[o, t], w[o + 1, t], w[o + 2, t], w[o + 3, t]
    for p in range(a0.shape[0]):
        v0 = x0[p]
        a0[p] += w0 * v0
        a1[p] += w1 * v0
        a2[p] += w2 * v0
        a3[p] += w3 * v0


def _start4(a0, a1, a2, a3, x0, w, b, o, t):
    """``a_i = b[o + i] + w[o + i, t] * x0``: the bias and the first tap in one pass."""
    w0, w1, w2, w3 = w[o, t], w[o + 1, t], w[o + 2, t], w[o + 3, t]
    b0, b1, b2, b3 = b[o], b[o + 1], b[o + 2], b[o + 3]
    for p in range(a0.shape[0]):
        v0 = x0[p]
        a0[p] = b0 + w0 * v0
        a1[p] = b1 + w1 * v0
        a2[p] = b2 + w2 * v0
        a3[p] = b3 + w3 * v0


def _dot4x4(g0, g1, g2, g3, x0, x1, x2, x3, zero):
    """The 16 dot products of four gradient rows with four tap vectors."""
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
    for p in range(g0.shape[0]):
        v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
        e0, e1, e2, e3 = g0[p], g1[p], g2[p], g3[p]
        s00 += e0 * v0
        s01 += e0 * v1
        s02 += e0 * v2
        s03 += e0 * v3
        s10 += e1 * v0
        s11 += e1 * v1
        s12 += e1 * v2
        s13 += e1 * v3
        s20 += e2 * v0
        s21 += e2 * v1
        s22 += e2 * v2
        s23 += e2 * v3
        s30 += e3 * v0
        s31 += e3 * v1
        s32 += e3 * v2
        s33 += e3 * v3
    return (s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)


def _add_block(partial, o, t, s):
    """``partial[o:o+4, t:t+4] += s`` (16 sums, row-major), unrolled: a tuple indexed by a
    loop variable would not be."""
    partial[o, t] += s[0]
    partial[o, t + 1] += s[1]
    partial[o, t + 2] += s[2]
    partial[o, t + 3] += s[3]
    partial[o + 1, t] += s[4]
    partial[o + 1, t + 1] += s[5]
    partial[o + 1, t + 2] += s[6]
    partial[o + 1, t + 3] += s[7]
    partial[o + 2, t] += s[8]
    partial[o + 2, t + 1] += s[9]
    partial[o + 2, t + 2] += s[10]
    partial[o + 2, t + 3] += s[11]
    partial[o + 3, t] += s[12]
    partial[o + 3, t + 1] += s[13]
    partial[o + 3, t + 2] += s[14]
    partial[o + 3, t + 3] += s[15]


_add_block = cpu_helper(_add_block)
_fma4x4 = cpu_helper(_fma4x4)
_fma4x1 = cpu_helper(_fma4x1)
_start4 = cpu_helper(_start4)
_dot4x4 = cpu_helper(_dot4x4)
_fma4 = cpu_helper(_fma4)
_fma1 = cpu_helper(_fma1)
_dot4 = cpu_helper(_dot4)
_dot1 = cpu_helper(_dot1)
_fill_planes = cpu_function(_fill_planes)


def _forward_image(w2, b, acc, buf, offsets):
    """One image's output planes ``acc`` (O, OH*OW), accumulated in place from its plane
    buffer. Blocks of four output channels share every tap's loads; the last ``O % 4`` run
    alone."""
    n_out, taps = w2.shape
    m = acc.shape[1]
    o = 0
    while o + 4 <= n_out:
        a0, a1, a2, a3 = acc[o], acc[o + 1], acc[o + 2], acc[o + 3]
        # The first tap alone with the bias: 3x3 and 5x5 kernels leave 8 or 24 taps, whole
        # blocks of four.
        _start4(a0, a1, a2, a3, buf[offsets[0] : offsets[0] + m], w2, b, o, 0)
        t = 1
        while t + 4 <= taps:
            f0, f1, f2, f3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
            x0, x1, x2, x3 = buf[f0 : f0 + m], buf[f1 : f1 + m], buf[f2 : f2 + m], buf[f3 : f3 + m]
            _fma4x4(a0, a1, a2, a3, x0, x1, x2, x3, w2, o, t)
            t += 4
        while t < taps:
            _fma4x1(a0, a1, a2, a3, buf[offsets[t] : offsets[t] + m], w2, o, t)
            t += 1
        o += 4
    while o < n_out:
        a = acc[o]
        bo = b[o]
        for p in range(m):
            a[p] = bo
        t = 0
        while t + 4 <= taps:
            f0, f1, f2, f3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
            x0, x1, x2, x3 = buf[f0 : f0 + m], buf[f1 : f1 + m], buf[f2 : f2 + m], buf[f3 : f3 + m]
            _fma4(a, x0, x1, x2, x3, w2[o, t], w2[o, t + 1], w2[o, t + 2], w2[o, t + 3])
            t += 4
        while t < taps:
            _fma1(a, buf[offsets[t] : offsets[t] + m], w2[o, t])
            t += 1
        o += 1


def _grad_weight_image(gy_ext, buf, partial, offsets, zero):
    """Adds one image's weight gradient into ``partial`` (O, taps), from its output gradient
    planes ``gy_ext`` (O, OH*OW) and its plane buffer; blocks of four output channels by four
    taps share their loads, the ragged rest runs four taps at a time."""
    n_out, m = gy_ext.shape
    taps = partial.shape[1]
    o = 0
    while o + 4 <= n_out:
        t = 0
        while t + 4 <= taps:
            f0, f1, f2, f3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
            sums = _dot4x4(
                gy_ext[o],
                gy_ext[o + 1],
                gy_ext[o + 2],
                gy_ext[o + 3],
                buf[f0 : f0 + m],
                buf[f1 : f1 + m],
                buf[f2 : f2 + m],
                buf[f3 : f3 + m],
                zero,
            )
            _add_block(partial, o, t, sums)
            t += 4
        for oi in range(o, o + 4):
            _grad_weight_taps(gy_ext[oi], buf, partial[oi], offsets, t, m, zero)
        o += 4
    while o < n_out:
        _grad_weight_taps(gy_ext[o], buf, partial[o], offsets, 0, m, zero)
        o += 1


def _grad_weight_taps(g, buf, row, offsets, t, m, zero):
    """``row[t:] += g . buf[offsets[t:] + p]``: one gradient row against the taps from ``t``."""
    taps = row.shape[0]
    while t + 4 <= taps:
        f0, f1, f2, f3 = offsets[t], offsets[t + 1], offsets[t + 2], offsets[t + 3]
        s0, s1, s2, s3 = _dot4(
            g, buf[f0 : f0 + m], buf[f1 : f1 + m], buf[f2 : f2 + m], buf[f3 : f3 + m], zero
        )
        row[t] += s0
        row[t + 1] += s1
        row[t + 2] += s2
        row[t + 3] += s3
        t += 4
    while t < taps:
        row[t] += _dot1(g, buf[offsets[t] : offsets[t] + m], zero)
        t += 1


_grad_weight_taps = cpu_helper(_grad_weight_taps)
_forward_image = cpu_function(_forward_image)
_grad_weight_image = cpu_function(_grad_weight_image)


def _direct_forward(x, w2, b, out, table, offsets, n_chunks):
    n_batch, c_in = x.shape[0], x.shape[1]
    out3 = out.reshape(n_batch, out.shape[1], out.shape[2] * out.shape[3])
    for chunk in prange(n_chunks):
        buf = np.empty(c_in * table.shape[0], x.dtype)
        scratch = np.empty(x.shape[2] * x.shape[3] + 1, x.dtype)
        for n in range(chunk * n_batch // n_chunks, (chunk + 1) * n_batch // n_chunks):
            _fill_planes(x, n, buf, table, scratch)
            _forward_image(w2, b, out3[n], buf, offsets)


def _direct_grad_weight(x, gy, gw2, table, offsets, n_chunks):
    """Weight gradient into ``gw2`` (O, taps); returns how many chunks met NaN or Inf."""
    n_batch, c_in = x.shape[0], x.shape[1]
    n_out = gy.shape[1]
    taps = gw2.shape[1]
    gy3 = gy.reshape(n_batch, n_out, gy.shape[2] * gy.shape[3])
    partial = np.zeros((n_chunks, n_out, taps), x.dtype)
    bad = np.zeros(n_chunks, np.int64)
    for chunk in prange(n_chunks):
        buf = np.empty(c_in * table.shape[0], x.dtype)
        scratch = np.empty(x.shape[2] * x.shape[3] + 1, x.dtype)
        zero = np.zeros(1, x.dtype)[0]
        for n in range(chunk * n_batch // n_chunks, (chunk + 1) * n_batch // n_chunks):
            if not _fill_planes(x, n, buf, table, scratch):
                bad[chunk] = 1
            _grad_weight_image(gy3[n], buf, partial[chunk], offsets, zero)
    # Chunk order, not thread order: deterministic.
    for o in range(n_out):
        for t in range(taps):
            gw2[o, t] = 0
    for chunk in range(n_chunks):
        for o in range(n_out):
            for t in range(taps):
                gw2[o, t] += partial[chunk, o, t]
    return bad.sum()


_direct_forward = cpu_kernel(_direct_forward)
_direct_grad_weight = cpu_kernel(_direct_grad_weight)


def _chunks(n_batch):
    return max(1, min(n_batch, _MAX_CHUNKS))


@functools.lru_cache(maxsize=64)
def _plan(x_shape, w_shape, out_hw, stride, padding, dilation):
    """``(offsets, table)`` for one layer, computed once: building them in NumPy cost more
    than the kernel itself on a batch of 64 MNIST images. The arrays are read-only."""
    he, offsets = geometry(x_shape, w_shape, out_hw, stride, dilation)
    table = gather_table(x_shape, w_shape, he, out_hw[1], stride, padding, dilation)
    offsets.flags.writeable = False
    table.flags.writeable = False
    return offsets, table


def forward(x, weight, bias, out, stride, padding, dilation):
    """Direct forward into ``out`` (N, O, OH, OW); ``weight`` (O, C, KH, KW), one group."""
    offsets, table = _plan(
        (1, *x.shape[1:]), weight.shape, out.shape[2:], tuple(stride), tuple(padding),
        tuple(dilation),
    )  # fmt: skip
    w2 = weight.reshape(weight.shape[0], -1)
    _direct_forward(x, w2, bias, out, table, offsets, _chunks(x.shape[0]))


def grad_weight(x, grad_output, grad_weight_out, stride, padding, dilation):
    """Direct weight gradient into ``grad_weight_out`` (O, C, KH, KW); returns ``False`` when
    the input held NaN or Inf (the result is then to be recomputed on the exact path)."""
    offsets, table = _plan(
        (1, *x.shape[1:]), grad_weight_out.shape, grad_output.shape[2:], tuple(stride),
        tuple(padding), tuple(dilation),
    )  # fmt: skip
    gw2 = grad_weight_out.reshape(grad_weight_out.shape[0], -1)
    bad = _direct_grad_weight(x, grad_output, gw2, table, offsets, _chunks(x.shape[0]))
    return bad == 0
