"""Inputs and availability checks shared by the benchmark suites.

Peers (PyTorch, the CUDA backend) are optional: a row whose backend is missing
raises NotImplementedError in setup, which asv records as skipped, so the
parameter grid is the same on every machine.
"""

import numpy as np

# The chapter's layer shapes: N, C_in, C_out, H, W, kernel, stride, padding.
CONV_SHAPES = {
    "a": (64, 1, 8, 28, 28, 3, 2, 1),
    "b": (64, 8, 16, 14, 14, 3, 2, 1),
    "c": (64, 16, 32, 7, 7, 3, 2, 1),
    "d": (512, 1, 8, 28, 28, 5, 2, 2),
    "e": (64, 3, 32, 32, 32, 3, 1, 1),
    "f": (16, 64, 64, 56, 56, 3, 1, 1),
}


def conv_inputs(shape_name, dtype=np.float32):
    n, cin, cout, h, w, k, s, p = CONV_SHAPES[shape_name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, h, w)).astype(dtype)
    weight = rng.standard_normal((cout, cin, k, k)).astype(dtype)
    bias = rng.standard_normal(cout).astype(dtype)
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    grad_out = rng.standard_normal((n, cout, oh, ow)).astype(dtype)
    return x, weight, bias, grad_out, s, p


def conv_flops(shape_name):
    """Multiply-adds x 2 of one forward pass."""
    n, cin, cout, h, w, k, s, p = CONV_SHAPES[shape_name]
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    return 2 * n * cout * oh * ow * cin * k * k


def require_torch():
    try:
        import torch
    except ImportError:
        raise NotImplementedError("torch is not installed (benchmark-only peer)") from None
    return torch


def require_cuda():
    try:
        import numbaconv
    except ImportError:  # pragma: no cover
        raise NotImplementedError("numbaconv not importable") from None
    available = getattr(numbaconv, "cuda_available", None)
    if available is None or not available():
        raise NotImplementedError("no CUDA device")
    from numba import cuda

    if cuda.is_available() and getattr(cuda, "simulator", None) is not None:
        import os

        if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            raise NotImplementedError("the CUDA simulator is not benchmarked")
    return cuda
