"""Index arithmetic shared by the ``conv2d`` kernels on the CPU and on CUDA.

Plain Python, no numba: :mod:`numbaconv.kernels.cpu.conv` compiles :func:`first_last_out` with
``_jit.cpu_helper``, and :mod:`numbaconv.kernels.cuda.conv_reference` compiles both functions
with ``_jit.cuda_device`` (see :mod:`numbaconv.kernels.common`).
"""

from __future__ import annotations


def first_last_out(size_in, size_out, k_offset, stride, pad):
    """Output positions ``[lo, hi)`` whose input coordinate ``o*stride - pad + k_offset``
    falls inside ``[0, size_in)``."""
    # o*stride >= pad - k_offset  ->  o >= ceil((pad - k_offset) / stride)
    num = pad - k_offset
    lo = 0 if num <= 0 else (num + stride - 1) // stride
    # o*stride <= size_in - 1 + pad - k_offset
    top = size_in - 1 + pad - k_offset
    hi = 0 if top < 0 else top // stride + 1
    if hi > size_out:
        hi = size_out
    if lo > hi:
        lo = hi
    return lo, hi


def source_position(i, pad, k_offset, stride, size_out):
    """The output position whose tap ``k_offset`` reads input position ``i``, or -1: the
    inverse of ``o*stride - pad + k_offset`` along one axis (gathering in grad_input)."""
    t = i + pad - k_offset
    if t < 0 or t % stride != 0:
        return -1
    o = t // stride
    return o if o < size_out else -1
