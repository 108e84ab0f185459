"""Differentiable arithmetic, matrix products and reductions on NumPy or CUDA device arrays.

Binary operations broadcast as NumPy does; their backward sums the gradient
back to each input's own shape (:func:`unbroadcast`). Each Function writes its array code
once against ``xp`` (:func:`numbaconv._backend.xp.namespace`): NumPy on the host, CUDA
kernels on the device.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._backend.xp import asarray, astype, matmul_t, namespace
from .function import Function


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    grad = asarray(grad)
    xp = namespace(grad)
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = xp.sum(grad, axis=stretched, keepdims=True)
    return xp.reshape(grad, shape)


def _shape(x) -> tuple:
    return np.shape(x)


class Add(Function):
    def forward(self, a, b):
        self.shapes = (_shape(a), _shape(b))
        return namespace(a, b).add(a, b)

    def backward(self, grad):
        return tuple(
            unbroadcast(grad, shape) if needed else None
            for shape, needed in zip(self.shapes, self.needs_input_grad, strict=True)
        )


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (_shape(a), _shape(b))
        return namespace(a, b).subtract(a, b)

    def backward(self, grad):
        xp = namespace(grad)
        ga = unbroadcast(grad, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = unbroadcast(xp.negative(grad), self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return namespace(a, b).multiply(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        xp = namespace(grad)
        ga = unbroadcast(xp.multiply(grad, b), _shape(a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(xp.multiply(grad, a), _shape(b)) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return namespace(a, b).true_divide(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        xp = namespace(grad)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(xp.true_divide(grad, b), _shape(a))
        if self.needs_input_grad[1]:
            numerator = xp.multiply(xp.negative(grad), a)
            gb = unbroadcast(xp.true_divide(numerator, xp.multiply(b, b)), _shape(b))
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return namespace(a).negative(a)

    def backward(self, grad):
        return namespace(grad).negative(grad)


class Pow(Function):
    """``a ** exponent`` for a real scalar exponent."""

    def forward(self, a, *, exponent):
        self.save_for_backward(a)
        self.exponent = exponent
        return namespace(a).power(a, exponent)

    def backward(self, grad):
        (a,) = self.saved_tensors
        p = self.exponent
        xp = namespace(grad)
        return xp.multiply(xp.multiply(grad, p), xp.power(a, p - 1))


class Exp(Function):
    def forward(self, a):
        out = namespace(a).exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return namespace(grad).multiply(grad, out)


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return namespace(a).log(a)

    def backward(self, grad):
        (a,) = self.saved_tensors
        return namespace(grad).true_divide(grad, a)


class MatMul(Function):
    """``a @ b`` with NumPy's rules: 1-D operands are promoted, batch axes broadcast.

    On the device the right operand must be 1-D or 2-D (a's leading axes fold into rows).
    """

    def forward(self, a, b):
        xp = namespace(a, b)
        a, b = asarray(a), asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul needs operands with at least one axis, got shapes {a.shape} and {b.shape}"
            )
        self.save_for_backward(a, b)
        return xp.matmul(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        if namespace(grad) is not np:
            return self._device_backward(grad, a, b)
        # Work on the promoted 2-D+ forms, then drop the promoted axes again.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        out_shape = (*batch, a2.shape[-2], b2.shape[-1])
        g2 = np.reshape(grad, out_shape)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb

    def _device_backward(self, grad, a, b):
        xp = namespace(grad)
        # Fold a's leading axes into rows: the weight gradient then sums over them in the product.
        a2 = xp.reshape(a, (-1, tuple(a.shape)[-1]))
        b2 = xp.reshape(b, (b.shape[0], -1))
        g2 = xp.reshape(grad, (a2.shape[0], b2.shape[1]))
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = xp.reshape(matmul_t(g2, b2, transpose_b=True), a.shape)
        if self.needs_input_grad[1]:
            gb = xp.reshape(matmul_t(a2, g2, transpose_a=True), b.shape)
        return ga, gb


def normalize_axis(axis, ndim: int, name: str = "axis"):
    """``axis`` (None, int or tuple of ints) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    result = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise TypeError(f"{name} must be an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= item < max(ndim, 1):
            raise ValueError(f"{name}={axis!r} is out of range for a tensor with {ndim} axes")
        result.append(int(item) % max(ndim, 1))
    if len(set(result)) != len(result):
        raise ValueError(f"{name}={axis!r} repeats an axis")
    return tuple(sorted(result))


def _expand_reduced(grad, in_shape, axes, keepdims):
    """Broadcast a reduced gradient back over the reduced axes of ``in_shape``."""
    grad = asarray(grad)
    xp = namespace(grad)
    if not keepdims and len(in_shape) > 0:
        grad = xp.expand_dims(grad, axes)
    return xp.broadcast_to(grad, in_shape)


class Sum(Function):
    def forward(self, a, *, axis=None, keepdims=False):
        a = asarray(a)
        self.in_shape = tuple(a.shape)
        self.axes = normalize_axis(axis, a.ndim)
        self.keepdims = keepdims
        return namespace(a).sum(a, axis=self.axes if a.ndim else None, keepdims=keepdims)

    def backward(self, grad):
        return _expand_reduced(grad, self.in_shape, self.axes, self.keepdims)


class Mean(Function):
    def forward(self, a, *, axis=None, keepdims=False):
        a = asarray(a)
        xp = namespace(a)
        self.in_shape = tuple(a.shape)
        self.axes = normalize_axis(axis, a.ndim)
        self.keepdims = keepdims
        self.count = int(np.prod([a.shape[i] for i in self.axes])) if a.ndim else 1
        with np.errstate(invalid="ignore", divide="ignore"):
            total = xp.sum(a, axis=self.axes if a.ndim else None, keepdims=keepdims)
            # Divide in the input's dtype: NumPy's mean would also give NaN for empty axes.
            return xp.true_divide(total, np.asarray(self.count, dtype=total.dtype))

    def backward(self, grad):
        grad = asarray(grad)
        scaled = namespace(grad).true_divide(grad, np.asarray(self.count, dtype=grad.dtype))
        return _expand_reduced(scaled, self.in_shape, self.axes, self.keepdims)


class Max(Function):
    """Maximum over axes; ties share the gradient equally (as ``torch.amax``)."""

    def forward(self, a, *, axis=None, keepdims=False):
        a = asarray(a)
        xp = namespace(a)
        self.axes = normalize_axis(axis, a.ndim)
        self.keepdims = keepdims
        axes = self.axes if a.ndim else None
        kept = xp.max(a, axis=axes, keepdims=True)
        self.save_for_backward(a, kept)
        return kept if keepdims or a.ndim == 0 else xp.squeeze(kept, axis=self.axes)

    def backward(self, grad):
        a, kept = self.saved_tensors
        xp = namespace(grad)
        is_max = astype(xp.equal(a, kept), a.dtype)
        count = xp.sum(is_max, axis=self.axes if a.ndim else None, keepdims=True)
        share = xp.true_divide(is_max, count)
        return xp.multiply(_expand_reduced(grad, tuple(a.shape), self.axes, self.keepdims), share)
