"""conv2d forward and gradients on the chapter's layer shapes, float32."""

import numpy as np

from numbaconv import ops

from .common import CONV_SHAPES, conv_flops, conv_inputs, require_cuda, require_torch

SHAPES = sorted(CONV_SHAPES)
PASSES = ["forward", "grad_input", "grad_weight"]


class Conv2dCPU:
    params = (SHAPES, PASSES)
    param_names = ["shape", "pass"]

    def setup(self, shape, which):
        x, w, b, gy, s, p = conv_inputs(shape)
        self.call = {
            "forward": lambda: ops.conv2d(x, w, b, stride=s, padding=p),
            "grad_input": lambda: ops.conv2d_grad_input(x.shape, w, gy, stride=s, padding=p),
            "grad_weight": lambda: ops.conv2d_grad_weight(x, w.shape, gy, stride=s, padding=p),
        }[which]
        self.call()  # compile (or load from the cache) outside the timing

    def time_conv2d(self, shape, which):
        self.call()

    def track_gflops(self, shape, which):
        import time

        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            self.call()
            best = min(best, time.perf_counter() - t0)
        return conv_flops(shape) / best / 1e9

    track_gflops.unit = "GFLOP/s"


class Conv2dTorchCPU:
    """Peer row: PyTorch's CPU conv2d on the same inputs (benchmark-only dependency)."""

    params = (SHAPES, PASSES)
    param_names = ["shape", "pass"]

    def setup(self, shape, which):
        torch = require_torch()
        x, w, b, gy, s, p = conv_inputs(shape)
        xt, wt, bt, gyt = (torch.from_numpy(a) for a in (x, w, b, gy))
        F, grad = torch.nn.functional, torch.nn.grad
        self.call = {
            "forward": lambda: F.conv2d(xt, wt, bt, stride=s, padding=p),
            "grad_input": lambda: grad.conv2d_input(xt.shape, wt, gyt, stride=s, padding=p),
            "grad_weight": lambda: grad.conv2d_weight(xt, wt.shape, gyt, stride=s, padding=p),
        }[which]
        self.no_grad = torch.no_grad
        self.call()

    def time_conv2d(self, shape, which):
        with self.no_grad():
            self.call()


class SgemmReference:
    """The machine's practical compute limit in the same results file: NumPy's float32
    matmul (OpenBLAS) at 2048^2 on 2 BLAS threads. Shape f's forward GFLOP/s over this row's
    is the conv efficiency target's reference."""

    def setup(self):
        from threadpoolctl import threadpool_limits

        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((2048, 2048)).astype(np.float32)
        self.b = rng.standard_normal((2048, 2048)).astype(np.float32)
        self.limits = threadpool_limits(limits=2, user_api="blas")
        self.a @ self.b

    def teardown(self):
        self.limits.restore_original_limits()

    def time_sgemm_2048(self):
        self.a @ self.b

    def track_sgemm_2048_gflops(self):
        import time

        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            self.a @ self.b
            best = min(best, time.perf_counter() - t0)
        return 2 * 2048**3 / best / 1e9

    track_sgemm_2048_gflops.unit = "GFLOP/s"


class Conv2dCUDA:
    params = (SHAPES, PASSES)
    param_names = ["shape", "pass"]

    def setup(self, shape, which):
        cuda = require_cuda()
        import numbaconv

        x, w, b, gy, s, p = conv_inputs(shape)
        xd, wd, bd, gyd = (numbaconv.to_device(a) for a in (x, w, b, gy))
        self.sync = cuda.synchronize
        self.call = {
            "forward": lambda: ops.conv2d(xd, wd, bd, stride=s, padding=p),
            "grad_input": lambda: ops.conv2d_grad_input(x.shape, wd, gyd, stride=s, padding=p),
            "grad_weight": lambda: ops.conv2d_grad_weight(xd, w.shape, gyd, stride=s, padding=p),
        }[which]
        self.call()
        self.sync()

    def time_conv2d(self, shape, which):
        self.call()
        self.sync()
