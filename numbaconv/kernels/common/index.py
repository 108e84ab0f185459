"""Flat-index arithmetic shared by the CPU and CUDA kernels (numba-free; see the package
docstring for how it is compiled twice)."""

from __future__ import annotations


def unravel4(idx, shape1, shape2, shape3):
    """``(i0, i1, i2, i3)`` of flat row-major index ``idx`` in an array of trailing dims
    ``(shape1, shape2, shape3)``."""
    i3 = idx % shape3
    rest = idx // shape3
    i2 = rest % shape2
    rest = rest // shape2
    return rest // shape1, rest % shape1, i2, i3


def unravel3(idx, shape1, shape2):
    """``(i0, i1, i2)`` of flat row-major index ``idx`` in an array of trailing dims
    ``(shape1, shape2)``."""
    i2 = idx % shape2
    rest = idx // shape2
    return rest // shape1, rest % shape1, i2
