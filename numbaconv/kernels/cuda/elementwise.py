"""Elementwise CUDA kernels for autograd on the device: NumPy broadcasting, casts, permutes.

Shapes and element strides are padded to ``NDIM`` axes (leading axes of length 1) and passed as
tuples, so each kernel compiles once per dtype combination whatever the array's rank. A stride
of 0 repeats an element along an axis: that is how broadcasting, and a permute (the strides of
the source in the order of the result's axes), reach one strided gather. Inputs and outputs are
1-D views of C-contiguous buffers; one thread owns one output element.

The operation is chosen by an integer code (the ``OP_*`` constants) rather than one kernel per
operation: a branch on a uniform value costs little next to the memory traffic, and it keeps
the number of compiled kernels (and PTX signatures) small.
"""

from __future__ import annotations

import math

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from . import launch_config

#: The rank every shape and stride tuple is padded to.
NDIM = 6

# Binary operations (``_binary_strided``, ``_binary_scalar``).
OP_ADD = 0
OP_SUB = 1
OP_MUL = 2
OP_DIV = 3
OP_MAXIMUM = 4
OP_POW = 5
# Comparisons write into a bool output.
OP_EQ = 10
OP_NE = 11
OP_LT = 12
OP_LE = 13
OP_GT = 14
OP_GE = 15

# Unary operations (``_unary_strided``); copies and casts go through ``_copy_strided``.
OP_NEG = 1
OP_EXP = 2
OP_LOG = 3
OP_SQRT = 4


def _apply_binary(op, x, y):
    if op == OP_ADD:
        return x + y
    if op == OP_SUB:
        return x - y
    if op == OP_MUL:
        return x * y
    if op == OP_DIV:
        return x / y
    if op == OP_MAXIMUM:
        # np.maximum propagates a NaN from either side.
        if x != x:
            return x
        if y != y:
            return y
        return x if x >= y else y
    return x**y  # OP_POW


def _apply_compare(op, x, y):
    if op == OP_EQ:
        return x == y
    if op == OP_NE:
        return x != y
    if op == OP_LT:
        return x < y
    if op == OP_LE:
        return x <= y
    if op == OP_GT:
        return x > y
    return x >= y  # OP_GE


def _apply_unary(op, x):
    if op == OP_NEG:
        return -x
    if op == OP_EXP:
        return math.exp(x)
    if op == OP_LOG:
        return math.log(x)
    return math.sqrt(x)  # OP_SQRT


def _source_offset(idx, shape, strides):
    """Offset of output element ``idx`` (row-major over ``shape``) in a strided source."""
    offset = 0
    rest = idx
    for axis in range(NDIM - 1, -1, -1):
        n = shape[axis]
        offset += (rest % n) * strides[axis]
        rest //= n
    return offset


_apply_binary = cuda_device(_apply_binary)
_apply_compare = cuda_device(_apply_compare)
_apply_unary = cuda_device(_apply_unary)
_source_offset = cuda_device(_source_offset)


def _binary_strided(op, a, a_strides, b, b_strides, out, shape):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        x = a[_source_offset(idx, shape, a_strides)]
        y = b[_source_offset(idx, shape, b_strides)]
        out[idx] = _apply_binary(op, x, y)


def _binary_scalar(op, a, scalar, scalar_first, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        if scalar_first:
            out[idx] = _apply_binary(op, scalar, a[idx])
        else:
            out[idx] = _apply_binary(op, a[idx], scalar)


def _compare_strided(op, a, a_strides, b, b_strides, out, shape):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        x = a[_source_offset(idx, shape, a_strides)]
        y = b[_source_offset(idx, shape, b_strides)]
        out[idx] = _apply_compare(op, x, y)


def _compare_scalar(op, a, scalar, scalar_first, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        if scalar_first:
            out[idx] = _apply_compare(op, scalar, a[idx])
        else:
            out[idx] = _apply_compare(op, a[idx], scalar)


def _unary_strided(op, a, a_strides, out, shape):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        out[idx] = _apply_unary(op, a[_source_offset(idx, shape, a_strides)])


def _copy_strided(a, a_strides, out, shape):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        out[idx] = a[_source_offset(idx, shape, a_strides)]


def _fill(out, value):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.shape[0], step):
        out[idx] = value


_binary_strided = cuda_kernel(_binary_strided)
_binary_scalar = cuda_kernel(_binary_scalar)
_compare_strided = cuda_kernel(_compare_strided)
_compare_scalar = cuda_kernel(_compare_scalar)
_unary_strided = cuda_kernel(_unary_strided)
_copy_strided = cuda_kernel(_copy_strided)
_fill = cuda_kernel(_fill)


def _signatures():
    i64, b1 = cuda.int64, cuda.boolean
    tup = cuda.types.UniTuple(i64, NDIM)
    floats = (cuda.float32, cuda.float64)
    # Casts reach every float from the dtypes a Tensor or a label array may hold.
    sources = (cuda.float32, cuda.float64, cuda.int64, cuda.int32, cuda.uint8, b1)
    table = {
        name: []
        for name in (
            "_binary_strided",
            "_binary_scalar",
            "_compare_strided",
            "_compare_scalar",
            "_unary_strided",
            "_copy_strided",
            "_fill",
        )
    }
    for f in floats:
        v = f[::1]
        table["_binary_strided"].append(cuda.void(i64, v, tup, v, tup, v, tup))
        table["_binary_scalar"].append(cuda.void(i64, v, f, b1, v))
        table["_unary_strided"].append(cuda.void(i64, v, tup, v, tup))
        table["_fill"].append(cuda.void(v, f))
    for f in (*floats, cuda.int64):
        v = f[::1]
        table["_compare_strided"].append(cuda.void(i64, v, tup, v, tup, b1[::1], tup))
        table["_compare_scalar"].append(cuda.void(i64, v, f, b1, b1[::1]))
    for src in sources:
        for dst in floats:
            table["_copy_strided"].append(cuda.void(src[::1], tup, dst[::1], tup))
    # Labels: any integer (or bool) array becomes int64 for the loss kernels.
    for src in (cuda.int64, cuda.int32, cuda.uint8, b1):
        table["_copy_strided"].append(cuda.void(src[::1], tup, cuda.int64[::1], tup))
    table["_copy_strided"].append(cuda.void(b1[::1], tup, b1[::1], tup))
    table["_apply_binary"] = [f(i64, f, f) for f in floats]
    table["_apply_compare"] = [b1(i64, f, f) for f in floats]
    table["_apply_unary"] = [f(i64, f) for f in floats]
    table["_source_offset"] = [i64(i64, tup, tup)]
    return table


PTX_SIGNATURES = _signatures()


def _run(kernel, total, *args):
    if total == 0:
        return
    blocks, threads = launch_config(total)
    kernel[blocks, threads](*args)


def binary_strided(op, a, a_strides, b, b_strides, out, shape):
    """``out[i] = a[...] <op> b[...]`` for each element ``i`` of the row-major ``shape``.

    ``a``, ``b``: 1-D device buffers of the output's dtype; ``*_strides``: element strides of
    each source in the output's axes (0 where it is broadcast); ``shape``, strides: ``NDIM``-
    tuples; ``out``: 1-D C-contiguous, ``prod(shape)`` elements.
    """
    _run(_binary_strided, out.shape[0], op, a, a_strides, b, b_strides, out, shape)


def binary_scalar(op, a, scalar, scalar_first, out):
    """``out = a <op> scalar`` (or ``scalar <op> a``); ``scalar`` already in ``out``'s dtype."""
    _run(_binary_scalar, out.shape[0], op, a, scalar, scalar_first, out)


def compare_strided(op, a, a_strides, b, b_strides, out, shape):
    """As :func:`binary_strided` for a comparison, into the bool buffer ``out``."""
    _run(_compare_strided, out.shape[0], op, a, a_strides, b, b_strides, out, shape)


def compare_scalar(op, a, scalar, scalar_first, out):
    """As :func:`binary_scalar` for a comparison, into the bool buffer ``out``."""
    _run(_compare_scalar, out.shape[0], op, a, scalar, scalar_first, out)


def unary_strided(op, a, a_strides, out, shape):
    """``out[i] = op(a[...])`` (``OP_NEG``, ``OP_EXP``, ``OP_LOG``, ``OP_SQRT``), gathering
    through ``a_strides``; ``a`` and ``out`` share one float dtype."""
    _run(_unary_strided, out.shape[0], op, a, a_strides, out, shape)


def copy_strided(a, a_strides, out, shape):
    """``out[i] = a[...]``, gathering through ``a_strides``, converting to ``out``'s dtype:
    a copy, cast, permute or materialised broadcast."""
    _run(_copy_strided, out.shape[0], a, a_strides, out, shape)


def fill(out, value):
    """Set every element of the 1-D buffer ``out`` to ``value`` (in ``out``'s dtype)."""
    _run(_fill, out.shape[0], out, value)
