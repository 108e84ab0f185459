"""CUDA twins of ``numbaconv.kernels.cpu.activation``: ReLU and its gradient over flat arrays.

Same launchers, argument order and meanings as the CPU module (PyTorch's semantics: NaN
propagates forward, ``-0.0`` becomes ``+0.0``, the gradient is ``grad`` where the forward
output is ``> 0`` and 0 elsewhere). One thread owns one element in a grid-stride loop.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_kernel
from . import launch_config


def _relu_forward(x, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.shape[0], step):
        value = x[i]
        # NaN fails every comparison but must propagate.
        if value > 0 or value != value:
            out[i] = value
        else:
            out[i] = 0


def _relu_backward(grad_output, y, grad_input):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, y.shape[0], step):
        if y[i] > 0:
            grad_input[i] = grad_output[i]
        else:
            grad_input[i] = 0


_relu_forward = cuda_kernel(_relu_forward)
_relu_backward = cuda_kernel(_relu_backward)

_FLOATS = (cuda.float32, cuda.float64)

PTX_SIGNATURES = {
    "_relu_forward": [cuda.void(f[::1], f[::1]) for f in _FLOATS],
    "_relu_backward": [cuda.void(f[::1], f[::1], f[::1]) for f in _FLOATS],
}


def relu_forward(x, out):
    """``out = relu(x)`` elementwise; ``x``, ``out``: 1-D device arrays, same length and float
    dtype."""
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _relu_forward[blocks, threads](x, out)


def relu_backward(grad_output, y, grad_input):
    """``grad_input = grad_output where y > 0 else 0``; ``y`` is the forward output. All 1-D
    device arrays, same length and float dtype."""
    if grad_input.size == 0:
        return
    blocks, threads = launch_config(grad_input.size)
    _relu_backward[blocks, threads](grad_output, y, grad_input)
