"""Max pooling for training: a forward that keeps where each maximum was, and the gradient
from that record instead of from the input.

:func:`numbaconv.ops.max_pool2d_grad` recomputes every window's first maximum from ``x``, which
reads the whole input again. When the windows are the common disjoint 2x2 ones (kernel 2,
stride 2, no padding or dilation, no ``ceil_mode`` window past the edge), the forward here
also writes one uint8 *code* per output, the first maximum's position ``2 * row + column`` in
its window, and the backward turns codes and ``grad_output`` into ``grad_input`` in one
pass that writes each input element once (its window's gradient, or 0). The autograd Function
of :func:`numbaconv.nn.functional.max_pool2d` runs these two; other windows keep the
recomputing path. Same rule, same results: first maximum in row-major window order, the first
NaN when there is one, bit for bit.

Not re-exported from :mod:`numbaconv.ops`: the public, PyTorch-compatible pair stays
``max_pool2d`` / ``max_pool2d_grad``.
"""

from __future__ import annotations

import numpy as np

from .. import _backend
from .. import _validate as v
from .pool import _grad_output, _input, _max_setup, max_pool2d


def _disjoint_2x2(kernel, strides, pads, dilations, out_hw, spatial) -> bool:
    """Whether every window is 2x2, stride 2, unpadded, undilated and inside the input."""
    return (
        kernel == (2, 2) and strides == (2, 2) and pads == (0, 0) and dilations == (1, 1)
        and 2 * out_hw[0] <= spatial[0] and 2 * out_hw[1] <= spatial[1]
    )  # fmt: skip


def max_pool2d_with_codes(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """:func:`numbaconv.ops.max_pool2d` that also returns, for disjoint 2x2 windows, where each
    maximum was.

    Parameters
    ----------
    x : array_like or CUDA device array, shape (N, C, H, W) or (C, H, W)
        float32 or float64 (integers and bools are cast to float64, as in ``max_pool2d``).
    kernel_size, stride, padding, dilation, ceil_mode
        As in :func:`numbaconv.ops.max_pool2d`.

    Returns
    -------
    out : ndarray or numba device array, shape (N, C, OH, OW) or (C, OH, OW)
        Exactly ``max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)``.
    codes : ndarray or numba device array of uint8, shape of ``out``, or None
        For 2x2 windows with stride 2, no padding or dilation and no ``ceil_mode`` window
        past the edge: ``2 * row + column`` (0..3) of each window's first maximum (the first
        NaN if any), for :func:`max_pool2d_grad_codes`. None for any other windows: their
        gradient needs ``x`` (:func:`numbaconv.ops.max_pool2d_grad`).

    Raises
    ------
    ValueError, TypeError
        As :func:`numbaconv.ops.max_pool2d`.
    """
    backend = _backend.select("max_pool2d_with_codes", x=x)
    x4, unbatched = _input("x", x, backend)
    kernel, strides, pads, dilations, out_hw = _max_setup(
        x4.shape, kernel_size, stride, padding, dilation, ceil_mode, "x"
    )
    if not _disjoint_2x2(kernel, strides, pads, dilations, out_hw, x4.shape[2:]):
        return max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode), None
    x4 = backend.contiguous(x4, x4.dtype)
    out = backend.empty((*x4.shape[:2], *out_hw), x4.dtype)
    codes = backend.empty(out.shape, np.uint8)
    if out.size:
        backend.kernels.pool.max_pool2d_forward_codes(x4, out, codes)
    return v.unbatch(out, unbatched), v.unbatch(codes, unbatched)


def _codes(codes, expected, unbatched: bool, backend):
    """``codes`` checked (uint8, the forward output's shape) and returned 4-D, C-contiguous."""
    if not _backend.is_device_array(codes):
        codes = np.asarray(codes)
    dtype = getattr(codes, "dtype", None)
    if dtype != np.uint8:
        raise TypeError(
            f"codes must be the uint8 array max_pool2d_with_codes returned, got dtype {dtype}"
        )
    shape = expected[1:] if unbatched else expected
    v.check_shape("codes", codes, shape, "(the forward output shape)")
    return backend.contiguous(codes, np.uint8).reshape(tuple(expected))


def max_pool2d_grad_codes(grad_output, codes, input_shape):
    """Gradient of disjoint 2x2 max pooling with respect to its input, from the codes
    :func:`max_pool2d_with_codes` returned.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, shape (N, C, OH, OW) or (C, OH, OW)
        Gradient of the loss with respect to the forward output, with
        ``OH = H // 2``, ``OW = W // 2``.
    codes : uint8 ndarray or CUDA device array, shape of ``grad_output``
        The forward's codes (0..3); any other value sends its window no gradient.
    input_shape : tuple of 4 or 3 non-negative ints
        Shape (N, C, H, W) or (C, H, W) of the forward input.

    Returns
    -------
    grad_input : ndarray or numba device array, shape ``input_shape``, dtype of
        ``grad_output`` (float32 or float64; integers are cast to float64).
        Each ``grad_output`` element at its window's first maximum, 0 everywhere else; equal
        to ``max_pool2d_grad(grad_output, x, 2)`` for the ``x`` the codes came from.

    Raises
    ------
    ValueError, TypeError
        Bad shapes or types; the message names the argument.
    """
    backend = _backend.select("max_pool2d_grad_codes", grad_output=grad_output, codes=codes)
    shape, unbatched = v.image_shape("input_shape", input_shape)
    expected = (*shape[:2], shape[2] // 2, shape[3] // 2)
    grad_output = _grad_output(grad_output, expected, unbatched, backend)
    grad_output = backend.contiguous(grad_output, grad_output.dtype)
    codes = _codes(codes, expected, unbatched, backend)
    grad_input = backend.empty(shape, grad_output.dtype)
    if grad_input.size:
        backend.kernels.pool.max_pool2d_backward_codes(grad_output, codes, grad_input)
    return v.unbatch(grad_input, unbatched)
