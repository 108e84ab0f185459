"""Pooling forward and backward on chapter-sized activations, float32."""

import numpy as np

from numbaconv import ops
from numbaconv.ops import max_pool_codes

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


# The pooling targets: max_pool2d 2x2 forward and forward + backward >= 5x PyTorch CPU,
# adaptive_avg_pool2d(x, 1) forward >= 1x, on these shapes (float32, 2 threads each).
TARGET_SHAPES = {
    "64x16x28x28": (64, 16, 28, 28),
    "16x64x56x56": (16, 64, 56, 56),
    "512x8x14x14": (512, 8, 14, 14),
}
TARGETS = ["max_pool2d_2x2_forward", "max_pool2d_2x2_forward_backward", "adaptive_avg_pool2d_1"]
# The adaptive rows take 30-90 us a call, and one published run timed both libraries 1.6x
# slower than the next: 10 to 40 samples (asv's default is at most 10 with rounds=1) make the
# median of each row steadier. The same for numbaconv and its peer.
TARGET_REPEAT = (10, 40, 30.0)


def _target_input(shape):
    return np.random.default_rng(0).standard_normal(TARGET_SHAPES[shape]).astype(np.float32)


class PoolTargets:
    """numbaconv on the target rows. The forward + backward row is what a training step runs
    for 2x2 pooling: the pair of ops the autograd Function of ``nn.functional.max_pool2d``
    calls, ``max_pool2d_with_codes`` (the forward, keeping a uint8 code per window) and then
    ``max_pool2d_grad_codes`` (grad_input from the codes, one pass). The Function's own Python
    work is a few microseconds; a *leaf* input's ``.grad`` copy is not counted, since a pooling
    input in a network is an activation, never a leaf. ``PoolCPU``'s max_pool2d backward row
    times the public ``ops.max_pool2d_grad(grad, x)``, which finds the maxima in ``x`` again
    (the path of windows other than disjoint 2x2)."""

    params = (list(TARGET_SHAPES), TARGETS)
    param_names = ["shape", "target"]
    repeat = TARGET_REPEAT

    def setup(self, shape, target):
        x = _target_input(shape)
        grad = np.ones_like(ops.max_pool2d(x, 2))

        def forward_backward():
            _, codes = max_pool_codes.max_pool2d_with_codes(x, 2)
            max_pool_codes.max_pool2d_grad_codes(grad, codes, x.shape)

        self.call = {
            "max_pool2d_2x2_forward": lambda: ops.max_pool2d(x, 2),
            "max_pool2d_2x2_forward_backward": forward_backward,
            "adaptive_avg_pool2d_1": lambda: ops.adaptive_avg_pool2d(x, 1),
        }[target]
        self.call()

    def time_target(self, shape, target):
        self.call()


class PoolTargetsTorchCPU:
    """Peer rows: PyTorch CPU (2 threads) on the same inputs; forward + backward is
    ``F.max_pool2d`` and ``backward`` through autograd."""

    params = (list(TARGET_SHAPES), TARGETS)
    param_names = ["shape", "target"]
    repeat = TARGET_REPEAT

    def setup(self, shape, target):
        torch = require_torch()
        torch.set_num_threads(2)
        F = torch.nn.functional
        xt = torch.from_numpy(_target_input(shape))
        xr = xt.clone().requires_grad_(True)
        grad = torch.ones_like(F.max_pool2d(xt, 2))

        def forward_backward():
            F.max_pool2d(xr, 2).backward(grad)
            xr.grad = None

        self.call = {
            "max_pool2d_2x2_forward": lambda: F.max_pool2d(xt, 2),
            "max_pool2d_2x2_forward_backward": forward_backward,
            "adaptive_avg_pool2d_1": lambda: F.adaptive_avg_pool2d(xt, 1),
        }[target]
        self.call()

    def time_target(self, shape, target):
        self.call()
