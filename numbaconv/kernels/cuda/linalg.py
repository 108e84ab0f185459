"""2-D matrix product on the device, with either operand read transposed.

``out (M, N) = op(a) @ op(b)`` where ``op(a)`` is ``a`` (M, K) or, with ``transpose_a``, the
transpose of ``a`` stored as (K, M); likewise ``b``. Reading a transposed operand in place saves
the copy a backward pass would otherwise make (``grad @ w`` and ``grad.T @ x`` of a linear
layer). One thread owns one output element and adds its K products in order, in a float64
accumulator, so the result does not depend on the launch configuration.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_kernel
from . import launch_config


def _matmul(a, b, out, transpose_a, transpose_b):
    rows, cols = out.shape
    inner = a.shape[0] if transpose_a else a.shape[1]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * cols, step):
        i = idx // cols
        j = idx % cols
        acc = 0.0
        for k in range(inner):
            x = a[k, i] if transpose_a else a[i, k]
            y = b[j, k] if transpose_b else b[k, j]
            acc += x * y
        out[i, j] = acc


_matmul = cuda_kernel(_matmul)

PTX_SIGNATURES = {
    "_matmul": [
        cuda.void(f[:, ::1], f[:, ::1], f[:, ::1], cuda.boolean, cuda.boolean)
        for f in (cuda.float32, cuda.float64)
    ]
}


def matmul(a, b, out, transpose_a, transpose_b):
    """``out = op(a) @ op(b)``; C-contiguous 2-D device arrays of one float dtype, shapes
    already checked."""
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _matmul[blocks, threads](a, b, out, transpose_a, transpose_b)
