"""One training step and one epoch of the chapter's models, numbaconv against PyTorch's CPU build.

Models (float32, Adam, cross-entropy), on the bundled real MNIST sample:
- ``3v7``: the 3-vs-7 ``simple_cnn`` (1->4->8->16->32->2) at batch 64;
- ``10bn``: the 10-class ``simple_cnn`` with batch norm at batch 512.
"""

import numpy as np

import numbaconv
from numbaconv import datasets, models, optim
from numbaconv.nn import functional as F

from .common import require_torch

MODELS = {"3v7": (64, "mnist_sample"), "10bn": (512, "mnist")}


def _batch(model_name):
    bs, dataset = MODELS[model_name]
    images, labels = getattr(datasets, dataset)("train")
    reps = -(-bs // len(images))
    x = np.tile(images, (reps, 1, 1))[:bs, None].astype(np.float32) / 255
    y = np.tile(labels, reps)[:bs].astype(np.int64)
    return x, y


def _numbaconv_model(model_name):
    if model_name == "3v7":
        return models.simple_cnn_3v7(seed=0)
    return models.simple_cnn(bn=True, seed=0)


def _torch_model(torch, model_name):
    nn = torch.nn

    def conv(ni, nf, ks=3, act=True, bn=False):
        layers = [nn.Conv2d(ni, nf, kernel_size=ks, stride=2, padding=ks // 2)]
        if bn:
            layers.append(nn.BatchNorm2d(nf))
        if act:
            layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    if model_name == "3v7":
        blocks = [conv(1, 4), conv(4, 8), conv(8, 16), conv(16, 32), conv(32, 2, act=False)]
    else:
        blocks = [
            conv(1, 8, ks=5, bn=True),
            conv(8, 16, bn=True),
            conv(16, 32, bn=True),
            conv(32, 64, bn=True),
            conv(64, 10, act=False, bn=True),
        ]
    return nn.Sequential(*blocks, nn.Flatten())


class TrainStep:
    """Time of one optimiser step (forward, loss, backward, Adam update); images/s is
    ``batch size / time``."""

    params = (["numbaconv", "torch"], list(MODELS))
    param_names = ["impl", "model"]
    repeat = (10, 30, 60.0)  # more samples than asv's default (at most 10 with rounds=1)

    def setup(self, impl, model_name):
        x, y = _batch(model_name)
        if impl == "numbaconv":
            model = _numbaconv_model(model_name)
            opt = optim.Adam(model.parameters(), lr=1e-3)
            xt = numbaconv.Tensor(x)

            def step():
                loss = F.cross_entropy(model(xt), y)
                loss.backward()
                opt.step()
                opt.zero_grad()

        else:
            torch = require_torch()
            model = _torch_model(torch, model_name)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)

            def step():
                loss = torch.nn.functional.cross_entropy(model(xt), yt)
                loss.backward()
                opt.step()
                opt.zero_grad()

        self.step = step
        step()  # compile / warm up outside the timing

    def time_train_step(self, impl, model_name):
        self.step()

    def track_images_per_second(self, impl, model_name):
        import time

        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            self.step()
            best = min(best, time.perf_counter() - t0)
        return MODELS[model_name][0] / best

    track_images_per_second.unit = "images/s"


class TrainEpoch(TrainStep):
    """One epoch over the bundled training split (800 images for 3v7, 4,000 for 10bn),
    as repeated steps on same-sized batches."""

    def setup(self, impl, model_name):
        super().setup(impl, model_name)
        bs, dataset = MODELS[model_name]
        self.n_steps = len(getattr(datasets, dataset)("train")[1]) // bs

    def time_train_epoch(self, impl, model_name):
        for _ in range(self.n_steps):
            self.step()

    # Inherited timings would run twice; only the epoch is measured here.
    time_train_step = None
    track_images_per_second = None


class PeakMemory:
    """Peak memory of the largest conv shape (f: 16x64x56x56, k3) forward and backward."""

    def setup(self):
        from .common import conv_inputs

        self.args = conv_inputs("f")

    def peakmem_conv2d_f_forward_backward(self):
        from numbaconv import ops

        x, w, b, gy, s, p = self.args
        ops.conv2d(x, w, b, stride=s, padding=p)
        ops.conv2d_grad_input(x.shape, w, gy, stride=s, padding=p)
        ops.conv2d_grad_weight(x, w.shape, gy, stride=s, padding=p)
