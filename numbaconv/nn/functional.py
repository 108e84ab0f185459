"""Autograd-aware neural-network operations (``torch.nn.functional`` equivalents).

Each accepts Tensors (or plain NumPy arrays, treated as constants) and returns a
Tensor. Convolution, pooling and batch norm call :mod:`numbaconv.ops` (conv, pool, norm), which
validates its arguments and runs the Numba kernels (CPU or CUDA, following the arrays); this
module only wires those array functions into the graph; so does the linear layer, over the
array namespace (:mod:`numbaconv._backend.xp`). The activations (``numbaconv.nn.activations``)
and the losses (``numbaconv.nn.losses``, over :func:`numbaconv.ops.nll_loss`) live in their
own modules and are re-exported here.
"""

from __future__ import annotations

import numpy as np

from .._backend import xp as _xp
from .._backend.xp import matmul_t, namespace
from ..autograd import Tensor, is_grad_enabled
from ..autograd.function import Function
from ..ops import conv as conv_ops
from ..ops import max_pool_codes
from ..ops import norm as norm_ops
from ..ops import pool as pool_ops
from ._args import _tensor
from .activations import log_softmax, relu, softmax
from .losses import cross_entropy, mse_loss, nll_loss

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "cross_entropy",
    "flatten",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "relu",
    "softmax",
]


# ---------------------------------------------------------------- linear
class _Linear(Function):
    def forward(self, x, weight, bias):
        x, weight = _xp.asarray(x), _xp.asarray(weight)
        xp = namespace(x, weight, bias)
        self.save_for_backward(x, weight)
        self.has_bias = bias is not None
        if xp is np:
            out = np.matmul(x, weight.T)
        else:
            # Rows of x times weight read transposed in place: no copy of either.
            x_shape = tuple(x.shape)
            rows = xp.reshape(x, (-1, x_shape[-1]))
            out = xp.reshape(
                matmul_t(rows, weight, transpose_b=True), (*x_shape[:-1], weight.shape[0])
            )
        return xp.add(out, bias) if bias is not None else out

    def backward(self, grad):
        x, weight = self.saved_tensors
        xp = namespace(grad)
        out_features, in_features = weight.shape
        rows = xp.reshape(grad, (-1, out_features))
        grad_x = None
        if self.needs_input_grad[0]:
            if xp is np:
                grad_x = np.matmul(grad, weight)
            else:
                grad_x = xp.reshape(matmul_t(rows, weight), x.shape)
        grad_w = None
        if self.needs_input_grad[1]:
            grad_w = matmul_t(rows, xp.reshape(x, (-1, in_features)), transpose_a=True)
        grad_b = None
        if self.has_bias and self.needs_input_grad[2]:
            grad_b = xp.sum(rows, axis=0)
        return grad_x, grad_w, grad_b


def linear(input, weight, bias=None) -> Tensor:
    """``input @ weight.T + bias``.

    Parameters
    ----------
    input : Tensor, shape (..., in_features)
    weight : Tensor, shape (out_features, in_features)
    bias : Tensor, shape (out_features,), optional

    Returns
    -------
    Tensor, shape (..., out_features)
    """
    x = _tensor("input", input)
    w = _tensor("weight", weight)
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"input has shape {x.shape}; its last axis must be in_features={w.shape[1]} "
            f"(weight shape {w.shape})"
        )
    b = None
    if bias is not None:
        b = _tensor("bias", bias)
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias has shape {b.shape}; expected ({w.shape[0]},)")
    return _Linear.apply(x, w, b)


# ---------------------------------------------------------------- convolution
class _Conv2d(Function):
    def forward(self, x, weight, bias, *, stride, padding, dilation, groups):
        self.options = {
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
        }
        self.save_for_backward(x, weight)
        self.has_bias = bias is not None
        return conv_ops.conv2d(x, weight, bias, **self.options)

    def backward(self, grad):
        ops = conv_ops
        x, weight = self.saved_tensors
        need_x, need_w, need_b = self.needs_input_grad
        grad_x = (
            ops.conv2d_grad_input(np.shape(x), weight, grad, **self.options) if need_x else None
        )
        grad_w = (
            ops.conv2d_grad_weight(x, np.shape(weight), grad, **self.options) if need_w else None
        )
        grad_b = ops.conv2d_grad_bias(grad) if self.has_bias and need_b else None
        return grad_x, grad_w, grad_b


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch) with gradients for all three inputs.

    Parameters
    ----------
    input : Tensor, shape (N, C, H, W)
    weight : Tensor, shape (O, C/groups, kH, kW)
    bias : Tensor, shape (O,), optional
    stride, padding, dilation, groups
        As :func:`numbaconv.ops.conv2d` (padding may be an int, a pair, "valid" or "same").

    Returns
    -------
    Tensor, shape (N, O, OH, OW)
    """
    x = _tensor("input", input)
    w = _tensor("weight", weight)
    b = None if bias is None else _tensor("bias", bias)
    return _Conv2d.apply(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


# ---------------------------------------------------------------- pooling
class _MaxPool2d(Function):
    """Disjoint 2x2 windows keep a uint8 code per output (where its maximum was) and the
    backward writes the gradient from those codes in one pass; other windows keep ``x`` and
    the backward recomputes the maxima from it (:mod:`numbaconv.ops.max_pool_codes`)."""

    def forward(self, x, **options):
        self.options = options
        if not (is_grad_enabled() and self.needs_input_grad[0]):  # inference: keep nothing
            return pool_ops.max_pool2d(x, **options)
        out, codes = max_pool_codes.max_pool2d_with_codes(x, **options)
        if codes is None:
            self.save_for_backward(x)
        else:
            self.save_for_backward(codes)
            self.in_shape = tuple(np.shape(x))
        self.from_codes = codes is not None
        return out

    def backward(self, grad):
        (saved,) = self.saved_tensors
        if self.from_codes:
            return max_pool_codes.max_pool2d_grad_codes(grad, saved, self.in_shape)
        return pool_ops.max_pool2d_grad(grad, saved, **self.options)


def max_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
):
    """2-D max pooling; the gradient goes to the first maximum of each window.

    Parameters
    ----------
    input : Tensor, shape (N, C, H, W)
    kernel_size, stride, padding, dilation, ceil_mode
        As :func:`numbaconv.ops.max_pool2d` (stride defaults to kernel_size).
    return_indices : bool, default False
        Also return the flat ``h * W + w`` index of each maximum (a NumPy int array).

    Returns
    -------
    Tensor, shape (N, C, OH, OW) [, indices]
    """
    x = _tensor("input", input)
    options = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }
    out = _MaxPool2d.apply(x, **options)
    if return_indices:
        _, indices = pool_ops.max_pool2d(x.data, return_indices=True, **options)
        return out, indices
    return out


class _AvgPool2d(Function):
    def forward(self, x, **options):
        self.options = options
        self.in_shape = np.shape(x)
        return pool_ops.avg_pool2d(x, **options)

    def backward(self, grad):
        return pool_ops.avg_pool2d_grad(grad, self.in_shape, **self.options)


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
) -> Tensor:
    """2-D average pooling (arguments as :func:`numbaconv.ops.avg_pool2d`).

    Returns
    -------
    Tensor, shape (N, C, OH, OW)
    """
    x = _tensor("input", input)
    return _AvgPool2d.apply(
        x,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
    )


class _AdaptiveAvgPool2d(Function):
    def forward(self, x, *, output_size):
        self.in_shape = np.shape(x)
        return pool_ops.adaptive_avg_pool2d(x, output_size)

    def backward(self, grad):
        return pool_ops.adaptive_avg_pool2d_grad(grad, self.in_shape)


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed ``output_size`` (int or pair), as PyTorch's windows.

    Returns
    -------
    Tensor, shape (N, C, output_size[0], output_size[1])
    """
    return _AdaptiveAvgPool2d.apply(_tensor("input", input), output_size=output_size)


# ---------------------------------------------------------------- batch norm
class _BatchNorm(Function):
    def forward(self, x, weight, bias, *, running_mean, running_var, training, momentum, eps):
        y, (mean, invstd) = norm_ops.batch_norm(
            x,
            running_mean,
            running_var,
            weight,
            bias,
            training=training,
            momentum=momentum,
            eps=eps,
            return_stats=True,
        )
        self.save_for_backward(x, mean, invstd, weight)
        self.training = training
        return y

    def backward(self, grad):
        x, mean, invstd, weight = self.saved_tensors
        grad_x, grad_w, grad_b = norm_ops.batch_norm_grad(
            grad, x, mean, invstd, weight, training=self.training
        )
        need_x, need_w, need_b = self.needs_input_grad
        return (grad_x if need_x else None, grad_w if need_w else None, grad_b if need_b else None)


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
) -> Tensor:
    """Batch normalisation over (N, H, W) per channel, as ``torch.nn.functional.batch_norm``.

    Parameters
    ----------
    input : Tensor, shape (N, C, H, W)
    running_mean, running_var : numpy.ndarray or CUDA device array of shape (C,), or None
        Updated in place in training (momentum, unbiased variance); used in eval.
        Same dtype as ``input``, on the same device.
    weight, bias : Tensor, shape (C,), optional
        Learnable scale and shift.
    training : bool, default False
        Normalise with this batch's statistics (gradients flow through them).
    momentum : float, default 0.1
    eps : float, default 1e-5

    Returns
    -------
    Tensor, shape (N, C, H, W)
    """
    x = _tensor("input", input)
    w = None if weight is None else _tensor("weight", weight)
    b = None if bias is None else _tensor("bias", bias)
    stats = [v.data if isinstance(v, Tensor) else v for v in (running_mean, running_var)]
    return _BatchNorm.apply(
        x,
        w,
        b,
        running_mean=stats[0],
        running_var=stats[1],
        training=training,
        momentum=momentum,
        eps=eps,
    )


# ---------------------------------------------------------------- shapes
def flatten(input, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim`` .. ``end_dim`` into one (default: keep the batch axis)."""
    return _tensor("input", input).flatten(start_dim, end_dim)
