"""CUDA twin of ``numbaconv.kernels.cpu.correlate``: the kernel behind the SciPy-compatible
``correlate2d`` / ``convolve2d``.

Same launcher, argument order, boundary codes and meaning as the CPU module. One thread owns one
output element and adds the kernel taps in the CPU's row-major order, every product formed
(zero weights and the fill value included, so ``0 * inf`` gives NaN where SciPy gives it);
positions outside the image are mapped through SciPy's ``fill``/``symm``/``wrap`` rule.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from ..cpu.correlate import BOUNDARY_FILL, BOUNDARY_SYMM, BOUNDARY_WRAP
from . import launch_config

__all__ = ["BOUNDARY_FILL", "BOUNDARY_SYMM", "BOUNDARY_WRAP", "correlate2d_boundary"]


def _source_index(index, size, boundary):
    """Image index that extended-image position ``index`` reads, or -1 for the fill value
    (the CPU helper, compiled for the device)."""
    if 0 <= index < size:
        return index
    if boundary == BOUNDARY_FILL:
        return -1
    if boundary == BOUNDARY_WRAP:
        return index % size
    folded = index % (2 * size) if index >= 0 else (-index - 1) % (2 * size)
    return 2 * size - folded - 1 if folded >= size else folded


_source_index = cuda_device(_source_index)


def _correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill_value, out):
    height, width = image.shape
    kernel_height, kernel_width = kernel.shape
    out_height, out_width = out.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out_height * out_width, step):
        n = idx % out_width
        m = idx // out_width
        acc = out.dtype.type(0)
        for j in range(kernel_height):
            source_row = _source_index(row_start + m + j, height, boundary)
            for k in range(kernel_width):
                weight = kernel[j, k]
                if source_row < 0:
                    acc += fill_value * weight
                    continue
                c = _source_index(col_start + n + k, width, boundary)
                acc += (fill_value if c < 0 else image[source_row, c]) * weight
        out[m, n] = acc


_correlate2d_boundary = cuda_kernel(_correlate2d_boundary)


def _signatures():
    i64 = cuda.int64
    return {
        "_correlate2d_boundary": [
            cuda.void(f[:, ::1], f[:, ::1], i64, i64, i64, f, f[:, ::1])
            for f in (cuda.float32, cuda.float64)
        ],
        "_source_index": [i64(i64, i64, i64)],
    }


PTX_SIGNATURES = _signatures()


def correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill_value, out):
    """Cross-correlate ``image``, extended by ``boundary``, with ``kernel``.

    ``out[m, n] = sum_{j,k} ext[row_start + m + j, col_start + n + k] * kernel[j, k]``, as the
    CPU launcher (see ``numbaconv.kernels.cpu.correlate.correlate2d_boundary``); image (H, W),
    kernel (KH, KW) and out (OH, OW) are C-contiguous device arrays of one float dtype, and
    ``fill_value`` is converted to that dtype first.
    """
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _correlate2d_boundary[blocks, threads](
        image, kernel, row_start, col_start, boundary, out.dtype.type(fill_value), out
    )
