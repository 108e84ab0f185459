"""ReLU and its gradient on the CPU, one parallel pass over a flat array each way.

Kernels run ``prange`` over fixed blocks of ``BLOCK`` consecutive elements: a small activation
is one or two iterations instead of thousands of one-element ones, and each element is written
by the one iteration that owns its block, so results do not depend on the thread count (there
is nothing to reduce anyway).

Semantics are PyTorch's (``torch.relu`` and ``threshold_backward(grad, result, 0)``):

- forward: ``x`` where ``x > 0`` or ``x`` is NaN, else ``+0.0``. ``-0.0`` becomes ``+0.0``, as
  NumPy's ``np.maximum(x, 0)`` (numbaconv's earlier ReLU) and torch's CUDA ReLU give; torch's
  CPU ReLU keeps ``-0.0``, so torch disagrees with itself there and we keep the NumPy result.
- backward: ``grad`` where the forward output is ``> 0``, else ``0`` (a NaN output, or an
  Inf/NaN ``grad`` at a zero output, gives 0, not NaN as ``grad * (y > 0)`` would).

Launchers take 1-D C-contiguous arrays of one float dtype and preallocated outputs of the same
length, and never validate; :mod:`numbaconv.ops.activation` does.
"""

from __future__ import annotations

from numba import prange

from ..._jit import cpu_kernel

# Elements per prange iteration: 64 KiB of float32, large enough that the per-iteration cost
# vanishes and small enough that the (512, 8, 14, 14) activation still splits over threads.
BLOCK = 16384


def _relu_forward(x, out):
    n = x.shape[0]
    for block in prange((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        stop = min(start + BLOCK, n)
        # Loops over block views from 0: with range(start, stop) Numba cannot prove the index
        # non-negative, keeps its wraparound check and LLVM falls back to gathers (10x slower).
        x_block = x[start:stop]
        out_block = out[start:stop]
        for i in range(x_block.shape[0]):
            value = x_block[i]
            # NaN fails every comparison but must propagate.
            if value > 0 or value != value:
                out_block[i] = value
            else:
                out_block[i] = 0


def _relu_backward(grad_output, y, grad_input):
    n = y.shape[0]
    for block in prange((n + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        stop = min(start + BLOCK, n)
        grad_block = grad_output[start:stop]
        y_block = y[start:stop]
        grad_input_block = grad_input[start:stop]
        for i in range(y_block.shape[0]):
            if y_block[i] > 0:
                grad_input_block[i] = grad_block[i]
            else:
                grad_input_block[i] = 0


_relu_forward = cpu_kernel(_relu_forward)
_relu_backward = cpu_kernel(_relu_backward)


def relu_forward(x, out):
    """``out = relu(x)`` elementwise; ``x``, ``out``: 1-D, same length and float dtype."""
    _relu_forward(x, out)


def relu_backward(grad_output, y, grad_input):
    """``grad_input = grad_output where y > 0 else 0``; ``y`` is the forward output. All 1-D,
    same length and float dtype."""
    _relu_backward(grad_output, y, grad_input)
