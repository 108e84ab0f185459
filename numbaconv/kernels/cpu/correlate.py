"""Kernels behind the SciPy-compatible ``correlate2d`` / ``convolve2d`` on the CPU.

One kernel, :func:`correlate2d_boundary`, does the work without building a
padded copy of the image (which would cost a full extra pass over memory). Each
output row is owned by one ``prange`` iteration, which adds the kernel taps in
a fixed row-major order along contiguous rows: for each tap, the outputs whose
window column lies inside the image read a contiguous slice of the image row
(a branch-free loop that vectorises), and only the few outputs near the left
and right edges map their column through SciPy's ``fill``/``symm``/``wrap``
rule. Rows outside the image are mapped the same way, once per tap row.
Results are therefore bit-identical for any thread count.

Launchers take C-contiguous arrays of one float dtype (float32 or float64) and
preallocated outputs, and never validate; :mod:`numbaconv.ops.correlate` does.
"""

from __future__ import annotations

from numba import prange

from ..._jit import cpu_helper, cpu_kernel

#: Boundary codes understood by :func:`correlate2d_boundary` (SciPy's ``fill``/``symm``/``wrap``).
BOUNDARY_FILL = 0
BOUNDARY_SYMM = 1
BOUNDARY_WRAP = 2


def _source_index(index, size, boundary):
    """Image index that extended-image position ``index`` reads, or -1 for the fill value.

    Mirrors SciPy's ``reflect_symm_index`` / ``circular_wrap_index``: the period
    is ``2*size`` (symmetric) or ``size`` (wrap), so any distance is handled.
    ``size`` must be > 0 unless ``boundary`` is fill.
    """
    if 0 <= index < size:
        return index
    if boundary == BOUNDARY_FILL:
        return -1
    if boundary == BOUNDARY_WRAP:
        return index % size  # Python/Numba % is non-negative for size > 0
    folded = index % (2 * size) if index >= 0 else (-index - 1) % (2 * size)
    return 2 * size - folded - 1 if folded >= size else folded


_source_index_jit = cpu_helper(_source_index)


def _correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill_value, out):
    height, width = image.shape
    kernel_height, kernel_width = kernel.shape
    out_height, out_width = out.shape
    zero = out.dtype.type(0)
    for m in prange(out_height):
        out_row = out[m]
        for n in range(out_width):
            out_row[n] = zero
        # Every product is formed, zero weights and fill included, so 0*inf gives NaN
        # exactly where SciPy's loop gives it.
        for j in range(kernel_height):
            source_row = _source_index_jit(row_start + m + j, height, boundary)
            for k in range(kernel_width):
                weight = kernel[j, k]
                if source_row < 0:
                    fill_term = fill_value * weight
                    for n in range(out_width):
                        out_row[n] += fill_term
                    continue
                in_row = image[source_row]
                offset = col_start + k
                # Outputs [interior_lo, interior_hi) read image columns directly.
                interior_lo = min(max(0, -offset), out_width)
                interior_hi = max(min(out_width, width - offset), interior_lo)
                for n in range(interior_lo):
                    c = _source_index_jit(offset + n, width, boundary)
                    out_row[n] += (fill_value if c < 0 else in_row[c]) * weight
                # Slices with non-negative bounds keep the hot loop free of wraparound checks.
                source = in_row[offset + interior_lo : offset + interior_hi]
                target = out_row[interior_lo:interior_hi]
                for n in range(interior_hi - interior_lo):
                    target[n] += source[n] * weight
                for n in range(interior_hi, out_width):
                    c = _source_index_jit(offset + n, width, boundary)
                    out_row[n] += (fill_value if c < 0 else in_row[c]) * weight


_correlate2d_boundary_jit = cpu_kernel(_correlate2d_boundary)


def correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill_value, out):
    """Cross-correlate ``image``, extended by ``boundary``, with ``kernel``.

    ``out[m, n] = sum_{j,k} ext[row_start + m + j, col_start + n + k] * kernel[j, k]``,
    where ``ext`` is ``image`` extended with the constant ``fill_value``
    (``BOUNDARY_FILL``), by mirroring with the edge repeated (``BOUNDARY_SYMM``) or
    periodically (``BOUNDARY_WRAP``), repeatedly where the window reaches further
    than one image size. ``row_start = col_start = 0`` with an output of
    ``image.shape - kernel.shape + 1`` is a plain "valid" correlation.

    Parameters
    ----------
    image : ndarray, shape (H, W), float32 or float64, C-contiguous
        ``H`` or ``W`` may be 0 only with ``BOUNDARY_FILL``.
    kernel : ndarray, shape (KH, KW), same dtype, C-contiguous
    row_start, col_start : int
        Image coordinates of the first output's window (negative: in the border).
    boundary : int
        ``BOUNDARY_FILL``, ``BOUNDARY_SYMM`` or ``BOUNDARY_WRAP``.
    fill_value : float
        Value outside the image with ``BOUNDARY_FILL`` (ignored otherwise).
    out : ndarray, shape (OH, OW), same dtype, C-contiguous
        Output, overwritten entirely.
    """
    _correlate2d_boundary_jit(
        image, kernel, row_start, col_start, boundary, out.dtype.type(fill_value), out
    )
