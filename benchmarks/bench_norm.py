"""Batch norm forward (training) and backward, float32."""

import numpy as np

from numbaconv import ops

from .common import require_torch

SHAPES = {"512x8x14x14": (512, 8, 14, 14), "64x64x28x28": (64, 64, 28, 28)}


class BatchNormCPU:
    params = (list(SHAPES), ["forward", "backward"])
    param_names = ["shape", "pass"]

    def setup(self, shape, which):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(SHAPES[shape]).astype(np.float32)
        c = x.shape[1]
        mean, var = np.zeros(c, np.float32), np.ones(c, np.float32)
        w, b = np.ones(c, np.float32), np.zeros(c, np.float32)
        y, (m, invstd) = ops.batch_norm(x, mean, var, w, b, training=True, return_stats=True)
        if which == "forward":
            self.call = lambda: ops.batch_norm(x, mean, var, w, b, training=True)
        else:
            self.call = lambda: ops.batch_norm_grad(y, x, m, invstd, w)
        self.call()

    def time_batch_norm(self, shape, which):
        self.call()


class BatchNormTorchCPU:
    """Peer row: PyTorch's CPU batch norm (aten's native kernels) on the same inputs."""

    params = (list(SHAPES), ["forward", "backward"])
    param_names = ["shape", "pass"]

    def setup(self, shape, which):
        torch = require_torch()
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.standard_normal(SHAPES[shape]).astype(np.float32))
        c = x.shape[1]
        mean, var = torch.zeros(c), torch.ones(c)
        w, b = torch.ones(c), torch.zeros(c)
        aten = torch.ops.aten
        y, save_mean, save_invstd = aten.native_batch_norm(x, w, b, mean, var, True, 0.1, 1e-5)
        if which == "forward":
            self.call = lambda: aten.native_batch_norm(x, w, b, mean, var, True, 0.1, 1e-5)
        else:
            mask = [True, True, True]
            self.call = lambda: aten.native_batch_norm_backward(
                y, x, w, mean, var, save_mean, save_invstd, True, 1e-5, mask
            )
        self.call()

    def time_batch_norm(self, shape, which):
        self.call()
