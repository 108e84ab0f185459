"""Index arithmetic shared by the ``correlate2d`` kernels on the CPU and on CUDA.

Plain Python, no numba: :mod:`numbaconv.kernels.cpu.correlate` compiles :func:`source_index`
with ``_jit.cpu_helper`` and :mod:`numbaconv.kernels.cuda.correlate` with ``_jit.cuda_device``
(see :mod:`numbaconv.kernels.common`).
"""

from __future__ import annotations

#: Boundary codes of the correlate kernels (SciPy's ``fill``/``symm``/``wrap``).
BOUNDARY_FILL = 0
BOUNDARY_SYMM = 1
BOUNDARY_WRAP = 2


def source_index(index, size, boundary):
    """Image index that extended-image position ``index`` reads, or -1 for the fill value.

    Mirrors SciPy's ``reflect_symm_index`` / ``circular_wrap_index``: the period is
    ``2*size`` (symmetric) or ``size`` (wrap), so any distance is handled. ``size`` must be
    > 0 unless ``boundary`` is fill.
    """
    if 0 <= index < size:
        return index
    if boundary == BOUNDARY_FILL:
        return -1
    if boundary == BOUNDARY_WRAP:
        return index % size  # Python/Numba % is non-negative for size > 0
    folded = index % (2 * size) if index >= 0 else (-index - 1) % (2 * size)
    return 2 * size - folded - 1 if folded >= size else folded
