"""Batch norm forward (training) and backward, float32."""

import numpy as np

from numbaconv import ops

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
