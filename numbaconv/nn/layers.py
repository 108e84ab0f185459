"""Layers: Linear, Conv2d, BatchNorm2d, ReLU, pooling, Flatten and loss modules.

Parameters are float32 by default (``dtype=`` changes that) and initialised as
PyTorch does, from the package's seedable generator or from ``rng``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validate import int_pair, integer
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


class Linear(Module):
    """``y = x @ weight.T + bias``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    rng : numpy.random.Generator, optional
        Draw the initial values from this generator instead of the package default.
    dtype : float32 (default) or float64

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features)
    bias : Parameter, shape (out_features,), or None
        Both ~ U(−1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = integer("in_features", in_features, minimum=1)
        self.out_features = integer("out_features", out_features, minimum=1)
        dtype = _float_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype))
        else:
            self.register_parameter("bias", None)
        init.default_layer_init_(self.weight, self.bias, rng=rng)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Conv2d(Module):
    """2-D convolution layer (cross-correlation, NCHW, OIHW weights), as ``torch.nn.Conv2d``.

    Takes a batch (N, C, H, W) or one image (C, H, W), which gives an unbatched (O, OH, OW)
    output. Pairs may be an int, a one-element tuple (both axes) or a pair.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, dilation : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
    groups : int, default 1
        Must divide both channel counts.
    bias : bool, default True
    rng : numpy.random.Generator, optional
    dtype : float32 (default) or float64

    Attributes
    ----------
    weight : Parameter, shape (out_channels, in_channels/groups, kH, kW)
    bias : Parameter, shape (out_channels,), or None
        Both ~ U(−1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups·kH·kW.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        self.in_channels = integer("in_channels", in_channels, minimum=1)
        self.out_channels = integer("out_channels", out_channels, minimum=1)
        self.kernel_size = int_pair("kernel_size", kernel_size, minimum=1)
        self.stride = int_pair("stride", stride, minimum=1)
        self.dilation = int_pair("dilation", dilation, minimum=1)
        self.groups = integer("groups", groups, minimum=1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}"
                )
            self.padding = padding
        else:
            self.padding = int_pair("padding", padding, minimum=0)
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % self.groups:
                raise ValueError(f"{name}={channels} must be divisible by groups={self.groups}")
        dtype = _float_dtype(dtype)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        init.default_layer_init_(self.weight, self.bias, rng=rng)

    def forward(self, x):
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        # PyTorch's format: only non-default settings after the stride.
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if isinstance(self.padding, str):
            text += f", padding={self.padding}"
        elif self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) for each of ``num_features`` channels.

    Training normalises with the batch mean and biased variance and updates the
    running statistics (``running = (1−momentum)·running + momentum·batch``, with the
    unbiased variance); evaluation uses the running statistics.

    Parameters
    ----------
    num_features : int
        C of the (N, C, H, W) input.
    eps : float, default 1e-5
    momentum : float or None, default 0.1
        None: a cumulative average (momentum = 1/num_batches_tracked).
    affine : bool, default True
        Learnable ``weight`` (init 1) and ``bias`` (init 0).
    track_running_stats : bool, default True
        Keep ``running_mean`` (init 0), ``running_var`` (init 1) and
        ``num_batches_tracked`` buffers; without them batch statistics are used
        in eval mode too.
    dtype : float32 (default) or float64
    """

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        dtype=np.float32,
    ):
        super().__init__()
        self.num_features = integer("num_features", num_features, minimum=1)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        if momentum is not None and (
            isinstance(momentum, bool)
            or not isinstance(momentum, numbers.Real)
            or not 0 <= momentum <= 1
        ):
            raise ValueError(f"momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = _float_dtype(dtype)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        use_batch_stats = self.training or self.running_mean is None
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked[...] += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        # Without running statistics (track_running_stats=False) batch statistics are
        # used in eval mode too; with them, ops.batch_norm updates them only in training.
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=use_batch_stats,
            momentum=momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class ReLU(Module):
    """max(x, 0) elementwise."""

    def forward(self, x):
        return F.relu(x)


class Flatten(Module):
    """Merge axes ``start_dim`` .. ``end_dim``; the default keeps the batch axis: (N, -1)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = integer("start_dim", start_dim)
        self.end_dim = integer("end_dim", end_dim)

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class MaxPool2d(Module):
    """2-D max pooling over (N, C, H, W) or unbatched (C, H, W) inputs.

    ``stride`` defaults to ``kernel_size`` (``None`` or ``()``); arguments as
    :func:`numbaconv.ops.max_pool2d`.
    """

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x):
        return F.max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """2-D average pooling over (N, C, H, W) or unbatched (C, H, W) inputs.

    ``stride`` defaults to ``kernel_size`` (``None`` or ``()``); arguments as
    :func:`numbaconv.ops.avg_pool2d`.
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return F.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling of (N, C, H, W) or unbatched (C, H, W) inputs to a fixed
    ``output_size``: an int or a pair whose ``None`` entries keep the input's size."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class CrossEntropyLoss(Module):
    """Module form of :func:`functional.cross_entropy`: ``loss(logits, target)``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction)


class MSELoss(Module):
    """Module form of :func:`functional.mse_loss`: ``loss(input, target)``."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
