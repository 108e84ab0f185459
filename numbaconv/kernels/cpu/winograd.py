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

Accuracy: the transforms only add, subtract and halve. Measured on shape f (2 images of
64x56x56, 64 filters) in float32 against a float64 reference, max error / max |reference|:
forward 3.9e-7 (im2col 5.9e-7), input gradient 4.1e-7 (2.2e-7), weight gradient 5.6e-7
(4.3e-7), all far inside the tests' 1e-4. NaN and Inf, however, would spread to the other
outputs of their tile (``0 * inf`` in the transforms); each unit therefore reports whether its
input patch was finite, and the launcher recomputes the call with the im2col path when it was
not, so non-finite values propagate exactly as the reference does.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import cpu_function, cpu_helper, cpu_kernel

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


def _slab_row(src, dst, pw):
    """``dst[j] = src[j - pw]``, zero outside ``src``; returns how many copied values are
    finite. A count of comparisons rather than a sum of ``v - v``: fast-math's reassociation
    may fold that to zero, and a count vectorises where a branch would not."""
    w_in = src.shape[0]
    lo = min(max(pw, 0), dst.shape[0])
    hi = min(max(w_in + pw, lo), dst.shape[0])
    for j in range(lo):
        dst[j] = 0
    inner = dst[lo:hi]
    part = src[lo - pw : hi - pw]
    finite = 0
    for j in range(inner.shape[0]):
        value = part[j]
        inner[j] = value
        finite += abs(value) < np.inf
    rest = dst[hi:]
    for j in range(rest.shape[0]):
        rest[j] = 0
    return finite == hi - lo


def _combine(a, b, sign, out):
    """``out = a + sign * b`` elementwise (``sign`` is +1 or -1)."""
    for j in range(out.shape[0]):
        out[j] = a[j] + sign * b[j]


def _spread(tmp, d0, d1, d2, d3):
    """The B transform across one row of tiles: from the row combination ``tmp`` (one value
    per input column), ``d0..d3[t]`` for the tile starting at column ``2t``. One output
    stream per loop, so that LLVM vectorises each without runtime alias checks."""
    n = d0.shape[0]
    for t in range(n):
        d0[t] = tmp[2 * t] - tmp[2 * t + 2]
    for t in range(n):
        d1[t] = tmp[2 * t + 1] + tmp[2 * t + 2]
    for t in range(n):
        d2[t] = tmp[2 * t + 2] - tmp[2 * t + 1]
    for t in range(n):
        d3[t] = tmp[2 * t + 1] - tmp[2 * t + 3]


def _input_tiles(x, n, tr0, rows, ph, pw, slab, v):
    """``v[xi, c, t] = (B^T d B)[xi]`` for the 4x4 patch ``d`` of every tile ``t`` in tile rows
    ``tr0 .. tr0 + rows`` of image ``n`` (zero outside ``x``). Returns ``False`` when a value
    in the patches is NaN or infinite."""
    channels, h_in = x.shape[1], x.shape[2]
    tiles_w = (slab.shape[2] - 2) // 2
    iy0 = 2 * tr0 - ph
    finite = True
    tmp = np.empty((4, slab.shape[2]), x.dtype)
    for c in range(channels):
        for s in range(2 * rows + 2):
            dst = slab[c, s]
            iy = iy0 + s
            if iy < 0 or iy >= h_in:
                for j in range(dst.shape[0]):
                    dst[j] = 0
            elif not _slab_row(x[n, c, iy], dst, pw):
                finite = False
        for r in range(rows):
            r0, r1, r2, r3 = (
                slab[c, 2 * r],
                slab[c, 2 * r + 1],
                slab[c, 2 * r + 2],
                slab[c, 2 * r + 3],
            )
            # B^T d down the columns: rows 0-2, 1+2, 2-1, 1-3.
            _combine(r0, r2, -1, tmp[0])
            _combine(r1, r2, 1, tmp[1])
            _combine(r2, r1, -1, tmp[2])
            _combine(r1, r3, -1, tmp[3])
            t0, t1 = r * tiles_w, (r + 1) * tiles_w
            for k in range(4):
                _spread(
                    tmp[k],
                    v[4 * k, c, t0:t1],
                    v[4 * k + 1, c, t0:t1],
                    v[4 * k + 2, c, t0:t1],
                    v[4 * k + 3, c, t0:t1],
                )
    return finite


def _output_tiles(m, bias, out, n, tr0, rows):
    """``out[n, o, 2 tr + a, 2 tw + b] = bias[o] + (A^T m A)[a, b]`` for the tiles of tile rows
    ``tr0 .. tr0 + rows``; the last tile row or column is cut where the output is odd."""
    n_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3]
    tiles_w = (w_out + 1) // 2
    col = np.empty((8, tiles_w), m.dtype)
    for o in range(n_out):
        bo = bias[o]
        for r in range(rows):
            t0, t1 = r * tiles_w, (r + 1) * tiles_w
            # A^T m down the columns: rows 0+1+2 (col[0..3]) and 1-2-3 (col[4..7]).
            for j in range(4):
                _sum3(m[j, o, t0:t1], m[4 + j, o, t0:t1], m[8 + j, o, t0:t1], 1, col[j])
                _sum3(m[4 + j, o, t0:t1], m[8 + j, o, t0:t1], m[12 + j, o, t0:t1], -1, col[4 + j])
            oy = 2 * (tr0 + r)
            _gather_row(col[0], col[1], col[2], col[3], bo, out[n, o, oy])
            if oy + 1 < h_out:
                _gather_row(col[4], col[5], col[6], col[7], bo, out[n, o, oy + 1])


def _sum3(a, b, c, sign, out):
    """``out = a + sign * (b + c)``."""
    for t in range(out.shape[0]):
        out[t] = a[t] + sign * (b[t] + c[t])


def _gather_row(c0, c1, c2, c3, bo, row):
    """``row[2t] = bo + c0 + c1 + c2``, ``row[2t + 1] = bo + c1 - c2 - c3`` (A across the
    row), the last odd column dropped where the row is odd."""
    even = (row.shape[0] + 1) // 2
    for t in range(even):
        row[2 * t] = bo + c0[t] + c1[t] + c2[t]
    for t in range(row.shape[0] // 2):
        row[2 * t + 1] = bo + c1[t] - c2[t] - c3[t]


def _grad_output_tiles(gy, n, tr0, rows, dm):
    """``dm[xi, o, t] = (A dY A^T)[xi]`` for the 2x2 blocks of ``grad_output`` (zero past
    its edge) of tile rows ``tr0 .. tr0 + rows``: the gradient of the products ``M``.
    Returns ``False`` when a value was NaN or infinite."""
    n_out, h_out = gy.shape[1], gy.shape[2]
    tiles_w = (gy.shape[3] + 1) // 2
    # Rows y0, y1 (zero-padded to even width), then A dY down the columns: y0, y0 + y1,
    # y0 - y1, -y1.
    buf = np.empty((6, 2 * tiles_w), gy.dtype)
    finite = True
    for o in range(n_out):
        for r in range(rows):
            oy = 2 * (tr0 + r)
            if not _slab_row(gy[n, o, oy], buf[0], 0):
                finite = False
            if oy + 1 < h_out:
                if not _slab_row(gy[n, o, oy + 1], buf[1], 0):
                    finite = False
            else:
                buf[1, :] = 0
            _combine(buf[0], buf[1], 1, buf[2])
            _combine(buf[0], buf[1], -1, buf[3])
            _negate(buf[1], buf[4])
            t0, t1 = r * tiles_w, (r + 1) * tiles_w
            for k in range(4):
                src = buf[0] if k == 0 else buf[k + 1]
                _spread_adjoint(
                    src,
                    dm[4 * k, o, t0:t1],
                    dm[4 * k + 1, o, t0:t1],
                    dm[4 * k + 2, o, t0:t1],
                    dm[4 * k + 3, o, t0:t1],
                )
    return finite


def _negate(a, out):
    for j in range(out.shape[0]):
        out[j] = -a[j]


def _spread_adjoint(z, d0, d1, d2, d3):
    """A across one row of 2-wide blocks: ``z[2t], z[2t] + z[2t+1], z[2t] - z[2t+1],
    -z[2t+1]``, one output stream per loop."""
    n = d0.shape[0]
    for t in range(n):
        d0[t] = z[2 * t]
    for t in range(n):
        d1[t] = z[2 * t] + z[2 * t + 1]
    for t in range(n):
        d2[t] = z[2 * t] - z[2 * t + 1]
    for t in range(n):
        d3[t] = -z[2 * t + 1]


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


_slab_row = cpu_helper(_slab_row)
_combine = cpu_helper(_combine)
_spread = cpu_helper(_spread)
_sum3 = cpu_helper(_sum3)
_negate = cpu_helper(_negate)
_spread_adjoint = cpu_helper(_spread_adjoint)
_gather_row = cpu_helper(_gather_row)
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
