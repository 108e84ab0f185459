"""Pooling over NCHW arrays, with PyTorch's (``torch.nn.functional``) semantics.

Each function validates its arguments, makes the arrays C-contiguous in one
float dtype, allocates the result and calls a launcher from the backend's ``pool``
kernel module (:mod:`numbaconv.kernels.cpu.pool` or :mod:`numbaconv.kernels.cuda.pool`).

Like PyTorch's, every function takes a batch (N, C, H, W) or a single image (C, H, W); an
image is run as a batch of one (a reshape, the same kernels) and its results come back
without the batch axis: (C, OH, OW) outputs and indices, (C, H, W) gradients. Pairs (kernel
size, stride, padding, dilation) may be an int, a one-element tuple (both axes) or a pair; an
empty ``stride`` tuple means the default, ``kernel_size``.

Every function accepts NumPy arrays (CPU kernels, NumPy results) or CUDA device arrays
(numba's, or anything with ``__cuda_array_interface__``; CUDA kernels, numba device-array
results, no copy to the host), with the same validation and messages. Device arrays must be
float32 or float64; mixing host and device arrays in one call is a TypeError. Results
(``out``, ``indices``, ``grad_input``) live on the inputs' device.
"""

from __future__ import annotations

import numpy as np

from .. import _backend
from .. import _validate as v


def _input(name: str, value, backend):
    """``(batch, unbatched)``: ``value`` as a 4-D array; a (C, H, W) image is a batch of one."""
    return v.image_batch(name, v.as_array(name, value), backend)


def _grad_output(grad_output, expected4, unbatched: bool, backend):
    """``grad_output`` checked against the forward output shape (without the batch axis when
    the forward input was unbatched) and returned 4-D."""
    grad_output = v.as_array("grad_output", grad_output)
    expected = expected4[1:] if unbatched else expected4
    v.check_shape("grad_output", grad_output, expected, "(the forward output shape)")
    if unbatched:
        grad_output = backend.contiguous(grad_output, grad_output.dtype)
        grad_output = grad_output.reshape(tuple(expected4))
    return grad_output


def _window_params(kernel_size, stride, padding, dilation):
    kernel = v.int_pair("kernel_size", kernel_size, minimum=1)
    strides = v.pool_stride(stride, kernel)
    pads = v.int_pair("padding", padding, minimum=0)
    dilations = v.int_pair("dilation", dilation, minimum=1)
    return kernel, strides, pads, dilations


def _check_padding(padding, pads, limits, why: str) -> None:
    if pads[0] > limits[0] or pads[1] > limits[1]:
        raise ValueError(
            f"padding={padding!r} is too large: expected at most {limits} per axis ({why})"
        )


def _output_hw(spatial, kernel, strides, pads, dilations, ceil_mode, what: str):
    out = tuple(
        v.pool_output_size(spatial[i], kernel[i], strides[i], pads[i], dilations[i], ceil_mode)
        for i in range(2)
    )
    if out[0] <= 0 or out[1] <= 0:
        raise ValueError(
            f"{what} has spatial size (H, W)={tuple(spatial)}, too small for kernel_size="
            f"{kernel}, stride={strides}, padding={pads}, dilation={dilations}, ceil_mode="
            f"{ceil_mode}: the output would be {out}; expected positive output sizes"
        )
    return out


def _max_setup(x_shape, kernel_size, stride, padding, dilation, ceil_mode, what):
    kernel, strides, pads, dilations = _window_params(kernel_size, stride, padding, dilation)
    ceil_mode = v.boolean("ceil_mode", ceil_mode)
    limits = tuple(((k - 1) * d + 1) // 2 for k, d in zip(kernel, dilations, strict=True))
    _check_padding(
        padding,
        pads,
        limits,
        f"half the effective window (kernel_size-1)*dilation+1 for kernel_size={kernel}, "
        f"dilation={dilations}",
    )
    out_hw = _output_hw(x_shape[2:], kernel, strides, pads, dilations, ceil_mode, what)
    return kernel, strides, pads, dilations, out_hw


def _avg_setup(
    x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, what
):
    kernel, strides, pads, dilations = _window_params(kernel_size, stride, padding, 1)
    ceil_mode = v.boolean("ceil_mode", ceil_mode)
    count_include_pad = v.boolean("count_include_pad", count_include_pad)
    if divisor_override is None:
        divisor = 0  # the launchers read 0 as "no override"
    else:
        divisor = v.integer("divisor_override", divisor_override)
        if divisor == 0:
            raise ValueError("divisor_override must be a non-zero int or None, got 0")
    _check_padding(padding, pads, (kernel[0] // 2, kernel[1] // 2), f"half of kernel_size={kernel}")
    out_hw = _output_hw(x_shape[2:], kernel, strides, pads, dilations, ceil_mode, what)
    return kernel, strides, pads, out_hw, count_include_pad, divisor


def max_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=False,
):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        float32 or float64; integer and bool host arrays are cast to float64 (device arrays
        must be float32 or float64).
    kernel_size : int or (int, int)
        Window size (kh, kw), positive.
    stride : int or (int, int), optional
        Step between windows; ``None`` (default) or ``()`` means ``kernel_size``.
    padding : int or (int, int), default 0
        Implicit padding on both sides of each axis. It acts as ``-inf`` and is never
        selected; at most ``((kernel_size - 1) * dilation + 1) // 2``.
    dilation : int or (int, int), default 1
        Spacing between window elements.
    ceil_mode : bool, default False
        Round the output size up; a last window starting in the right padding is dropped.
    return_indices : bool, default False
        Also return the position of each maximum.

    Returns
    -------
    out : ndarray or numba device array, shape (N, C, OH, OW) or (C, OH, OW)
        dtype of ``x`` (float32 or float64).
        ``OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1`` (rounded up with ``ceil_mode``).
    indices : ndarray or numba device array of int64, shape of ``out``
        Only with ``return_indices``: flat ``h * W + w`` position of the maximum in its
        input plane. Ties go to the first maximum in row-major window order; a window
        holding a NaN gives NaN and the position of its first NaN. A window that covers
        no input element (possible only with large dilation) gives ``-inf`` and ``-1``.

    Raises
    ------
    ValueError, TypeError
        Bad shapes, sizes or argument types; the message names the argument.
    """
    backend = _backend.select("max_pool2d", x=x)
    x, unbatched = _input("x", x, backend)
    kernel, strides, pads, dilations, (out_h, out_w) = _max_setup(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode, "x"
    )
    return_indices = v.boolean("return_indices", return_indices)
    x = backend.contiguous(x, x.dtype)
    n, c = x.shape[:2]
    out = backend.empty((n, c, out_h, out_w), x.dtype)
    # Without return_indices the kernels write no indices (None): less memory traffic.
    indices = backend.empty((n, c, out_h, out_w), np.int64) if return_indices else None
    if out.size:
        backend.kernels.pool.max_pool2d_forward(
            x, out, indices, *kernel, *strides, *pads, *dilations
        )
    out = v.unbatch(out, unbatched)
    return (out, v.unbatch(indices, unbatched)) if return_indices else out


def max_pool2d_grad(
    grad_output,
    x,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, C, OH, OW) or (C, OH, OW)
        Gradient of the loss with respect to ``max_pool2d(x, ...)``; its shape must be
        exactly the forward output's.
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        The forward input. The position of each window's maximum is recomputed from it
        (first maximum in row-major window order, first NaN if any).
    kernel_size, stride, padding, dilation, ceil_mode
        As in :func:`max_pool2d`.

    Returns
    -------
    grad_input : ndarray or numba device array, shape of ``x``
        float64 if either input is float64 (integers count as float64), else float32.
        Each ``grad_output`` element is added at its window's maximum; overlapping
        windows accumulate.

    Raises
    ------
    ValueError, TypeError
        Bad shapes, sizes or argument types; the message names the argument.
    """
    backend = _backend.select("max_pool2d_grad", grad_output=grad_output, x=x)
    x, unbatched = _input("x", x, backend)
    kernel, strides, pads, dilations, out_hw = _max_setup(
        x.shape, kernel_size, stride, padding, dilation, ceil_mode, "x"
    )
    grad_output = _grad_output(grad_output, tuple(x.shape[:2]) + out_hw, unbatched, backend)
    dtype = v.result_dtype(grad_output, x)
    grad_output = backend.contiguous(grad_output, dtype)
    x = backend.contiguous(x, dtype)
    grad_input = backend.empty(x.shape, dtype)
    if grad_input.size:
        backend.kernels.pool.max_pool2d_backward(
            grad_output, x, grad_input, *kernel, *strides, *pads, *dilations
        )
    return v.unbatch(grad_input, unbatched)


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        float32 or float64; integer and bool host arrays are cast to float64 (device arrays
        must be float32 or float64).
    kernel_size : int or (int, int)
        Window size (kh, kw), positive.
    stride : int or (int, int), optional
        Step between windows; ``None`` (default) or ``()`` means ``kernel_size``.
    padding : int or (int, int), default 0
        Zero padding on both sides of each axis, at most ``kernel_size // 2``.
    ceil_mode : bool, default False
        Round the output size up; a last window starting in the right padding is dropped.
    count_include_pad : bool, default True
        Divide by the number of window cells inside the padded extent ``[-p, H + p)``
        (True) or inside the input only (False). Cells a ``ceil_mode`` window reaches
        beyond the padded extent never count.
    divisor_override : int, optional
        Non-zero divisor used for every window instead of the count.

    Returns
    -------
    out : ndarray or numba device array, shape (N, C, OH, OW) or (C, OH, OW)
        dtype of ``x`` (float32 or float64).
        ``OH = (H + 2*ph - kh) // sh + 1`` (rounded up with ``ceil_mode``). Sums are
        accumulated in float64.

    Raises
    ------
    ValueError, TypeError
        Bad shapes, sizes or argument types; the message names the argument.
    """
    backend = _backend.select("avg_pool2d", x=x)
    x, unbatched = _input("x", x, backend)
    kernel, strides, pads, (out_h, out_w), include_pad, divisor = _avg_setup(
        x.shape,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        "x",
    )
    x = backend.contiguous(x, x.dtype)
    out = backend.empty((*x.shape[:2], out_h, out_w), x.dtype)
    if out.size:
        backend.kernels.pool.avg_pool2d_forward(
            x, out, *kernel, *strides, *pads, include_pad, divisor
        )
    return v.unbatch(out, unbatched)


def avg_pool2d_grad(
    grad_output,
    input_shape,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, C, OH, OW) or (C, OH, OW)
        Gradient of the loss with respect to the forward output; its shape must be
        exactly the forward output's for ``input_shape``.
    input_shape : tuple of 4 or 3 non-negative ints
        Shape (N, C, H, W) or (C, H, W) of the forward input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As in :func:`avg_pool2d`.

    Returns
    -------
    grad_input : ndarray or numba device array, shape ``input_shape``, dtype of ``grad_output``
        (float32 or float64; integers are cast to float64).

    Raises
    ------
    ValueError, TypeError
        Bad shapes, sizes or argument types; the message names the argument.
    """
    backend = _backend.select("avg_pool2d_grad", grad_output=grad_output)
    shape, unbatched = v.image_shape("input_shape", input_shape)
    kernel, strides, pads, out_hw, include_pad, divisor = _avg_setup(
        shape,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        "input_shape",
    )
    grad_output = _grad_output(grad_output, shape[:2] + out_hw, unbatched, backend)
    grad_output = backend.contiguous(grad_output, grad_output.dtype)
    grad_input = backend.empty(shape, grad_output.dtype)
    if grad_input.size:
        backend.kernels.pool.avg_pool2d_backward(
            grad_output, grad_input, *kernel, *strides, *pads, include_pad, divisor
        )
    return v.unbatch(grad_input, unbatched)


def _adaptive_output_size(output_size, spatial) -> tuple[int, int]:
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(
                f"output_size must be an int or a pair of ints or None, got {output_size!r}"
            )
        sizes = []
        for item, size in zip(output_size, spatial, strict=True):
            if item is None:
                sizes.append(size)
            else:
                try:
                    sizes.append(v.integer("output_size", item, minimum=1))
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"{exc} (in output_size={output_size!r})") from None
        return tuple(sizes)
    return (v.integer("output_size", output_size, minimum=1),) * 2


def _check_adaptive_input(name: str, shape) -> None:
    if shape[2] <= 0 or shape[3] <= 0:
        raise ValueError(
            f"{name} has spatial size (H, W)={tuple(shape[2:])}; adaptive pooling expects "
            "H > 0 and W > 0"
        )


def adaptive_avg_pool2d(x, output_size):
    """Adaptive 2-D average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell ``(i, j)`` averages input rows ``floor(i*H/OH) .. ceil((i+1)*H/OH) - 1``
    and the columns given by the same rule. Sums are float64; with ``OW == 1`` (whole rows, a
    global average above all) they add float64 partial sums of at most 1024 elements taken in
    the input's dtype (float32 error bounded as PyTorch's, which sums whole planes in float32).

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        float32 or float64 with H, W > 0; integer and bool arrays are cast to float64.
    output_size : int or (int or None, int or None)
        (OH, OW), positive; a ``None`` entry keeps that input size.

    Returns
    -------
    out : ndarray or numba device array, shape (N, C, OH, OW) or (C, OH, OW)
        dtype of ``x`` (float32 or float64).

    Raises
    ------
    ValueError, TypeError
        Bad shapes, sizes or argument types; the message names the argument.
    """
    backend = _backend.select("adaptive_avg_pool2d", x=x)
    x, unbatched = _input("x", x, backend)
    _check_adaptive_input("x", x.shape)
    out_hw = _adaptive_output_size(output_size, x.shape[2:])
    x = backend.contiguous(x, x.dtype)
    out = backend.empty(tuple(x.shape[:2]) + out_hw, x.dtype)
    if out.size:
        backend.kernels.pool.adaptive_avg_pool2d_forward(x, out)
    return v.unbatch(out, unbatched)


def adaptive_avg_pool2d_grad(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, C, OH, OW) or (C, OH, OW)
        Gradient of the loss with respect to the forward output, OH, OW > 0; the output
        size is read from this shape.
    input_shape : tuple of 4 or 3 non-negative ints
        Shape (N, C, H, W) or (C, H, W) of the forward input, H, W > 0.

    Returns
    -------
    grad_input : ndarray or numba device array, shape ``input_shape``, dtype of ``grad_output``
        (float32 or float64; integers are cast to float64).

    Raises
    ------
    ValueError, TypeError
        Bad shapes, sizes or argument types; the message names the argument.
    """
    backend = _backend.select("adaptive_avg_pool2d_grad", grad_output=grad_output)
    shape, unbatched = v.image_shape("input_shape", input_shape)
    _check_adaptive_input("input_shape", shape)
    grad_output = v.as_array("grad_output", grad_output)
    lead = shape[1:2] if unbatched else shape[:2]
    if (
        grad_output.ndim != len(lead) + 2
        or tuple(grad_output.shape[: len(lead)]) != lead
        or min(grad_output.shape[len(lead) :]) <= 0
    ):
        layout, lead_names = ("(C, OH, OW)", "C") if unbatched else ("(N, C, OH, OW)", "(N, C)")
        raise ValueError(
            f"grad_output has shape {tuple(grad_output.shape)}; expected {layout} with "
            f"{lead_names}={lead if len(lead) > 1 else lead[0]} as in "
            f"input_shape={tuple(input_shape)} and positive (OH, OW)"
        )
    grad_output, _ = v.image_batch("grad_output", grad_output, backend)
    grad_output = backend.contiguous(grad_output, grad_output.dtype)
    grad_input = backend.empty(shape, grad_output.dtype)
    if grad_input.size:
        backend.kernels.pool.adaptive_avg_pool2d_backward(grad_output, grad_input)
    return v.unbatch(grad_input, unbatched)
