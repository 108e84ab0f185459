"""Optimizer steps and the NLL loss through ``numbaconv.ops``, against the NumPy formulas they
replaced and PyTorch's CPU build.

``step``: one SGD-with-momentum or Adam update of every parameter of the chapter's 3-vs-7
``simple_cnn`` (6,722 float32 values in 10 arrays, so per-call overhead dominates, as in
training). ``nll``: forward and backward of the negative log-likelihood on (64, 2)
log-probabilities. The ``numpy`` rows run the NumPy code ``numbaconv.optim`` and
``nn.functional`` ran before these ops existed; ``torch`` uses ``foreach=False`` steps.
"""

import numpy as np

from numbaconv.ops import adam_step, nll_loss, nll_loss_grad, sgd_step
from numbaconv.ops.loss import nll_targets

from .common import require_torch

SIZES = [(4, 1, 3, 3), (4,), (8, 4, 3, 3), (8,), (16, 8, 3, 3), (16,), (32, 16, 3, 3), (32,)]
SIZES += [(2, 32, 3, 3), (2,)]
HYPER = {"lr": 1e-3, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.01}


def _params():
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(s).astype(np.float32) for s in SIZES]
    grads = [rng.standard_normal(s).astype(np.float32) for s in SIZES]
    return data, grads


def _numpy_sgd(data, grads, bufs):
    for p, g, b in zip(data, grads, bufs, strict=True):
        b *= 0.9
        b += 1.0 * g
        p -= 0.01 * b


def _numpy_adam(data, grads, ms, vs, step=3):
    lr, mom, sqr_mom, eps, wd = (HYPER[k] for k in ("lr", "mom", "sqr_mom", "eps", "wd"))
    for p, g, m, v in zip(data, grads, ms, vs, strict=True):
        p *= 1.0 - lr * wd
        m *= mom
        m += (1.0 - mom) * g
        v *= sqr_mom
        v += (1.0 - sqr_mom) * (g * g)
        p -= (lr / (1.0 - mom**step)) * m / (np.sqrt(v / (1.0 - sqr_mom**step)) + eps)


class OptimizerStep:
    params = (["sgd_momentum", "adam"], ["numbaconv", "numpy", "torch"])
    param_names = ["optimizer", "impl"]

    def setup(self, optimizer, impl):
        data, grads = _params()
        bufs = [np.zeros_like(p) for p in data]
        extra = [np.zeros_like(p) for p in data]
        if impl == "numbaconv" and optimizer == "sgd_momentum":

            def call():
                for p, g, b in zip(data, grads, bufs, strict=True):
                    sgd_step(p, g, b, lr=0.01, momentum=0.9)

        elif impl == "numbaconv":

            def call():
                for p, g, m, v in zip(data, grads, bufs, extra, strict=True):
                    adam_step(p, g, m, v, step=3, **HYPER)

        elif impl == "numpy" and optimizer == "sgd_momentum":
            call = lambda: _numpy_sgd(data, grads, bufs)  # noqa: E731
        elif impl == "numpy":
            call = lambda: _numpy_adam(data, grads, bufs, extra)  # noqa: E731
        else:
            torch = require_torch()
            params = [torch.nn.Parameter(torch.from_numpy(p)) for p in data]
            for p, g in zip(params, grads, strict=True):
                p.grad = torch.from_numpy(g)
            if optimizer == "sgd_momentum":
                opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False)
            else:
                opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), eps=1e-5, foreach=False)
            call = opt.step
        self.call = call
        self.call()  # compile / warm up outside the timing

    def time_step(self, optimizer, impl):
        self.call()


class NLLLoss:
    params = [["numbaconv", "numpy"]]
    param_names = ["impl"]

    def setup(self, impl):
        rng = np.random.default_rng(1)
        log_probs = rng.standard_normal((64, 2)).astype(np.float32)
        labels = rng.integers(0, 2, size=64)
        grad = np.ones(64, np.float32)
        if impl == "numbaconv":

            def call():
                target = nll_targets(labels, log_probs.shape)
                nll_loss(log_probs, target)
                nll_loss_grad(grad, target, log_probs.shape)

        else:

            def call():
                if labels.min() < 0 or labels.max() >= 2:
                    raise ValueError("label out of range")
                index = np.expand_dims(labels, 1)
                -np.take_along_axis(log_probs, index, axis=1).squeeze(1)
                out = np.zeros(log_probs.shape, np.float32)
                np.put_along_axis(out, index, -np.expand_dims(grad, 1), axis=1)

        self.call = call
        self.call()

    def time_nll_forward_backward(self, impl):
        self.call()
