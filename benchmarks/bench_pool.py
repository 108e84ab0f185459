"""Pooling forward and backward on chapter-sized activations, float32."""

import numpy as np

from numbaconv import ops

from .common import require_torch

SHAPES = {"64x32x28x28": (64, 32, 28, 28), "16x64x56x56": (16, 64, 56, 56)}
OPS = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]
PASSES = ["forward", "backward"]


def _inputs(shape):
    x = np.random.default_rng(0).standard_normal(SHAPES[shape]).astype(np.float32)
    return x


class PoolCPU:
    params = (list(SHAPES), OPS, PASSES)
    param_names = ["shape", "op", "pass"]

    def setup(self, shape, op, which):
        x = _inputs(shape)
        if op == "max_pool2d":
            y = ops.max_pool2d(x, 2)
            fwd, bwd = (lambda: ops.max_pool2d(x, 2)), (lambda: ops.max_pool2d_grad(y, x, 2))
        elif op == "avg_pool2d":
            y = ops.avg_pool2d(x, 2)
            fwd = lambda: ops.avg_pool2d(x, 2)  # noqa: E731
            bwd = lambda: ops.avg_pool2d_grad(y, x.shape, 2)  # noqa: E731
        else:
            y = ops.adaptive_avg_pool2d(x, 1)
            fwd = lambda: ops.adaptive_avg_pool2d(x, 1)  # noqa: E731
            bwd = lambda: ops.adaptive_avg_pool2d_grad(y, x.shape)  # noqa: E731
        self.call = fwd if which == "forward" else bwd
        self.call()

    def time_pool(self, shape, op, which):
        self.call()


class PoolTorchCPU:
    """Peer row: PyTorch's CPU pooling (forward) on the same inputs."""

    params = (list(SHAPES), OPS)
    param_names = ["shape", "op"]

    def setup(self, shape, op):
        torch = require_torch()
        xt = torch.from_numpy(_inputs(shape))
        F = torch.nn.functional
        self.call = {
            "max_pool2d": lambda: F.max_pool2d(xt, 2),
            "avg_pool2d": lambda: F.avg_pool2d(xt, 2),
            "adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(xt, 1),
        }[op]
        self.call()

    def time_pool(self, shape, op):
        self.call()
