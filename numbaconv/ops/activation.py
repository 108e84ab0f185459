"""ReLU and its gradient, elementwise over arrays of any shape, with PyTorch's semantics.

Both functions accept NumPy arrays (CPU kernels, NumPy results) or CUDA device arrays
(numba's, or anything with ``__cuda_array_interface__``; CUDA kernels, numba device-array
results, no copy to the host). The kernels see one flat C-contiguous array per argument: the
element order of a C-contiguous array does not depend on its shape, so the reshape is free.
"""

from __future__ import annotations

from .. import _backend
from .._validate import as_array, check_shape, result_dtype

__all__ = ["relu", "relu_grad"]


def _flat(arr):
    """A 1-D view of the C-contiguous ``arr`` (0-d included), host or device."""
    return arr.reshape(arr.size)


def relu(x):
    """Rectified linear unit, ``max(x, 0)`` elementwise, as ``torch.relu``.

    NaN propagates (``relu(nan)`` is NaN), ``relu(inf)`` is inf, and ``-0.0`` gives ``+0.0``
    (as ``np.maximum(x, 0)`` and PyTorch's CUDA kernel; PyTorch's CPU kernel keeps ``-0.0``).

    Parameters
    ----------
    x : array_like or CUDA device array, any shape (0-d and empty included)
        float32 or float64; integer and bool host arrays are cast to float64 (PyTorch would
        keep the integer dtype). Any strides.

    Returns
    -------
    numpy.ndarray or numba device array
        Same shape as ``x``, in ``x``'s float dtype, C-contiguous, on ``x``'s device. A new
        array: ``x`` is never modified.

    Raises
    ------
    TypeError
        Unsupported dtype (complex, string, object, float16), or an integer device array.
    RuntimeError
        A device array given but CUDA is not usable (the message says what is missing).

    See Also
    --------
    relu_grad : the gradient, from this function's output.
    """
    backend = _backend.select("relu", x=x)
    x = as_array("x", x)
    dtype = result_dtype(x)
    out = backend.empty(x.shape, dtype)
    if out.size:
        x = backend.contiguous(x, dtype)
        backend.kernels.activation.relu_forward(_flat(x), _flat(out))
    return out


def relu_grad(grad_output, output):
    """Gradient of :func:`relu` w.r.t. its input, from the forward OUTPUT.

    ``grad_input = grad_output where output > 0, else 0``, exactly
    ``torch.ops.aten.threshold_backward(grad_output, output, 0)`` (what ``torch.relu``'s
    autograd runs): the gradient is 0, not NaN, where ``output`` is 0 or NaN even when
    ``grad_output`` is Inf or NaN there. Since ``output > 0`` exactly where the input is
    ``> 0``, passing the forward input instead of the output gives the same result.

    Parameters
    ----------
    grad_output : array_like or CUDA device array, any shape
        Gradient of the loss w.r.t. ``relu``'s output. float32 or float64 (integer and bool
        host arrays are cast to float64), any strides.
    output : array_like or CUDA device array, same shape as ``grad_output``
        What :func:`relu` returned; same dtype rules, on the same device as ``grad_output``.

    Returns
    -------
    numpy.ndarray or numba device array
        Same shape, C-contiguous, on the inputs' device, in their result dtype (float32 only
        when both are float32).

    Raises
    ------
    ValueError
        ``grad_output`` and ``output`` have different shapes.
    TypeError
        Unsupported dtypes, or host and device arrays mixed.
    RuntimeError
        Device arrays given but CUDA is not usable (the message says what is missing).
    """
    backend = _backend.select("relu_grad", grad_output=grad_output, output=output)
    grad_output = as_array("grad_output", grad_output)
    output = as_array("output", output)
    check_shape("grad_output", grad_output, output.shape, "(the shape of output)")
    dtype = result_dtype(grad_output, output)
    grad_input = backend.empty(output.shape, dtype)
    if grad_input.size:
        backend.kernels.activation.relu_backward(
            _flat(backend.contiguous(grad_output, dtype)),
            _flat(backend.contiguous(output, dtype)),
            _flat(grad_input),
        )
    return grad_input
