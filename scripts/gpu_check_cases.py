"""The timed cases of ``scripts/gpu_check.py``: numbaconv on CUDA device arrays beside PyTorch
(cuDNN) on the same inputs, each case one call on each side (asynchronous; the caller times it
with CUDA events)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class TimingCase:
    name: str
    flops: float | None
    ours: Callable[[], object]
    peer: Callable[[], object] | None


def _pair(torch, array):
    """The host ``array`` as a numba device array and a torch CUDA tensor (or None)."""
    from numbaconv import _backend

    return _backend.to_device(array), (torch.from_numpy(array).cuda() if torch else None)


def _conv_cases(shape, torch) -> list[TimingCase]:
    from numbaconv import _backend, ops
    from numbaconv.kernels.cuda import conv as kernels

    label, n, cin, cout, size, k, s, p = shape
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((n, cin, size, size)).astype(np.float32)
    w_host = rng.standard_normal((cout, cin, k, k)).astype(np.float32)
    b_host = rng.standard_normal(cout).astype(np.float32)
    out = (size + 2 * p - k) // s + 1
    gy_host = rng.standard_normal((n, cout, out, out)).astype(np.float32)
    (x, xt), (w, wt), (b, bt), (gy, gyt) = (
        _pair(torch, a) for a in (x_host, w_host, b_host, gy_host)
    )
    macs = n * cout * out * out * cin * k * k
    y_buf = _backend.to_device(np.empty(gy_host.shape, np.float32))
    gx_buf = _backend.to_device(np.empty(x_host.shape, np.float32))
    gw_buf = _backend.to_device(np.empty(w_host.shape, np.float32))
    hyper = ((s, s), (p, p), (1, 1), 1)
    desc = f"conv {label} {n}x{cin}->{cout} {size}^2 k{k} s{s} p{p}"
    cases = [
        TimingCase(
            f"{desc} forward",
            2 * macs,
            lambda: ops.conv2d(x, w, bias=b, stride=s, padding=p),
            torch and (lambda: torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)),
        ),
        TimingCase(
            f"{desc} forward kernel",
            2 * macs,
            lambda: kernels.conv2d_forward(x, w, b, y_buf, *hyper),
            None,
        ),
        TimingCase(
            f"{desc} grad_input",
            2 * macs,
            lambda: ops.conv2d_grad_input(x_host.shape, w, gy, stride=s, padding=p),
            torch and (lambda: torch.nn.grad.conv2d_input(xt.shape, wt, gyt, stride=s, padding=p)),
        ),
        TimingCase(
            f"{desc} grad_input kernel",
            2 * macs,
            lambda: kernels.conv2d_grad_input(gy, w, gx_buf, *hyper),
            None,
        ),
        TimingCase(
            f"{desc} grad_weight",
            2 * macs,
            lambda: ops.conv2d_grad_weight(x, w_host.shape, gy, stride=s, padding=p),
            torch and (lambda: torch.nn.grad.conv2d_weight(xt, wt.shape, gyt, stride=s, padding=p)),
        ),
        TimingCase(
            f"{desc} grad_weight kernel",
            2 * macs,
            lambda: kernels.conv2d_grad_weight(x, gy, gw_buf, *hyper),
            None,
        ),
        TimingCase(
            f"{desc} grad_bias",
            gy_host.size,
            lambda: ops.conv2d_grad_bias(gy),
            torch and (lambda: gyt.sum(dim=(0, 2, 3))),
        ),
    ]
    return cases


def _pool_and_norm_cases(torch, shape) -> list[TimingCase]:
    from numbaconv import ops

    rng = np.random.default_rng(1)
    n, c, h, w = shape
    x_host = rng.standard_normal(shape).astype(np.float32)
    g_host = rng.standard_normal((n, c, h // 2, w // 2)).astype(np.float32)
    gn_host = rng.standard_normal(shape).astype(np.float32)
    (x, xt), (g, _), (gn, gnt) = (_pair(torch, a) for a in (x_host, g_host, gn_host))
    ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    (rm, rmt), (rv, rvt), (wb, wbt), (bb, bbt) = (
        _pair(torch, a.copy()) for a in (zeros, ones, ones, zeros)
    )
    _, (mean, invstd) = ops.batch_norm(x, rm, rv, wb, bb, training=True, return_stats=True)
    F = torch.nn.functional if torch else None
    xg = xt.clone().requires_grad_() if torch else None
    desc = f"{n}x{c}x{h}x{w}"

    def torch_bn_backward():
        y = F.batch_norm(xg, rmt, rvt, wbt, bbt, training=True)
        return torch.autograd.grad(y, xg, gnt)

    return [
        TimingCase(
            f"max_pool2d 2x2 {desc}",
            None,
            lambda: ops.max_pool2d(x, 2),
            torch and (lambda: F.max_pool2d(xt, 2)),
        ),
        TimingCase(f"max_pool2d_grad 2x2 {desc}", None, lambda: ops.max_pool2d_grad(g, x, 2), None),
        TimingCase(
            f"avg_pool2d 2x2 {desc}",
            None,
            lambda: ops.avg_pool2d(x, 2),
            torch and (lambda: F.avg_pool2d(xt, 2)),
        ),
        TimingCase(
            f"batch_norm train {desc}",
            None,
            lambda: ops.batch_norm(x, rm, rv, wb, bb, training=True),
            torch and (lambda: F.batch_norm(xt, rmt, rvt, wbt, bbt, training=True)),
        ),
        TimingCase(
            f"batch_norm_grad {desc} (torch: forward + backward)",
            None,
            lambda: ops.batch_norm_grad(gn, x, mean, invstd, wb, training=True),
            torch and torch_bn_backward,
        ),
    ]


def _torch_simple_cnn_bn(torch):
    nn = torch.nn

    def block(ni, nf, ks=3, act=True):
        layers = [nn.Conv2d(ni, nf, ks, stride=2, padding=ks // 2), nn.BatchNorm2d(nf)]
        return [*layers, nn.ReLU()] if act else layers

    return nn.Sequential(
        *block(1, 8, 5),
        *block(8, 16),
        *block(16, 32),
        *block(32, 64),
        *block(64, 10, act=False),
        nn.Flatten(),
    ).cuda()


def _numbaconv_model(name, size):
    from numbaconv import models, nn

    if name != "tiny":
        return getattr(models, name)(bn=True, seed=0)
    # One conv-BN-ReLU block and a linear layer: the simulator's stand-in.
    rng = np.random.default_rng(0)
    half = (size + 1) // 2
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1, rng=rng),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * half * half, 10, rng=rng),
    )


def _training_step_case(torch, bs, size, model_name) -> TimingCase:
    from numbaconv import _backend, optim
    from numbaconv.autograd import Tensor
    from numbaconv.nn import functional as F

    rng = np.random.default_rng(2)
    x_host = rng.random((bs, 1, size, size), dtype=np.float32)
    y_host = rng.integers(0, 10, size=bs)
    model = _numbaconv_model(model_name, size).to("cuda")
    opt = optim.Adam(list(model.parameters()), lr=1e-3)
    x, y = _backend.to_device(x_host), _backend.to_device(y_host)

    def ours():
        loss = F.cross_entropy(model(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    peer = None
    if torch and model_name == "simple_cnn":
        net = _torch_simple_cnn_bn(torch)
        topt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x_host).cuda(), torch.from_numpy(y_host).cuda()

        def peer():
            loss = torch.nn.functional.cross_entropy(net(xt), yt)
            topt.zero_grad()
            loss.backward()
            topt.step()

    return TimingCase(
        f"training step {model_name} with batch norm, {bs}x1x{size}^2 (Adam)", None, ours, peer
    )


def timing_cases(torch, conv_shapes, pool_shape=(64, 32, 28, 28), step=(64, 28, "simple_cnn")):
    """Every timed case, built lazily shape by shape (inputs are allocated as they come).

    ``conv_shapes``: (label, N, C, O, size, kernel, stride, padding) rows; ``pool_shape``: the
    NCHW input of pooling and batch norm; ``step``: (batch size, image size, model) of the
    training step (the models halve the image 5 times, so any size down to 1 works; PyTorch's
    twin exists for ``simple_cnn`` only)."""
    for shape in conv_shapes:
        yield from _conv_cases(shape, torch)
    yield from _pool_and_norm_cases(torch, pool_shape)
    yield _training_step_case(torch, *step)
