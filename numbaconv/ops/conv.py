"""Batched, multi-channel 2-D convolution and its gradients, with PyTorch's semantics.

"Convolution" here is cross-correlation (no kernel flip), as in ``torch.nn.functional.conv2d``
and the book. The gradient functions take their arguments in the order of
``torch.nn.grad.conv2d_input`` and ``torch.nn.grad.conv2d_weight``.

Every function accepts NumPy arrays (run by the CPU kernels, NumPy results) or CUDA device
arrays (numba's, or anything with ``__cuda_array_interface__``; run by the CUDA kernels, numba
device-array results, no copy to the host), with the same validation and messages. Mixing the
two kinds in one call is a TypeError.

Like PyTorch's, the input may be a batch (N, C, H, W) or a single image (C, H, W), run as a
batch of one (a reshape, the same kernels); the results then have no batch axis either.
``stride``, ``padding`` and ``dilation`` may be an int, a one-element tuple (both axes) or a pair.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .. import _backend
from .. import _validate as v

__all__ = ["conv2d", "conv2d_grad_bias", "conv2d_grad_input", "conv2d_grad_weight"]


@dataclass(frozen=True)
class _Geometry:
    """Validated hyper-parameters of one convolution and the shapes they imply."""

    input_shape: tuple[int, int, int, int]
    weight_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]  # top, left; bottom/right follow from output_shape
    dilation: tuple[int, int]
    groups: int


def _shape4(name: str, shape) -> tuple[int, int, int, int]:
    if not isinstance(shape, (tuple, list)) or len(shape) != 4:
        raise ValueError(f"{name} must be a tuple of 4 ints (O, C/groups, KH, KW), got {shape!r}")
    return tuple(v.integer(name, s, minimum=0) for s in shape)


def _padding(padding, kernel, stride, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """(top, left) and (total_h, total_w) padding from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        mode = v.choice("padding", padding, ("valid", "same"))
        if mode == "valid":
            return (0, 0), (0, 0)
        if stride != (1, 1):
            raise ValueError(
                f"padding='same' is not supported for strided convolutions, got stride={stride}"
            )
        # PyTorch puts the odd pixel of an even kernel's padding on the bottom/right.
        total = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
        return (total[0] // 2, total[1] // 2), total
    pad = v.int_pair("padding", padding, minimum=0)
    return pad, (2 * pad[0], 2 * pad[1])


def _plain(value) -> bool:
    """Whether ``value`` is an int, a str or a tuple of ints: hashable, and validated from its
    value alone (bools, NumPy scalars and lists take the uncached path)."""
    kind = type(value)
    return kind is int or kind is str or (kind is tuple and all(type(i) is int for i in value))


def _geometry(input_shape, weight_shape, stride, padding, dilation, groups) -> _Geometry:
    """Validated geometry of one call; memoised for plain arguments. The chapter's layers are
    0.1-0.7 ms calls, of which validating the same few hyper-parameters again took ~20 us.
    Failures are never cached: a bad call raises from :func:`_checked_geometry` every time."""
    args = (input_shape, weight_shape, stride, padding, dilation, groups)
    if all(_plain(a) for a in args):
        return _cached_geometry(*args)
    return _checked_geometry(*args)


def _checked_geometry(input_shape, weight_shape, stride, padding, dilation, groups) -> _Geometry:
    n, c, h, w = input_shape
    o, c_per_group, kh, kw = weight_shape
    groups = v.integer("groups", groups, minimum=1)
    stride = v.int_pair("stride", stride, minimum=1)
    dilation = v.int_pair("dilation", dilation, minimum=1)
    if c < 1 or h < 1 or w < 1:
        raise ValueError(
            f"input must have at least one channel, row and column, got shape {input_shape}"
        )
    if o < 1 or kh < 1 or kw < 1:
        raise ValueError(
            "weight must have at least one output channel and a kernel of at least 1x1, "
            f"got shape {weight_shape}"
        )
    if c % groups:
        raise ValueError(
            f"input channels ({c}) must be divisible by groups ({groups}), "
            f"input shape {input_shape}"
        )
    if o % groups:
        raise ValueError(
            f"weight's out channels ({o}) must be divisible by groups ({groups}), "
            f"weight shape {weight_shape}"
        )
    if c_per_group != c // groups:
        raise ValueError(
            f"weight has shape {weight_shape}, so it expects {c_per_group * groups} input channels "
            f"with groups={groups}; the input has {c} channels (shape {input_shape})"
        )
    top_left, total = _padding(padding, (kh, kw), stride, dilation)
    out_hw = []
    for axis, size, k, s, d, p_total in zip(
        ("height", "width"), (h, w), (kh, kw), stride, dilation, total
    ):
        span = size + p_total - d * (k - 1) - 1
        if span < 0:
            raise ValueError(
                f"kernel {axis} {k} with dilation {d} spans {d * (k - 1) + 1} pixels, more than "
                f"the padded input {axis} {size + p_total} (input shape {input_shape}, "
                f"padding={padding!r}); the output would be empty"
            )
        out_hw.append(span // s + 1)
    return _Geometry(
        input_shape=tuple(input_shape),
        weight_shape=tuple(weight_shape),
        output_shape=(n, o, out_hw[0], out_hw[1]),
        stride=stride,
        padding=top_left,
        dilation=dilation,
        groups=groups,
    )


_cached_geometry = functools.lru_cache(maxsize=256)(_checked_geometry)


def _host_backend(op: str, **arrays):
    """The backend for a call, as :func:`_backend.select`, with NumPy arrays (the common
    case) recognised without the device checks."""
    if all(value is None or type(value) is np.ndarray for value in arrays.values()):
        return _backend.CPU
    return _backend.select(op, **arrays)


def _result_dtype(*arrays):
    """:func:`_validate.result_dtype`, short-cut when every array has one kernel dtype."""
    dtype = arrays[0].dtype
    if dtype in v.KERNEL_DTYPES and all(arr.dtype == dtype for arr in arrays):
        return dtype
    return v.result_dtype(*arrays)


def _array4(name: str, value, layout: str):
    arr = v.as_array(name, value)
    v.check_ndim(name, arr, 4, layout)
    return arr


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of a batch, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        Input batch, or one unbatched image.
    weight : array_like or CUDA device array, shape (O, C // groups, KH, KW)
        Filters.
    bias : array_like or CUDA device array, shape (O,), optional
        Added to every position of each output channel.
    stride, dilation : int or (int, int), default 1
        Step between applications of the kernel and spacing between kernel taps; >= 1.
    padding : int, (int, int), 'valid' or 'same', default 0
        Implicit zero padding on both sides of each axis. 'same' (stride 1 only) keeps H and W;
        for an even kernel the extra pixel goes to the bottom/right, as in PyTorch.
    groups : int, default 1
        Input and output channels are split into ``groups`` independent blocks.

    Returns
    -------
    numpy.ndarray or numba device array, shape (N, O, OH, OW), or (O, OH, OW) for a 3-D ``x``
        On the inputs' device. ``OH = (H + 2*pad - dilation*(KH - 1) - 1) // stride + 1``
        (likewise OW). float32 when every input is float32, else float64; integer and bool
        host inputs are cast to float64 (device inputs must be float32 or float64).

    Raises
    ------
    TypeError
        An argument of unsupported type or dtype (complex, object, float16, strings), or host
        and device arrays mixed in one call.
    RuntimeError
        Device arrays given but CUDA is not usable (the message says what is missing).
    ValueError
        Wrong number of dimensions, channel/group mismatch, non-positive stride or dilation,
        negative padding, or a kernel larger than the padded input.

    Examples
    --------
    >>> import numpy as np, numbaconv
    >>> x = np.ones((1, 1, 4, 4), np.float32)
    >>> numbaconv.ops.conv2d(x, np.ones((1, 1, 3, 3), np.float32)).tolist()
    [[[[9.0, 9.0], [9.0, 9.0]]]]
    """
    backend = _host_backend("conv2d", x=x, weight=weight, bias=bias)
    x, unbatched = v.image_batch("x", v.as_array("x", x), backend)
    weight = _array4("weight", weight, "(O, C/groups, KH, KW)")
    arrays = [x, weight]
    if bias is not None:
        bias = v.as_array("bias", bias)
        v.check_ndim("bias", bias, 1, "(O,)")
        v.check_shape("bias", bias, (weight.shape[0],), "(one value per output channel)")
        arrays.append(bias)
    geo = _geometry(x.shape, weight.shape, stride, padding, dilation, groups)
    dtype = _result_dtype(*arrays)
    out = backend.empty(geo.output_shape, dtype)
    if out.size == 0:
        return v.unbatch(out, unbatched)
    if bias is None:
        bias = backend.zeros(weight.shape[0], dtype)
    else:
        bias = backend.contiguous(bias, dtype)
    backend.kernels.conv.conv2d_forward(
        backend.contiguous(x, dtype),
        backend.contiguous(weight, dtype),
        bias,
        out,
        geo.stride,
        geo.padding,
        geo.dilation,
        geo.groups,
    )
    return v.unbatch(out, unbatched)


def _check_grad_output(grad_output, geo: _Geometry, unbatched: bool, backend):
    """``grad_output`` checked against the forward output shape (without the batch axis for an
    unbatched forward input) and returned 4-D."""
    grad_output = v.as_array("grad_output", grad_output)
    expected = geo.output_shape[1:] if unbatched else geo.output_shape
    input_shape = geo.input_shape[1:] if unbatched else geo.input_shape
    v.check_shape(
        "grad_output",
        grad_output,
        expected,
        f"(the conv2d output for input shape {input_shape} and weight shape "
        f"{geo.weight_shape} with these stride/padding/dilation/groups)",
    )
    grad_output, _ = v.image_batch("grad_output", grad_output, backend)
    return grad_output


def conv2d_grad_input(input_shape, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of :func:`conv2d` with respect to its input, as ``torch.nn.grad.conv2d_input``.

    Parameters
    ----------
    input_shape : tuple of 4 or 3 ints
        Shape (N, C, H, W) of the forward input, or (C, H, W) for an unbatched one. Needed
        because a stride can leave the last rows or columns of the input unused, so the output
        alone does not determine it.
    weight : array_like or CUDA device array, shape (O, C // groups, KH, KW)
        The forward's filters.
    grad_output : array_like or CUDA device array, shape (N, O, OH, OW) or (O, OH, OW)
        Gradient of the loss with respect to the forward's output.
    stride, padding, dilation, groups
        As given to :func:`conv2d`.

    Returns
    -------
    numpy.ndarray or numba device array, shape ``input_shape``
        On the inputs' device; float32 when weight and grad_output are float32, else float64.
        Unused input pixels get 0.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d`, and when grad_output's shape is not the forward's output shape.
    """
    backend = _host_backend("conv2d_grad_input", weight=weight, grad_output=grad_output)
    input_shape, unbatched = v.image_shape("input_shape", input_shape)
    weight = _array4("weight", weight, "(O, C/groups, KH, KW)")
    geo = _geometry(input_shape, weight.shape, stride, padding, dilation, groups)
    grad_output = _check_grad_output(grad_output, geo, unbatched, backend)
    dtype = _result_dtype(weight, grad_output)
    grad_input = backend.empty(input_shape, dtype)
    if grad_input.size == 0:
        return v.unbatch(grad_input, unbatched)
    backend.kernels.conv.conv2d_grad_input(
        backend.contiguous(grad_output, dtype),
        backend.contiguous(weight, dtype),
        grad_input,
        geo.stride,
        geo.padding,
        geo.dilation,
        geo.groups,
    )
    return v.unbatch(grad_input, unbatched)


def conv2d_grad_weight(x, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of :func:`conv2d` with respect to its weight, as ``torch.nn.grad.conv2d_weight``.

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        The forward's input.
    weight_shape : tuple of 4 ints
        Shape (O, C // groups, KH, KW) of the forward's weight.
    grad_output : array_like or CUDA device array, shape (N, O, OH, OW) or (O, OH, OW)
        Gradient of the loss with respect to the forward's output.
    stride, padding, dilation, groups
        As given to :func:`conv2d`.

    Returns
    -------
    numpy.ndarray or numba device array, shape ``weight_shape``
        On the inputs' device; float32 when x and grad_output are float32, else float64.
        An empty batch gives zeros.

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d`, and when grad_output's shape is not the forward's output shape.
    """
    backend = _host_backend("conv2d_grad_weight", x=x, grad_output=grad_output)
    x, unbatched = v.image_batch("x", v.as_array("x", x), backend)
    weight_shape = _shape4("weight_shape", weight_shape)
    geo = _geometry(x.shape, weight_shape, stride, padding, dilation, groups)
    grad_output = _check_grad_output(grad_output, geo, unbatched, backend)
    dtype = _result_dtype(x, grad_output)
    grad_weight = backend.empty(weight_shape, dtype)
    backend.kernels.conv.conv2d_grad_weight(
        backend.contiguous(x, dtype),
        backend.contiguous(grad_output, dtype),
        grad_weight,
        geo.stride,
        geo.padding,
        geo.dilation,
        geo.groups,
    )
    return grad_weight


def conv2d_grad_bias(grad_output):
    """Gradient of :func:`conv2d` with respect to its bias.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, O, OH, OW) or (O, OH, OW)
        Gradient of the loss with respect to the forward's output (unbatched for an unbatched
        forward input).

    Returns
    -------
    numpy.ndarray or numba device array, shape (O,)
        On grad_output's device; ``grad_output`` summed over N, OH and OW (in float64, rounded
        to grad_output's float dtype).
    """
    backend = _host_backend("conv2d_grad_bias", grad_output=grad_output)
    grad_output, _ = v.image_batch("grad_output", v.as_array("grad_output", grad_output), backend)
    dtype = _result_dtype(grad_output)
    grad_bias = backend.empty(grad_output.shape[1], dtype)
    backend.kernels.conv.conv2d_grad_bias(backend.contiguous(grad_output, dtype), grad_bias)
    return grad_bias
