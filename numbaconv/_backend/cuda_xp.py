"""The NumPy-like namespace of the CUDA backend: functions on numba CUDA device arrays.

Its functions have NumPy's names, arguments and broadcasting/dtype rules and run CUDA kernels
(``numbaconv.kernels.cuda`` ``elementwise``, ``reduce``, ``linalg``) without copying anything to
the host. It holds only what autograd needs: float arithmetic with broadcasting, comparisons,
exp/log/sqrt, sum/max/argmax over axes (:mod:`.cuda_xp_reduce`), 2-D matmul, reshape,
transpose, broadcast_to, dtype casts and constructors. Arrays of more than ``NDIM`` (6) axes,
and integer arithmetic, raise TypeError/ValueError saying so.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .cuda_xp_reduce import Reductions
from .device import as_device_array, is_device_array, mixed_device_error


def _is_scalar(value) -> bool:
    return isinstance(value, (numbers.Number, np.generic)) or (
        isinstance(value, np.ndarray) and value.ndim == 0
    )


class CudaNamespace(Reductions):
    """NumPy-like functions on numba CUDA device arrays (results are device arrays)."""

    NDIM = 6
    errstate = staticmethod(np.errstate)
    result_type = staticmethod(np.result_type)
    newaxis = None

    def __init__(self, backend):
        self._backend = backend

    # ------------------------------------------------------------ plumbing
    @property
    def _elementwise(self):
        return self._backend.kernels.elementwise

    def _empty(self, shape, dtype):
        return self._backend.empty(tuple(int(n) for n in shape), np.dtype(dtype))

    def _pad(self, shape) -> tuple:
        if len(shape) > self.NDIM:
            raise ValueError(
                f"CUDA tensors support at most {self.NDIM} axes, got shape {tuple(shape)}"
            )
        return (1,) * (self.NDIM - len(shape)) + tuple(int(n) for n in shape)

    @staticmethod
    def _element_strides(shape) -> list:
        strides, step = [], 1
        for n in reversed(shape):
            strides.append(step)
            step *= int(n)
        return strides[::-1]

    def _broadcast_strides(self, shape, out_shape) -> tuple:
        """Element strides of a C-contiguous ``shape`` read in ``out_shape``'s axes."""
        padded = self._pad((1,) * (len(out_shape) - len(shape)) + tuple(shape))
        strides = self._element_strides(padded)
        return tuple(0 if n == 1 else s for n, s in zip(padded, strides, strict=True))

    @staticmethod
    def _flat(arr):
        return arr.reshape(arr.size)

    def _device(self, name, value):
        if is_device_array(value):
            arr = as_device_array(value)
            if not arr.is_c_contiguous():
                if arr.dtype.kind != "f":
                    raise TypeError(
                        f"{name}: non-contiguous {arr.dtype} device arrays are not supported"
                    )
                arr = self._backend.contiguous(arr, arr.dtype)
            return arr
        if isinstance(value, np.ndarray) and value.ndim > 0:
            raise mixed_device_error(name, x=value)
        raise TypeError(f"{name}: expected a CUDA device array, got {type(value).__name__}")

    def _cast(self, arr, dtype):
        dtype = np.dtype(dtype)
        if arr.dtype == dtype:
            return arr
        out = self._empty(arr.shape, dtype)
        padded = self._pad(arr.shape)
        self._elementwise.copy_strided(
            self._flat(arr), tuple(self._element_strides(padded)), self._flat(out), padded
        )
        return out

    @staticmethod
    def _scalar_value(value):
        return value.item() if isinstance(value, np.ndarray) else value

    def _float_result(self, what, dtype):
        if dtype.kind != "f":
            raise TypeError(
                f"{what} on CUDA arrays supports float32 and float64 results, got {dtype}; "
                "cast with .float() or .double() first"
            )
        return dtype

    def _binary(self, what, op, a, b, compare=False):
        a_scalar, b_scalar = _is_scalar(a), _is_scalar(b)
        if a_scalar and b_scalar:
            raise TypeError(f"{what}: at least one operand must be a CUDA device array")
        ea = self._elementwise
        if a_scalar or b_scalar:
            arr = self._device(what, b if a_scalar else a)
            scalar = self._scalar_value(a if a_scalar else b)
            dtype = np.result_type(arr.dtype, scalar)
            if not compare:
                dtype = self._float_result(what, dtype)
            elif dtype.kind not in "fi":
                dtype = np.dtype(np.float64)
            elif dtype.kind == "i":
                dtype = np.dtype(np.int64)
            arr = self._cast(arr, dtype)
            out = self._empty(arr.shape, bool if compare else dtype)
            typed = dtype.type(scalar)
            launch = ea.compare_scalar if compare else ea.binary_scalar
            launch(op, self._flat(arr), typed, a_scalar, self._flat(out))
            return out
        if is_device_array(a) != is_device_array(b):
            raise mixed_device_error(what, x1=a, x2=b)
        a, b = self._device(what, a), self._device(what, b)
        dtype = np.result_type(a.dtype, b.dtype)
        if not compare:
            dtype = self._float_result(what, dtype)
        elif dtype.kind not in "fi":
            dtype = np.dtype(np.float64)
        elif dtype.kind == "i":
            dtype = np.dtype(np.int64)
        try:
            out_shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
        except ValueError:
            raise ValueError(
                f"{what}: operands could not be broadcast together with shapes "
                f"{tuple(a.shape)} {tuple(b.shape)}"
            ) from None
        a, b = self._cast(a, dtype), self._cast(b, dtype)
        out = self._empty(out_shape, bool if compare else dtype)
        launch = ea.compare_strided if compare else ea.binary_strided
        launch(
            op,
            self._flat(a),
            self._broadcast_strides(a.shape, out_shape),
            self._flat(b),
            self._broadcast_strides(b.shape, out_shape),
            self._flat(out),
            self._pad(out_shape),
        )
        return out

    def _unary(self, what, op, a):
        a = self._device(what, a)
        dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
        a = self._cast(a, dtype)
        out = self._empty(a.shape, dtype)
        padded = self._pad(a.shape)
        self._elementwise.unary_strided(
            op, self._flat(a), tuple(self._element_strides(padded)), self._flat(out), padded
        )
        return out

    # ------------------------------------------------------------ arithmetic
    def add(self, a, b):
        return self._binary("add", self._elementwise.OP_ADD, a, b)

    def subtract(self, a, b):
        return self._binary("subtract", self._elementwise.OP_SUB, a, b)

    def multiply(self, a, b):
        return self._binary("multiply", self._elementwise.OP_MUL, a, b)

    def true_divide(self, a, b):
        return self._binary("true_divide", self._elementwise.OP_DIV, a, b)

    divide = true_divide

    def maximum(self, a, b):
        return self._binary("maximum", self._elementwise.OP_MAXIMUM, a, b)

    def power(self, a, exponent):
        if not _is_scalar(exponent):
            raise TypeError("power on CUDA arrays takes a scalar exponent")
        return self._binary("power", self._elementwise.OP_POW, a, exponent)

    def negative(self, a):
        return self._unary("negative", self._elementwise.OP_NEG, a)

    def exp(self, a):
        return self._unary("exp", self._elementwise.OP_EXP, a)

    def log(self, a):
        return self._unary("log", self._elementwise.OP_LOG, a)

    def sqrt(self, a):
        return self._unary("sqrt", self._elementwise.OP_SQRT, a)

    def equal(self, a, b):
        return self._binary("equal", self._elementwise.OP_EQ, a, b, compare=True)

    def not_equal(self, a, b):
        return self._binary("not_equal", self._elementwise.OP_NE, a, b, compare=True)

    def less(self, a, b):
        return self._binary("less", self._elementwise.OP_LT, a, b, compare=True)

    def less_equal(self, a, b):
        return self._binary("less_equal", self._elementwise.OP_LE, a, b, compare=True)

    def greater(self, a, b):
        return self._binary("greater", self._elementwise.OP_GT, a, b, compare=True)

    def greater_equal(self, a, b):
        return self._binary("greater_equal", self._elementwise.OP_GE, a, b, compare=True)

    # ------------------------------------------------------------ constructors and casts
    def empty(self, shape, dtype=np.float64):
        shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
        return self._empty(shape, dtype)

    def full(self, shape, fill_value, dtype=None):
        dtype = np.dtype(np.result_type(fill_value) if dtype is None else dtype)
        out = self.empty(shape, dtype)
        if out.size:
            self._elementwise.fill(self._flat(out), dtype.type(fill_value))
        return out

    def zeros(self, shape, dtype=np.float64):
        return self.full(shape, 0, dtype)

    def ones(self, shape, dtype=np.float64):
        return self.full(shape, 1, dtype)

    def zeros_like(self, a, dtype=None):
        return self.zeros(a.shape, a.dtype if dtype is None else dtype)

    def ones_like(self, a, dtype=None):
        return self.ones(a.shape, a.dtype if dtype is None else dtype)

    def astype(self, a, dtype, copy=True):
        a = self._device("astype", a)
        if np.dtype(dtype) == a.dtype:
            return self.copy(a) if copy else a
        return self._cast(a, dtype)

    def copy(self, a):
        a = self._device("copy", a)
        out = self._empty(a.shape, a.dtype)
        padded = self._pad(a.shape)
        self._elementwise.copy_strided(
            self._flat(a), tuple(self._element_strides(padded)), self._flat(out), padded
        )
        return out

    def asarray(self, a, dtype=None):
        if _is_scalar(a):
            value = self._scalar_value(a)
            return self.full((), value, dtype if dtype is not None else np.result_type(a))
        a = self._device("asarray", a)
        return a if dtype is None else self.astype(a, dtype, copy=False)

    def ascontiguousarray(self, a, dtype=None):
        return self.asarray(a, dtype)

    @staticmethod
    def shape(a) -> tuple:
        return tuple(a.shape)

    # ------------------------------------------------------------ shapes
    def _resolve_shape(self, size, shape) -> tuple:
        shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
        unknown = [i for i, n in enumerate(shape) if n == -1]
        known = math.prod(n for n in shape if n != -1)
        if len(unknown) > 1 or any(n < -1 for n in shape):
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        if unknown:
            if known == 0 or size % known:
                raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
            shape = (*shape[: unknown[0]], size // known, *shape[unknown[0] + 1 :])
        if math.prod(shape) != size:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        return shape

    def reshape(self, a, shape):
        a = self._device("reshape", a)
        shape = self._resolve_shape(a.size, shape)
        if tuple(a.shape) == shape:
            return a
        return a.reshape(shape)

    def expand_dims(self, a, axis):
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        ndim = a.ndim + len(axes)
        axes = sorted(ax % ndim for ax in axes)
        shape = list(a.shape)
        for ax in axes:
            shape.insert(ax, 1)
        return self.reshape(a, tuple(shape))

    def squeeze(self, a, axis=None):
        if axis is None:
            return self.reshape(a, tuple(n for n in a.shape if n != 1))
        axes = {ax % max(a.ndim, 1) for ax in (axis if isinstance(axis, tuple) else (axis,))}
        for ax in axes:
            if a.shape[ax] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not 1")
        return self.reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes))

    def transpose(self, a, axes=None):
        a = self._device("transpose", a)
        axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(int(x) for x in axes)
        if axes == tuple(range(a.ndim)):
            return self.copy(a)
        strides = self._element_strides(a.shape)
        out_shape = tuple(a.shape[ax] for ax in axes)
        src_strides = (0,) * (self.NDIM - a.ndim) + tuple(strides[ax] for ax in axes)
        out = self._empty(out_shape, a.dtype)
        self._elementwise.copy_strided(
            self._flat(a), src_strides, self._flat(out), self._pad(out_shape)
        )
        return out

    def swapaxes(self, a, axis1, axis2):
        axes = list(range(a.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return self.transpose(a, axes)

    def broadcast_to(self, a, shape):
        """A materialised (copied) broadcast: device kernels read it like any array."""
        shape = tuple(int(n) for n in shape)
        if _is_scalar(a):
            return self.full(shape, self._scalar_value(a))
        a = self._device("broadcast_to", a)
        if np.broadcast_shapes(tuple(a.shape), shape) != shape:
            raise ValueError(f"cannot broadcast an array of shape {tuple(a.shape)} to {shape}")
        if tuple(a.shape) == shape:
            return a
        out = self._empty(shape, a.dtype)
        self._elementwise.copy_strided(
            self._flat(a),
            self._broadcast_strides(a.shape, shape),
            self._flat(out),
            self._pad(shape),
        )
        return out

    def __repr__(self) -> str:
        return "<numbaconv CUDA array namespace>"
