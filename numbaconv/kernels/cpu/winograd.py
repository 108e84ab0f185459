"""Winograd F(2x2, 3x3) convolution kernels for 3x3, stride-1, undilated, ungrouped layers.

Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch under it as
``Y = A^T [sum_c (G g_c G^T) * (B^T d_c B)] A``: 16 multiplies per tile and channel pair
instead of 36 (2.25x fewer). Over a block of tiles, the 16 elementwise products summed over
channels are 16 matrix products ``M[xi] (O x T) = U[xi] (O x C) @ V[xi] (C x T)``, run through
single-threaded BLAS as the im2col path does (see ``conv.py``). The weights are transformed
once per call (``U``, 16 x O x C).

The three passes share the transforms:

- forward: input tiles ``V``, the 16 products, the output transform;
- input gradient: the forward pass applied to ``grad_output`` with the weights flipped and
  transposed, padding ``2 - p`` (stride 1 makes the transposed convolution a convolution);
- weight gradient: ``dU[xi] = sum_tiles (A dY A^T)[xi] (O x T) @ V[xi]^T`` per work unit,
  summed in unit order, then ``dg = G^T dU G``.

Work units are ``(image, block of tile rows)``, so a small batch of large images still
splits over threads; the block height depends on the shapes only, never on the thread count,
and partial sums are merged in unit order, so results are bit-identical for any thread count.

Accuracy: the transforms only add, subtract and halve, so float32 results stay within a few
ulps of the direct sum's error (measured against a float64 reference on shape f: max relative
error of the same order as the im2col path's). NaN and Inf, however, would spread to the other
outputs of their tile (``0 * inf`` in the transforms); each unit therefore reports whether its
input patch was finite, and the launcher recomputes the call with the im2col path when it was
not, so non-finite values propagate exactly as the reference does.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_function, cpu_kernel

# Elements of one unit's transformed input (16 x C x tiles): 128 Ki float32 (512 KiB) keeps
# V and the products' right-hand sides in a core's L2 beside the output block.
_V_ELEMENTS = 1 << 17
_GW_ELEMENTS = 1 << 19


def tile_rows(channels, out_h, out_w, budget=None):
    """Tile rows per work unit (at most ``budget`` transformed elements, default
    ``_V_ELEMENTS``), from the shapes alone."""
    budget = _V_ELEMENTS if budget is None else budget
    tiles_w = (out_w + 1) // 2
    per_row = 16 * channels * tiles_w
    rows = max(1, budget // max(1, per_row))
    return min(rows, (out_h + 1) // 2)


def _input_tiles(x, n, tr0, rows, ph, pw, slab, v):
    """``v[xi, c, t] = (B^T d B)[xi]`` for the 4x4 patch ``d`` of every tile ``t`` in tile rows
    ``tr0 .. tr0 + rows`` of image ``n`` (zero outside ``x``). Returns ``False`` when a value
    in the patches is NaN or infinite."""
    channels, h_in, w_in = x.shape[1], x.shape[2], x.shape[3]
    tiles_w = (slab.shape[2] - 2) // 2
    slab_h = 2 * rows + 2
    iy0 = 2 * tr0 - ph
    zero = np.zeros(1, x.dtype)[0]  # a zero of x's dtype, so the copies stay in it
    # A comparison, not a sum of (v - v): fast-math's reassociation may fold that to zero.
    finite = True
    for c in range(channels):
        for s in range(slab_h):
            dst = slab[c, s]
            iy = iy0 + s
            if iy < 0 or iy >= h_in:
                for j in range(dst.shape[0]):
                    dst[j] = zero
                continue
            src = x[n, c, iy]
            for j in range(dst.shape[0]):
                ix = j - pw
                value = src[ix] if 0 <= ix < w_in else zero
                dst[j] = value
                if not abs(value) < np.inf:  # NaN or +-Inf
                    finite = False
    for c in range(channels):
        for r in range(rows):
            r0, r1, r2, r3 = (
                slab[c, 2 * r],
                slab[c, 2 * r + 1],
                slab[c, 2 * r + 2],
                slab[c, 2 * r + 3],
            )
            base = r * tiles_w
            for tw in range(tiles_w):
                j = 2 * tw
                t = base + tw
                # B^T d: rows combined, column by column.
                a0 = r0[j] - r2[j]
                a1 = r0[j + 1] - r2[j + 1]
                a2 = r0[j + 2] - r2[j + 2]
                a3 = r0[j + 3] - r2[j + 3]
                b0 = r1[j] + r2[j]
                b1 = r1[j + 1] + r2[j + 1]
                b2 = r1[j + 2] + r2[j + 2]
                b3 = r1[j + 3] + r2[j + 3]
                e0 = r2[j] - r1[j]
                e1 = r2[j + 1] - r1[j + 1]
                e2 = r2[j + 2] - r1[j + 2]
                e3 = r2[j + 3] - r1[j + 3]
                f0 = r1[j] - r3[j]
                f1 = r1[j + 1] - r3[j + 1]
                f2 = r1[j + 2] - r3[j + 2]
                f3 = r1[j + 3] - r3[j + 3]
                # (B^T d) B: the same combination across each row.
                v[0, c, t] = a0 - a2
                v[1, c, t] = a1 + a2
                v[2, c, t] = a2 - a1
                v[3, c, t] = a1 - a3
                v[4, c, t] = b0 - b2
                v[5, c, t] = b1 + b2
                v[6, c, t] = b2 - b1
                v[7, c, t] = b1 - b3
                v[8, c, t] = e0 - e2
                v[9, c, t] = e1 + e2
                v[10, c, t] = e2 - e1
                v[11, c, t] = e1 - e3
                v[12, c, t] = f0 - f2
                v[13, c, t] = f1 + f2
                v[14, c, t] = f2 - f1
                v[15, c, t] = f1 - f3
    return finite


def _output_tiles(m, bias, out, n, tr0, rows):
    """``out[n, o, 2 tr + a, 2 tw + b] = bias[o] + (A^T m A)[a, b]`` for the tiles of tile rows
    ``tr0 .. tr0 + rows``; the last tile row or column is cut where the output is odd."""
    n_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3]
    tiles_w = (w_out + 1) // 2
    for o in range(n_out):
        bo = bias[o]
        for r in range(rows):
            oy = 2 * (tr0 + r)
            row0 = out[n, o, oy]
            two_rows = oy + 1 < h_out
            row1 = out[n, o, oy + 1] if two_rows else row0
            base = r * tiles_w
            for tw in range(tiles_w):
                t = base + tw
                # A^T m: rows 0+1+2 and 1-2-3, per column.
                p0 = m[0, o, t] + m[4, o, t] + m[8, o, t]
                p1 = m[1, o, t] + m[5, o, t] + m[9, o, t]
                p2 = m[2, o, t] + m[6, o, t] + m[10, o, t]
                p3 = m[3, o, t] + m[7, o, t] + m[11, o, t]
                q0 = m[4, o, t] - m[8, o, t] - m[12, o, t]
                q1 = m[5, o, t] - m[9, o, t] - m[13, o, t]
                q2 = m[6, o, t] - m[10, o, t] - m[14, o, t]
                q3 = m[7, o, t] - m[11, o, t] - m[15, o, t]
                ox = 2 * tw
                row0[ox] = bo + p0 + p1 + p2
                if ox + 1 < w_out:
                    row0[ox + 1] = bo + p1 - p2 - p3
                if two_rows:
                    row1[ox] = bo + q0 + q1 + q2
                    if ox + 1 < w_out:
                        row1[ox + 1] = bo + q1 - q2 - q3


def _grad_output_tiles(gy, n, tr0, rows, dm):
    """``dm[xi, o, t] = (A dY A^T)[xi]`` for the 2x2 blocks of ``grad_output`` (zero past
    its edge) of tile rows ``tr0 .. tr0 + rows``: the gradient of the products ``M``.
    Returns ``False`` when a value was NaN or infinite."""
    n_out, h_out, w_out = gy.shape[1], gy.shape[2], gy.shape[3]
    tiles_w = (w_out + 1) // 2
    zero = np.zeros(1, gy.dtype)[0]
    finite = True
    for o in range(n_out):
        for r in range(rows):
            oy = 2 * (tr0 + r)
            row0 = gy[n, o, oy]
            two_rows = oy + 1 < h_out
            base = r * tiles_w
            for tw in range(tiles_w):
                ox = 2 * tw
                two_cols = ox + 1 < w_out
                y00 = row0[ox]
                y01 = row0[ox + 1] if two_cols else zero
                y10 = gy[n, o, oy + 1, ox] if two_rows else zero
                y11 = gy[n, o, oy + 1, ox + 1] if two_rows and two_cols else zero
                if not abs(y00) + abs(y01) + abs(y10) + abs(y11) < np.inf:
                    finite = False
                # A dY: rows y0, y0 + y1, y0 - y1, -y1 (per column), then the same across.
                c0, c1 = y00, y01
                d0, d1 = y00 + y10, y01 + y11
                e0, e1 = y00 - y10, y01 - y11
                f0, f1 = -y10, -y11
                t = base + tw
                dm[0, o, t], dm[1, o, t], dm[2, o, t], dm[3, o, t] = c0, c0 + c1, c0 - c1, -c1
                dm[4, o, t], dm[5, o, t], dm[6, o, t], dm[7, o, t] = d0, d0 + d1, d0 - d1, -d1
                dm[8, o, t], dm[9, o, t], dm[10, o, t], dm[11, o, t] = e0, e0 + e1, e0 - e1, -e1
                dm[12, o, t], dm[13, o, t], dm[14, o, t], dm[15, o, t] = f0, f0 + f1, f0 - f1, -f1
    return finite


def _forward_unit(x, u, bias, out, n, tr0, rows, ph, pw, slab, v_buf, m_buf):
    t_count = rows * ((out.shape[3] + 1) // 2)
    # Views of exactly this unit's tiles, C-contiguous as BLAS wants them.
    v = v_buf[: 16 * x.shape[1] * t_count].reshape(16, x.shape[1], t_count)
    m = m_buf[: 16 * out.shape[1] * t_count].reshape(16, out.shape[1], t_count)
    finite = _input_tiles(x, n, tr0, rows, ph, pw, slab, v)
    for xi in range(16):
        np.dot(u[xi], v[xi], m[xi])
    _output_tiles(m, bias, out, n, tr0, rows)
    return finite


def _grad_weight_unit(x, gy, du, n, tr0, rows, ph, pw, slab, v_buf, dm_buf, product):
    """Adds this unit's ``dU`` (16, O, C) into ``du``."""
    t_count = rows * ((gy.shape[3] + 1) // 2)
    v = v_buf[: 16 * x.shape[1] * t_count].reshape(16, x.shape[1], t_count)
    dm = dm_buf[: 16 * gy.shape[1] * t_count].reshape(16, gy.shape[1], t_count)
    finite_x = _input_tiles(x, n, tr0, rows, ph, pw, slab, v)
    finite_y = _grad_output_tiles(gy, n, tr0, rows, dm)
    for xi in range(16):
        np.dot(dm[xi], v[xi].T, product)
        dst = du[xi]
        for o in range(dst.shape[0]):
            d_row = dst[o]
            p_row = product[o]
            for c in range(d_row.shape[0]):
                d_row[c] += p_row[c]
    return finite_x and finite_y


_input_tiles = cpu_function(_input_tiles)
_output_tiles = cpu_function(_output_tiles)
_grad_output_tiles = cpu_function(_grad_output_tiles)
_forward_unit = cpu_function(_forward_unit)
_grad_weight_unit = cpu_function(_grad_weight_unit)


def _winograd_forward(x, u, bias, out, ph, pw, rows):
    """The kernel: one ``prange`` over (image, block of tile rows). Returns the number of
    units whose input patches held NaN or Inf."""
    n_batch, channels = x.shape[0], x.shape[1]
    n_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3]
    tiles_h, tiles_w = (h_out + 1) // 2, (w_out + 1) // 2
    blocks = (tiles_h + rows - 1) // rows
    bad = np.zeros(n_batch * blocks, np.int64)
    for unit in prange(n_batch * blocks):
        n = unit // blocks
        tr0 = (unit % blocks) * rows
        nr = min(rows, tiles_h - tr0)
        slab = np.empty((channels, 2 * rows + 2, 2 * tiles_w + 2), x.dtype)
        v = np.empty(16 * channels * rows * tiles_w, x.dtype)
        m = np.empty(16 * n_out * rows * tiles_w, x.dtype)
        if not _forward_unit(x, u, bias, out, n, tr0, nr, ph, pw, slab, v, m):
            bad[unit] = 1
    return bad.sum()


def _winograd_grad_weight(x, gy, du, ph, pw, rows, n_chunks):
    """The kernel: ``n_chunks`` contiguous runs of units, each summing into its own partial
    ``dU``, merged in chunk order into ``du`` (16, O, C). Returns the count of non-finite units."""
    n_batch, channels = x.shape[0], x.shape[1]
    n_out, h_out, w_out = gy.shape[1], gy.shape[2], gy.shape[3]
    tiles_h, tiles_w = (h_out + 1) // 2, (w_out + 1) // 2
    blocks = (tiles_h + rows - 1) // rows
    units = n_batch * blocks
    partial = np.zeros((n_chunks, 16, n_out, channels), x.dtype)
    bad = np.zeros(n_chunks, np.int64)
    for chunk in prange(n_chunks):
        slab = np.empty((channels, 2 * rows + 2, 2 * tiles_w + 2), x.dtype)
        v = np.empty(16 * channels * rows * tiles_w, x.dtype)
        dm = np.empty(16 * n_out * rows * tiles_w, x.dtype)
        product = np.empty((n_out, channels), x.dtype)
        for unit in range(chunk * units // n_chunks, (chunk + 1) * units // n_chunks):
            n = unit // blocks
            tr0 = (unit % blocks) * rows
            nr = min(rows, tiles_h - tr0)
            if not _grad_weight_unit(
                x, gy, partial[chunk], n, tr0, nr, ph, pw, slab, v, dm, product
            ):
                bad[chunk] = 1
    du[:] = 0
    for chunk in range(n_chunks):
        _add_flat(partial[chunk].reshape(-1), du.reshape(-1))
    return bad.sum()


def _add_flat(src, dst):
    for i in range(dst.shape[0]):
        dst[i] += src[i]


_add_flat = cpu_function(_add_flat)
_winograd_forward = cpu_kernel(_winograd_forward)
_winograd_grad_weight = cpu_kernel(_winograd_grad_weight)


def transform_weights(w):
    """``U[xi, o, c] = (G w[o, c] G^T)[xi]`` for 3x3 weights (O, C, 3, 3); NumPy, once per call."""
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], w.dtype)
    u = np.einsum("ik,ockl,jl->ijoc", g, w, g)
    return np.ascontiguousarray(u.reshape(16, w.shape[0], w.shape[1]))


def weights_from_transformed(du, out):
    """``out[o, c] = G^T dU[:, o, c] G`` (3x3), the adjoint of :func:`transform_weights`."""
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], du.dtype)
    du4 = du.reshape(4, 4, du.shape[1], du.shape[2])
    out[...] = np.einsum("ik,ijoc,jl->ockl", g, du4, g)


def forward(x, weight, bias, out, padding):
    """Winograd forward into ``out``; returns ``False`` (leaving ``out`` partly written) when
    the input held NaN or Inf, for the caller to recompute on the exact path."""
    ph, pw = padding
    rows = tile_rows(x.shape[1], out.shape[2], out.shape[3])
    u = transform_weights(weight)
    if not np.isfinite(u).all():  # Inf in the weights would turn into NaN in the transforms
        return False
    return _winograd_forward(x, u, bias, out, ph, pw, rows) == 0


def grad_weight(x, grad_output, grad_weight_out, padding):
    """Winograd weight gradient into ``grad_weight_out`` (O, C, 3, 3); returns ``False`` when
    the input held NaN or Inf."""
    ph, pw = padding
    h_out, w_out = grad_output.shape[2], grad_output.shape[3]
    rows = tile_rows(max(x.shape[1], grad_output.shape[1]), h_out, w_out, _GW_ELEMENTS)
    blocks = -(-((h_out + 1) // 2) // rows)
    n_chunks = min(x.shape[0] * blocks, 32)
    du = np.empty((16, grad_output.shape[1], x.shape[1]), x.dtype)
    bad = _winograd_grad_weight(x, grad_output, du, ph, pw, rows, n_chunks)
    weights_from_transformed(du, grad_weight_out)
    return bad == 0
