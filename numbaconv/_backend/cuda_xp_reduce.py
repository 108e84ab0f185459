"""Reductions and matrix products of the CUDA array namespace (a mixin of ``CudaNamespace``)."""

from __future__ import annotations

import math

import numpy as np


class Reductions:
    """sum/max/argmax over axes and 2-D matmul on device arrays; see ``CudaNamespace``."""

    def _axes(self, axis, ndim) -> tuple:
        if axis is None:
            return tuple(range(ndim))
        items = axis if isinstance(axis, (tuple, list)) else (axis,)
        return tuple(sorted(int(ax) % max(ndim, 1) for ax in items)) if ndim else ()

    def _rows(self, what, a, axis):
        """``a`` as a flat (M*K,) buffer with the reduced axes last, plus M, K and shapes."""
        a = self._device(what, a)
        axes = self._axes(axis, a.ndim)
        kept = tuple(i for i in range(a.ndim) if i not in axes)
        order = kept + axes
        if order != tuple(range(a.ndim)):
            a = self.transpose(a, order)
        kept_shape = tuple(a.shape[: len(kept)])
        rows = math.prod(kept_shape)
        row_length = math.prod(a.shape[len(kept) :])
        return a, axes, kept_shape, rows, row_length

    @staticmethod
    def _result_shape(shape, axes, keepdims) -> tuple:
        if keepdims:
            return tuple(1 if i in axes else n for i, n in enumerate(shape))
        return tuple(n for i, n in enumerate(shape) if i not in axes)

    def sum(self, a, axis=None, keepdims=False, dtype=None):
        source = self._device("sum", a)
        in_dtype = source.dtype
        work = source if in_dtype.kind == "f" else self._cast(source, np.float64)
        flat, axes, _, rows, row_length = self._rows("sum", work, axis)
        out_shape = self._result_shape(source.shape, axes, keepdims)
        out_dtype = work.dtype if dtype is None else np.dtype(dtype)
        if row_length == 0:
            return self.zeros(out_shape, out_dtype)
        out = self._empty((rows,), work.dtype)
        reduce = self._backend.kernels.reduce
        reduce.reduce_rows(reduce.OP_SUM, self._flat(flat), row_length, out, self._backend)
        out = out.reshape(out_shape)
        if dtype is None and in_dtype.kind in "biu":
            # NumPy sums integers and bools as int64; counts below 2**53 are exact in float64.
            return self._cast(out, np.int64)
        return self._cast(out, out_dtype)

    def max(self, a, axis=None, keepdims=False):
        source = self._device("max", a)
        self._float_result("max", source.dtype)
        flat, axes, _, rows, row_length = self._rows("max", source, axis)
        if row_length == 0:
            raise ValueError("zero-size array to reduction operation maximum which has no identity")
        out = self._empty((rows,), source.dtype)
        reduce = self._backend.kernels.reduce
        reduce.reduce_rows(reduce.OP_MAX, self._flat(flat), row_length, out, self._backend)
        return out.reshape(self._result_shape(source.shape, axes, keepdims))

    amax = max

    def argmax(self, a, axis=None, keepdims=False):
        source = self._device("argmax", a)
        self._float_result("argmax", source.dtype)
        if axis is not None and isinstance(axis, (tuple, list)):
            raise TypeError("argmax takes a single axis (an int) or None")
        flat, axes, _, rows, row_length = self._rows("argmax", source, axis)
        if row_length == 0:
            raise ValueError("attempt to get argmax of an empty sequence")
        out = self._empty((rows,), np.int64)
        self._backend.kernels.reduce.argmax_rows(self._flat(flat), row_length, out)
        if axis is None:
            return out.reshape((1,) * source.ndim if keepdims else ())
        return out.reshape(self._result_shape(source.shape, axes, keepdims))

    # ------------------------------------------------------------ linear algebra
    def matmul_t(self, a, b, transpose_a=False, transpose_b=False):
        a, b = self._device("matmul", a), self._device("matmul", b)
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"matmul_t takes 2-D arrays, got shapes {a.shape} and {b.shape}")
        dtype = self._float_result("matmul", np.result_type(a.dtype, b.dtype))
        a, b = self._cast(a, dtype), self._cast(b, dtype)
        rows, inner = (a.shape[1], a.shape[0]) if transpose_a else a.shape
        inner_b, cols = (b.shape[1], b.shape[0]) if transpose_b else b.shape
        if inner != inner_b:
            raise ValueError(
                f"matmul: inner dimensions differ ({inner} != {inner_b}) for operands of shapes "
                f"{tuple(a.shape)}{'.T' if transpose_a else ''} and "
                f"{tuple(b.shape)}{'.T' if transpose_b else ''}"
            )
        out = self._empty((rows, cols), dtype)
        if inner == 0:
            return self.zeros((rows, cols), dtype)
        self._backend.kernels.linalg.matmul(a, b, out, bool(transpose_a), bool(transpose_b))
        return out

    def matmul(self, a, b):
        """NumPy's matmul for a 1-D or N-D ``a`` and a 1-D or 2-D ``b`` (batched ``b`` is not
        supported on the device)."""
        a, b = self._device("matmul", a), self._device("matmul", b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul needs operands with at least one axis, got shapes {a.shape} and {b.shape}"
            )
        if b.ndim > 2:
            raise TypeError(
                f"matmul on CUDA arrays supports a 1-D or 2-D right operand, got shape {b.shape}"
            )
        a2 = self.reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = self.reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        a2_shape = tuple(a2.shape)  # the simulator's shapes refuse negative indices
        lead = a2_shape[:-1]
        folded = self.reshape(a2, (-1, a2_shape[-1])) if a2.ndim > 2 else a2
        out = self.matmul_t(folded, b2)
        shape = (*lead, b2.shape[1])
        if a.ndim == 1:
            shape = shape[1:]
        if b.ndim == 1:
            shape = shape[:-1]
        return self.reshape(out, shape)
