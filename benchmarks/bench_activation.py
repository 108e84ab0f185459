"""ReLU forward and backward on the 10-class batch-norm model's activations at batch 512, float32.

``(512, 8, 14, 14)`` is the first block's output, ``(512, 64, 2, 2)`` the fourth's. The torch
rows run ``torch.relu`` and ``threshold_backward(grad, output, 0)``, what its autograd calls.
Both libraries use 2 threads.
"""

import numpy as np

from numbaconv.ops.activation import relu, relu_grad

from .common import require_torch

SHAPES = {"512x8x14x14": (512, 8, 14, 14), "512x64x2x2": (512, 64, 2, 2)}
THREADS = 2


def _inputs(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPES[shape]).astype(np.float32)
    grad = rng.standard_normal(SHAPES[shape]).astype(np.float32)
    return x, grad


class ReLU:
    params = (list(SHAPES), ["forward", "backward"], ["numbaconv", "torch"])
    param_names = ["shape", "pass", "impl"]

    def setup(self, shape, which, impl):
        x, grad = _inputs(shape)
        if impl == "numbaconv":
            import numba

            numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
            y = relu(x)
            fwd, bwd = (lambda: relu(x)), (lambda: relu_grad(grad, y))
        else:
            torch = require_torch()
            torch.set_num_threads(THREADS)
            xt, gt = torch.from_numpy(x), torch.from_numpy(grad)
            yt = torch.relu(xt)
            fwd = lambda: torch.relu(xt)  # noqa: E731
            bwd = lambda: torch.ops.aten.threshold_backward(gt, yt, 0)  # noqa: E731
        self.call = fwd if which == "forward" else bwd
        self.call()  # compile / warm up outside the timing

    def time_relu(self, shape, which, impl):
        self.call()
