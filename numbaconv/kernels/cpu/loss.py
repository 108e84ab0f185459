"""Negative log-likelihood on the CPU: pick, and scatter back, one log-probability per row.

Twin of :mod:`numbaconv.kernels.cuda.loss` (same launcher names, arguments and results).
``log_probs`` is (N, C, S) (S = product of the spatial axes, 1 for (N, C) inputs) and ``target``
(N, S) holds int64 class indices. ``numbaconv.ops.loss`` range-checks host labels before a
kernel runs; a label outside [0, C) still gives NaN here, as on the device, rather than a read
out of bounds. Serial loops: one element per row is a few hundred loads for the chapter's
batches, far below what a thread pool's start costs.
"""

from __future__ import annotations

from ..._jit import cpu_serial_kernel


def _nll_forward(log_probs, target, out):
    n_batch, classes, spatial = log_probs.shape
    for n in range(n_batch):
        for s in range(spatial):
            t = target[n, s]
            if t < 0 or t >= classes:
                out[n, s] = float("nan")
            else:
                out[n, s] = -log_probs[n, t, s]


def _nll_backward(grad, target, grad_input):
    n_batch, classes, spatial = grad_input.shape
    for n in range(n_batch):
        for c in range(classes):
            for s in range(spatial):
                t = target[n, s]
                if t < 0 or t >= classes:
                    grad_input[n, c, s] = float("nan")
                elif c == t:
                    grad_input[n, c, s] = -grad[n, s]
                else:
                    grad_input[n, c, s] = 0


def _first_invalid_label(target, classes):
    for i in range(target.shape[0]):
        if target[i] < 0 or target[i] >= classes:
            return i
    return -1


_nll_forward = cpu_serial_kernel(_nll_forward)
_nll_backward = cpu_serial_kernel(_nll_backward)
_first_invalid_label = cpu_serial_kernel(_first_invalid_label)


def first_invalid_label(target, classes) -> int:
    """Position of the first label of the flat int64 ``target`` outside [0, classes), or -1.

    Host labels only (``numbaconv.ops.loss`` turns a hit into a ValueError): one pass, where
    NumPy's ``min()`` and ``max()`` take two reductions of several microseconds each.
    """
    return _first_invalid_label(target, classes)


def nll_forward(log_probs, target, out):
    """``out[n, s] = -log_probs[n, target[n, s], s]`` (NaN for a label outside [0, C)).

    log_probs (N, C, S) and out (N, S) of one float dtype, target (N, S) int64; C-contiguous.
    """
    if out.size == 0:
        return
    _nll_forward(log_probs, target, out)


def nll_backward(grad, target, grad_input):
    """``grad_input[n, c, s] = -grad[n, s]`` where ``c == target[n, s]``, else 0."""
    if grad_input.size == 0:
        return
    _nll_backward(grad, target, grad_input)
