"""The FFT (overlap-save) path of ``correlate2d`` / ``convolve2d`` on the host, and the cost
model that ``method='auto'`` uses to choose between it and the direct kernel.

This is array-level NumPy / :mod:`scipy.fft` work (padding, batched transforms, reshapes), not
a loop over pixels, so it lives beside the op rather than under ``kernels/`` (whose modules are
plain loops compiled for the CPU and, as twins, for CUDA). It runs on the host only.

The image is extended by SciPy's boundary rule once (``np.pad``), cut into overlapping tiles
of a fixed FFT length per axis, and every tile is transformed, multiplied by the kernel's
spectrum and transformed back in one batched call: tiles of 64-512 samples stay in cache,
and the batch spreads over ``workers`` threads. The tile lengths depend on the shapes only, and
each 1-D transform is computed the same way whichever thread runs it, so results do not depend
on the thread count (tested).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft

from ..kernels.common.correlate import BOUNDARY_FILL, BOUNDARY_SYMM, BOUNDARY_WRAP

_PAD_MODES = {BOUNDARY_SYMM: "symmetric", BOUNDARY_WRAP: "wrap"}

# Shortest tile FFT length; shorter transforms are dominated by per-transform overhead.
_MIN_TILE = 64

# Relative cost units of 'auto', measured as CPU time on the 2-core AVX-512 development machine
# (float32, 2048^2 'same', symm): one multiply-add of the direct kernel is 1 unit (0.05 ns) and
# its per-output overhead 8 units (the rows' passes, the boundary columns); the FFT path costs
# 3.2 units per n*log2(n) of each transform plus 80 units per output (padding, tiling, the
# spectrum product, copies). Direct and FFT then break even near 14 x 14 kernels.
_DIRECT_MAC = 1.0
_DIRECT_PER_OUTPUT = 8.0
_FFT_NLOGN = 3.2
_FFT_PER_OUTPUT = 80.0


def tile_length(kernel_size: int, extended_size: int) -> int:
    """FFT length along one axis: a power of two of at least eight kernel lengths (each tile
    then yields at least seven eighths of its length as outputs), or one transform over the
    whole extended axis when that is no longer. (Measured on 2048^2 float32 with a 25 x 25
    kernel: 256-point tiles cost half the CPU time of 128-point ones, and 512 more again.)"""
    length = _MIN_TILE
    while length < 8 * (kernel_size - 1):
        length *= 2
    whole = scipy.fft.next_fast_len(extended_size, real=True)
    return min(length, whole)


def _fft_cost(out_shape, kernel_shape, complex_data: bool) -> float:
    cost = 0.0
    tiles = 1
    lengths = []
    for out_size, k in zip(out_shape, kernel_shape):
        length = tile_length(k, out_size + k - 1)
        tiles *= -(-out_size // (length - k + 1))
        lengths.append(length)
    points = lengths[0] * lengths[1]
    # Forward and inverse transform of every tile; complex data needs full (not real) FFTs.
    cost = 2 * tiles * points * np.log2(max(points, 2)) * _FFT_NLOGN
    if complex_data:
        cost *= 2
    return cost + _FFT_PER_OUTPUT * out_shape[0] * out_shape[1]


def prefer_fft(out_shape, kernel_shape, dtype) -> bool:
    """``method='auto'``: whether the FFT path is estimated to be faster than the direct
    kernel. Depends on the shapes and the dtype only (never on the data or the thread count),
    so a given call always takes the same path."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc" or min(*kernel_shape, *out_shape) < 1:
        return False
    # A complex multiply-add is four real ones; the FFT path's cost only doubles.
    taps = kernel_shape[0] * kernel_shape[1]
    direct = out_shape[0] * out_shape[1] * (taps * _DIRECT_MAC + _DIRECT_PER_OUTPUT)
    if dtype.kind == "c":
        direct *= 4
    return _fft_cost(out_shape, kernel_shape, dtype.kind == "c") < direct


def _extend(image, row_start, col_start, ext_shape, boundary, fill):
    """``image`` extended by ``boundary`` over rows ``[row_start, row_start + ext_shape[0])``
    and the columns likewise (the starts are <= 0: windows begin at or before the image)."""
    before = (-row_start, -col_start)
    after = tuple(e - b - s for e, b, s in zip(ext_shape, before, image.shape))
    widths = tuple(zip(before, after))
    if boundary == BOUNDARY_FILL:
        return np.pad(image, widths, mode="constant", constant_values=fill)
    return np.pad(image, widths, mode=_PAD_MODES[boundary])


def _tiles(ext, lengths, steps, counts):
    """Overlapping ``lengths``-sized tiles of ``ext`` at multiples of ``steps``, a view of
    shape ``(counts[0], counts[1], *lengths)`` (``ext`` must reach the last tile's end)."""
    s0, s1 = ext.strides
    return np.lib.stride_tricks.as_strided(
        ext,
        (counts[0], counts[1], lengths[0], lengths[1]),
        (steps[0] * s0, steps[1] * s1, s0, s1),
        writeable=False,
    )


def _untile(valid, steps, out_shape, dtype):
    """The tiles' outputs ``valid[i, j, :steps[0], :steps[1]]`` put side by side, cut to
    ``out_shape``: one copy, block by block."""
    out = np.empty(out_shape, dtype)
    for i in range(valid.shape[0]):
        r0 = i * steps[0]
        rows = min(steps[0], out_shape[0] - r0)
        for j in range(valid.shape[1]):
            c0 = j * steps[1]
            cols = min(steps[1], out_shape[1] - c0)
            out[r0 : r0 + rows, c0 : c0 + cols] = valid[i, j, :rows, :cols]
    return out


def correlate(image, kernel, row_start, col_start, boundary, fill, conjugate, out_shape):
    """``out[m, n] = sum_{j,k} ext[row_start + m + j, col_start + n + k] * w[j, k]`` by FFT,
    with the arguments and meaning of the direct kernel (``kernels.cpu.correlate``).

    ``image`` and ``kernel`` are NumPy arrays of one dtype (float32, float64, complex64 or
    complex128), the kernel non-empty; the result is a new array of that dtype, shape
    ``out_shape``.
    """
    weights = np.conj(kernel) if conjugate else kernel
    kh, kw = kernel.shape
    ext_shape = (out_shape[0] + kh - 1, out_shape[1] + kw - 1)
    lengths = tuple(tile_length(k, e) for k, e in zip(kernel.shape, ext_shape))
    steps = (lengths[0] - kh + 1, lengths[1] - kw + 1)
    counts = (-(-out_shape[0] // steps[0]), -(-out_shape[1] // steps[1]))
    # Extended far enough for whole last tiles; what lies past ext_shape only reaches outputs
    # past out_shape, which are cut off, so the boundary rule may fill it too (no extra copy).
    padded_shape = tuple(
        max(e, (c - 1) * t + n) for e, c, t, n in zip(ext_shape, counts, steps, lengths)
    )
    ext = _extend(image, row_start, col_start, padded_shape, boundary, fill)
    tiles = _tiles(ext, lengths, steps, counts)
    workers = numba.get_num_threads()
    # Correlation is convolution with the reversed weights; on each tile the circular
    # convolution is exact from index k - 1 on, which is where the tile's outputs are.
    reversed_weights = weights[::-1, ::-1]
    if image.dtype.kind == "c":
        spectrum = scipy.fft.fft2(tiles, workers=workers)
        spectrum *= scipy.fft.fft2(reversed_weights, lengths)
        result = scipy.fft.ifft2(spectrum, workers=workers)
    else:
        spectrum = scipy.fft.rfft2(tiles, workers=workers)
        spectrum *= scipy.fft.rfft2(reversed_weights, lengths)
        result = scipy.fft.irfft2(spectrum, lengths, workers=workers)
    return _untile(result[:, :, kh - 1 :, kw - 1 :], steps, out_shape, image.dtype)
