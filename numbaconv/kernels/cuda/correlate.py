"""CUDA twin of ``numbaconv.kernels.cpu.correlate``: the kernel behind the SciPy-compatible
``correlate2d`` / ``convolve2d``.

Same launcher, argument order, boundary codes and meaning as the CPU module (the boundary rule is
the shared :mod:`numbaconv.kernels.common.correlate`, compiled as a device function). One thread
owns one output element and adds the kernel taps in row-major order, every product formed
(zero weights and the fill value included, so ``0 * inf`` gives NaN where SciPy gives it);
positions outside the image are mapped through SciPy's ``fill``/``symm``/``wrap`` rule.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from ..common.correlate import BOUNDARY_FILL, BOUNDARY_SYMM, BOUNDARY_WRAP, source_index
from . import launch_config

__all__ = ["BOUNDARY_FILL", "BOUNDARY_SYMM", "BOUNDARY_WRAP", "correlate2d_boundary"]


_source_index = cuda_device(source_index)


def _correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill, conjugate, out):
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
                if conjugate:
                    weight = weight.conjugate()
                if source_row < 0:
                    acc += fill * weight
                    continue
                c = _source_index(col_start + n + k, width, boundary)
                acc += (fill if c < 0 else image[source_row, c]) * weight
        out[m, n] = acc


_correlate2d_boundary = cuda_kernel(_correlate2d_boundary)


def _signatures():
    i64 = cuda.int64
    dtypes = (cuda.float32, cuda.float64, cuda.complex64, cuda.complex128)
    return {
        "_correlate2d_boundary": [
            cuda.void(f[:, ::1], f[:, ::1], i64, i64, i64, f, cuda.boolean, f[:, ::1])
            for f in dtypes
        ],
    }


PTX_SIGNATURES = _signatures()


def correlate2d_boundary(image, kernel, row_start, col_start, boundary, fill_value, conjugate, out):
    """Cross-correlate ``image``, extended by ``boundary``, with ``kernel`` (or its conjugate).

    ``out[m, n] = sum_{j,k} ext[row_start + m + j, col_start + n + k] * w[j, k]``, with ``w``
    ``kernel`` or ``conj(kernel)`` as the CPU launcher (see
    ``numbaconv.kernels.cpu.correlate.correlate2d_boundary``); image (H, W), kernel (KH, KW) and
    out (OH, OW) are C-contiguous device arrays of one dtype (float32, float64, complex64 or
    complex128), and ``fill_value`` is converted to that dtype first.
    """
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _correlate2d_boundary[blocks, threads](
        image, kernel, row_start, col_start, boundary, out.dtype.type(fill_value), conjugate, out
    )
