"""Negative log-likelihood on the device: pick, and scatter back, one log-probability per row.

``log_probs`` is (N, C, S) (S = product of the spatial axes, 1 for (N, C) inputs) and
``target`` (N, S) holds integer class indices. A label outside [0, C) cannot be reported from a
kernel without a host round trip, so its loss is NaN (and its gradient row NaN): the error
shows in the loss the caller reads, and nothing reads out of bounds. Host labels are range-
checked with a ValueError before they are copied to the device.
"""

from __future__ import annotations

import math

from numba import cuda

from ..._jit import cuda_kernel
from . import launch_config


def _nll_forward(log_probs, target, out):
    n_batch, classes, spatial = log_probs.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n_batch * spatial, step):
        n = idx // spatial
        s = idx % spatial
        t = target[n, s]
        if t < 0 or t >= classes:
            out[n, s] = math.nan
        else:
            out[n, s] = -log_probs[n, t, s]


def _nll_backward(grad, target, grad_input):
    n_batch, classes, spatial = grad_input.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n_batch * classes * spatial, step):
        s = idx % spatial
        rest = idx // spatial
        c = rest % classes
        n = rest // classes
        t = target[n, s]
        if t < 0 or t >= classes:
            grad_input[n, c, s] = math.nan
        elif c == t:
            grad_input[n, c, s] = -grad[n, s]
        else:
            grad_input[n, c, s] = 0


_nll_forward = cuda_kernel(_nll_forward)
_nll_backward = cuda_kernel(_nll_backward)

PTX_SIGNATURES = {
    "_nll_forward": [
        cuda.void(f[:, :, ::1], cuda.int64[:, ::1], f[:, ::1]) for f in (cuda.float32, cuda.float64)
    ],
    "_nll_backward": [
        cuda.void(f[:, ::1], cuda.int64[:, ::1], f[:, :, ::1]) for f in (cuda.float32, cuda.float64)
    ],
}


def nll_forward(log_probs, target, out):
    """``out[n, s] = -log_probs[n, target[n, s], s]`` (NaN for a label outside [0, C)).

    log_probs (N, C, S) and out (N, S) of one float dtype, target (N, S) int64; C-contiguous.
    """
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _nll_forward[blocks, threads](log_probs, target, out)


def nll_backward(grad, target, grad_input):
    """``grad_input[n, c, s] = -grad[n, s]`` where ``c == target[n, s]``, else 0."""
    if grad_input.size == 0:
        return
    blocks, threads = launch_config(grad_input.size)
    _nll_backward[blocks, threads](grad, target, grad_input)
