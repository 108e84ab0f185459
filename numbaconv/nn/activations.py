"""Autograd-aware activations: ReLU (fused kernels), softmax and log-softmax.

ReLU on float arrays runs the fused :func:`~numbaconv.ops.relu` and
:func:`~numbaconv.ops.relu_grad` kernels (one pass each way: it is on every layer of the training
step). Softmax and log-softmax are written once against the array namespace
(:mod:`numbaconv._backend.xp`): vectorised NumPy on the host, CUDA kernels on the device.
Re-exported by :mod:`numbaconv.nn.functional`.
"""

from __future__ import annotations

import numpy as np

from .._backend import xp as _xp
from .._backend.xp import namespace
from ..autograd import Tensor
from ..autograd.function import Function
from ..ops import activation as activation_ops
from ._args import _dim, _tensor

_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _ReLU(Function):
    def forward(self, x):
        x = _xp.asarray(x)
        self.fused = x.dtype in _KERNEL_FLOATS
        if self.fused:
            # One kernel pass each way; backward needs only the output (y > 0 iff x > 0).
            y = activation_ops.relu(x)
            self.save_for_backward(y)
            return y
        self.save_for_backward(x)
        # np.maximum propagates NaN, as torch.relu does.
        return namespace(x).maximum(x, np.zeros((), dtype=x.dtype))

    def backward(self, grad):
        (saved,) = self.saved_tensors
        if self.fused:
            return activation_ops.relu_grad(grad, saved)
        xp = namespace(grad)
        return xp.multiply(grad, xp.greater(saved, 0))


def relu(input) -> Tensor:
    """max(input, 0) elementwise; the gradient is 1 where input > 0, else 0."""
    return _ReLU.apply(_tensor("input", input))


class _LogSoftmax(Function):
    def forward(self, x, *, dim):
        x = _xp.asarray(x)
        xp = namespace(x)
        shifted = xp.subtract(x, xp.max(x, axis=dim, keepdims=True))  # stable for large logits
        total = xp.sum(xp.exp(shifted), axis=dim, keepdims=True)
        out = xp.subtract(shifted, xp.log(total))
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        xp = namespace(grad)
        summed = xp.sum(grad, axis=self.dim, keepdims=True)
        return xp.subtract(grad, xp.multiply(xp.exp(out), summed))


class _Softmax(Function):
    def forward(self, x, *, dim):
        x = _xp.asarray(x)
        xp = namespace(x)
        e = xp.exp(xp.subtract(x, xp.max(x, axis=dim, keepdims=True)))
        out = xp.true_divide(e, xp.sum(e, axis=dim, keepdims=True))
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        xp = namespace(grad)
        summed = xp.sum(xp.multiply(grad, out), axis=self.dim, keepdims=True)
        return xp.multiply(out, xp.subtract(grad, summed))


def log_softmax(input, dim: int) -> Tensor:
    """``x − logsumexp(x, dim)``, computed after subtracting the max (no overflow)."""
    x = _tensor("input", input)
    return _LogSoftmax.apply(x, dim=_dim("dim", dim, x.ndim))


def softmax(input, dim: int) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``, computed after subtracting the max."""
    x = _tensor("input", input)
    return _Softmax.apply(x, dim=_dim("dim", dim, x.ndim))
