"""Autograd, nn, losses and optimizers on the CUDA device against the same code on the CPU.

Runs on a GPU, or in the CUDA simulator in its own process::

    NUMBA_ENABLE_CUDASIM=1 NUMBACONV_CUDA_THREADS=7 python -m pytest tests/test_cuda_autograd.py

Under the simulator every device array is made strict for the whole module: NumPy conversion
(``__array__``, ``__array_interface__``) and the simulator's host-side arithmetic operators
raise, so a host fallback hidden in the device path fails here instead of passing silently.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from numbaconv import _backend

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") and not _backend.cuda_available():
    pytest.fail(
        f"NUMBA_ENABLE_CUDASIM is set but CUDA is not usable: {_backend._cuda_problem()}",
        pytrace=False,
    )
if not _backend.cuda_available():
    pytest.skip(
        f"CUDA is not usable here ({_backend._cuda_problem()}); run this module with "
        "NUMBA_ENABLE_CUDASIM=1 or on a GPU",
        allow_module_level=True,
    )

from numba import cuda

from numbaconv import config, optim
from numbaconv import nn as nnc
from numbaconv._backend import xp as _xp
from numbaconv.autograd import Tensor
from numbaconv.data.loader import DataLoader
from numbaconv.nn import functional as F

SIMULATING = bool(cuda.config.ENABLE_CUDASIM)
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}

_HOST_ONLY = {"__array__", "__array_interface__", "__array_struct__"}
_OPERATORS = ("__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__eq__", "__gt__")


@pytest.fixture(autouse=True)
def strict_device_arrays(monkeypatch):
    """Count copies to the host; forbid silent NumPy conversion of simulated device arrays."""
    copies = {"to_host": 0}
    if SIMULATING:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        original_getattr = FakeCUDAArray.__getattr__
        original_copy = FakeCUDAArray.copy_to_host

        def guarded_getattr(self, name):
            if name in _HOST_ONLY:
                raise AssertionError(f"a device array was converted to NumPy ({name})")
            return original_getattr(self, name)

        def counted_copy(self, *args, **kwargs):
            copies["to_host"] += 1
            return original_copy(self, *args, **kwargs)

        def forbidden(name):
            def operator(self, other):
                raise AssertionError(f"host-side operator {name} used on a device array")

            return operator

        monkeypatch.setattr(FakeCUDAArray, "__getattr__", guarded_getattr)
        monkeypatch.setattr(FakeCUDAArray, "copy_to_host", counted_copy)
        for name in _OPERATORS:
            monkeypatch.setattr(FakeCUDAArray, name, forbidden(name))
    else:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray

        original_copy = DeviceNDArray.copy_to_host

        def counted_copy(self, *args, **kwargs):
            copies["to_host"] += 1
            return original_copy(self, *args, **kwargs)

        monkeypatch.setattr(DeviceNDArray, "copy_to_host", counted_copy)
    return copies


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _assert_on_device(array):
    assert _backend.is_device_array(array) and not isinstance(array, np.ndarray), type(array)


def _close(got, expected, dtype):
    np.testing.assert_allclose(_backend.to_host(got), np.asarray(expected), **TOL[dtype])


# ------------------------------------------------------------------ forward/backward parity
# Each case: (label, input shapes, function of Tensors). Every input requires grad.
CASES = [
    ("add-broadcast", [(2, 3, 4), (3, 1)], lambda a, b: a + b),
    ("sub-broadcast", [(3, 1), (2, 1, 4)], lambda a, b: a - b),
    ("mul-broadcast", [(2, 3), (3,)], lambda a, b: a * b),
    ("div-broadcast", [(2, 3), (1, 3)], lambda a, b: a / (b * b + 1.0)),
    ("scalars", [(2, 3)], lambda a: (2.0 - a) * 3.0 / 4.0 + 1.5),
    ("reverse-div", [(2, 3)], lambda a: 1.0 / (a * a + 2.0)),
    ("neg-pow", [(3, 2)], lambda a: -((a * a + 1.0) ** 1.5)),
    ("exp-log", [(2, 3)], lambda a: (a.exp() + 1.0).log()),
    ("sqrt", [(4,)], lambda a: (a * a + 0.5).sqrt()),
    ("sum-all", [(2, 3, 2)], lambda a: a.sum()),
    ("sum-axes", [(2, 3, 4)], lambda a: a.sum(axis=(0, 2))),
    ("sum-keepdims", [(2, 3, 4)], lambda a: a.sum(axis=1, keepdims=True)),
    ("mean", [(3, 4)], lambda a: a.mean(axis=0)),
    ("mean-all", [(3, 4)], lambda a: a.mean()),
    ("max-axis", [(3, 5)], lambda a: a.max(axis=1)),
    ("max-keepdims", [(2, 3, 4)], lambda a: a.max(axis=(0, 2), keepdims=True)),
    ("matmul-2d", [(3, 4), (4, 2)], lambda a, b: a @ b),
    ("matmul-3d-2d", [(2, 3, 4), (4, 5)], lambda a, b: a @ b),
    ("matmul-1d", [(4,), (4, 3)], lambda a, b: a @ b),
    ("matmul-vector", [(3, 4), (4,)], lambda a, b: a @ b),
    ("reshape", [(2, 6)], lambda a: a.reshape(3, -1) * 2.0),
    ("permute", [(2, 3, 4)], lambda a: a.permute(2, 0, 1) * 1.0),
    ("transpose-T", [(3, 4)], lambda a: a.T @ a),
    ("flatten-unsqueeze", [(2, 3, 2)], lambda a: a.flatten(1).unsqueeze(0).squeeze(0)),
    ("reuse", [(3,)], lambda a: a * a + a),
    ("relu", [(3, 4)], lambda a: F.relu(a)),
    ("log_softmax", [(3, 5)], lambda a: F.log_softmax(a, 1)),
    ("log_softmax-dim0", [(3, 5)], lambda a: F.log_softmax(a, 0)),
    ("softmax", [(2, 4)], lambda a: F.softmax(a, 1)),
    ("linear", [(3, 4), (2, 4), (2,)], lambda x, w, b: F.linear(x, w, b)),
    ("linear-3d", [(2, 3, 4), (5, 4)], lambda x, w: F.linear(x, w)),
    ("mse", [(3, 2), (3, 2)], lambda a, b: F.mse_loss(a, b)),
    ("flatten-fn", [(2, 2, 3)], lambda a: F.flatten(a)),
    (
        "conv2d",
        [(2, 2, 5, 5), (3, 2, 3, 3), (3,)],
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
    ),
    ("max_pool2d", [(1, 2, 4, 4)], lambda x: F.max_pool2d(x, 2)),
    ("avg_pool2d", [(1, 2, 4, 5)], lambda x: F.avg_pool2d(x, 2, stride=1, padding=1)),
]


def _run_case(fn, arrays, upstream_seed):
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    rng = np.random.default_rng(upstream_seed)
    upstream = _rand(rng, out.shape, out.dtype)
    if out.device == "cuda":
        upstream = _xp.to_device(upstream)
    out.backward(upstream)
    return out, tensors


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("label,shapes,fn", CASES, ids=[c[0] for c in CASES])
def test_forward_and_backward_match_the_cpu(label, shapes, fn, dtype):
    rng = np.random.default_rng(abs(hash(label)) % 2**32)
    arrays = [_rand(rng, s, dtype) for s in shapes]
    out_cpu, leaves_cpu = _run_case(fn, arrays, 1)
    out_dev, leaves_dev = _run_case(fn, [_backend.to_device(a) for a in arrays], 1)
    assert out_dev.device == "cuda" and out_dev.dtype == out_cpu.dtype
    assert out_dev.shape == out_cpu.shape
    _assert_on_device(out_dev.data)
    _close(out_dev.data, out_cpu.data, dtype)
    for leaf_dev, leaf_cpu in zip(leaves_dev, leaves_cpu, strict=True):
        _assert_on_device(leaf_dev.grad)
        assert leaf_dev.grad.dtype == leaf_cpu.grad.dtype
        _close(leaf_dev.grad, leaf_cpu.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_match_the_cpu(dtype, reduction):
    rng = np.random.default_rng(3)
    logits = _rand(rng, (4, 3), dtype) * 10  # large logits: the stable path matters
    target = np.array([0, 2, 1, 2])
    upstream = _rand(rng, (4,) if reduction == "none" else (), dtype)
    results = []
    for device_target in (False, True):
        x_cpu = Tensor(logits, requires_grad=True)
        x_dev = Tensor(_backend.to_device(logits), requires_grad=True)
        # int32 device labels go through the int64 cast kernel.
        tgt = _backend.to_device(target.astype(np.int32)) if device_target else target
        loss_cpu = F.cross_entropy(x_cpu, target, reduction=reduction)
        loss_dev = F.cross_entropy(x_dev, tgt, reduction=reduction)
        loss_cpu.backward(upstream)
        loss_dev.backward(_xp.to_device(upstream))
        _close(loss_dev.data, loss_cpu.data, dtype)
        _assert_on_device(x_dev.grad)
        _close(x_dev.grad, x_cpu.grad, dtype)
        results.append(_backend.to_host(x_dev.grad))
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_nll_loss_with_spatial_targets(dtype):
    rng = np.random.default_rng(4)
    logp = _rand(rng, (2, 3, 2, 2), dtype)
    target = rng.integers(0, 3, size=(2, 2, 2))
    x_cpu = Tensor(logp, requires_grad=True)
    x_dev = Tensor(_xp.to_device(logp), requires_grad=True)
    loss_cpu = F.nll_loss(x_cpu, target)
    loss_dev = F.nll_loss(x_dev, target)
    loss_cpu.backward()
    loss_dev.backward()
    assert loss_dev.device == "cuda"
    assert loss_dev.item() == pytest.approx(loss_cpu.item(), rel=TOL[dtype]["rtol"])
    _assert_on_device(x_dev.grad)
    _close(x_dev.grad, x_cpu.grad, dtype)


def test_host_leaf_moved_to_device_gets_a_host_gradient():
    rng = np.random.default_rng(5)
    data = _rand(rng, (3,), np.float64)
    leaf = Tensor(data, requires_grad=True)
    (leaf.to("cuda") * 3.0).sum().backward()
    assert isinstance(leaf.grad, np.ndarray)
    np.testing.assert_array_equal(leaf.grad, np.full(3, 3.0))


def test_labels_out_of_range():
    x = Tensor(np.zeros((2, 3), np.float32), requires_grad=True).to("cuda")
    with pytest.raises(ValueError, match="class index 3"):
        F.cross_entropy(x, np.array([0, 3]))
    # Device labels are not read back: an out-of-range one shows as a NaN loss.
    loss = F.cross_entropy(x, _backend.to_device(np.array([0, 3])))
    assert np.isnan(loss.item())
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(x, _backend.to_device(np.array([0.0, 1.0])))


def test_argmax_and_comparisons_match_numpy():
    a = np.array([[1.0, 3.0, 3.0], [np.nan, 0.0, 5.0], [-1.0, -2.0, -3.0]])
    t = Tensor(a).to("cuda")
    for axis in (0, 1, None):
        got = t.argmax(axis=axis)
        _assert_on_device(got.data)
        np.testing.assert_array_equal(got.numpy(), np.argmax(a, axis=axis))
    np.testing.assert_array_equal((t > 0.5).numpy(), a > 0.5)
    b = Tensor(np.array([1.0, 0.0, -3.0])).to("cuda")
    np.testing.assert_array_equal((t == b).numpy(), a == np.array([1.0, 0.0, -3.0]))


def test_nan_and_inf_propagate():
    a = np.array([[np.nan, 1.0], [np.inf, -np.inf]])
    t = Tensor(a).to("cuda")
    np.testing.assert_array_equal(F.relu(t).numpy(), np.maximum(a, 0))
    np.testing.assert_array_equal(t.max(axis=1).numpy(), np.max(a, axis=1))
    np.testing.assert_array_equal(t.sum(axis=0).numpy(), np.sum(a, axis=0))


def test_long_sums_use_the_two_pass_reduction():
    rng = np.random.default_rng(6)
    a = rng.standard_normal(5000)
    got = Tensor(a).to("cuda").sum().item()
    assert got == pytest.approx(float(np.sum(a)), rel=1e-12, abs=1e-11)


# ------------------------------------------------------------------ tensors and devices
def test_device_moves_and_errors():
    t = Tensor(np.arange(3.0))
    d = t.to("cuda")
    assert d.device == "cuda" and t.device == "cpu"
    assert d.to("cuda") is d and d.cuda() is d
    back = d.cpu()
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), [0.0, 1.0, 2.0])
    assert Tensor([1.0, 2.0], device="cuda").device == "cuda"
    with pytest.raises(TypeError, match=r"^Add: all array arguments must be on the same device"):
        _ = t + d
    with pytest.raises(TypeError, match=r"input 1 is a host \(NumPy\) array"):
        _ = d * np.ones(3)
    with pytest.raises(TypeError, match="requires grad"):
        _ = Tensor(np.ones(3), requires_grad=True).to("cuda")[1:]
    np.testing.assert_array_equal(d[1:].numpy(), [1.0, 2.0])
    assert "device='cuda'" in repr(d)


# ------------------------------------------------------------------ optimizers
def _params_pair(rng, dtype):
    shapes = [(3, 2), (4,)]
    values = [_rand(rng, s, dtype) for s in shapes]
    grads = [[_rand(rng, s, dtype) for s in shapes] for _ in range(3)]
    host = [nnc.Parameter(v.copy()) for v in values]
    dev = [nnc.Parameter(_backend.to_device(v)) for v in values]
    return host, dev, grads


OPTIMIZERS = [
    ("sgd", lambda p: optim.SGD(p, lr=0.1)),
    (
        "sgd-momentum-wd",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    ),
    ("sgd-nesterov", lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", lambda p: optim.Adam(p, lr=0.01)),
    ("adam-l2", lambda p: optim.Adam(p, lr=0.01, wd=0.1, decouple_wd=False)),
    ("adam-groups", lambda p: optim.Adam([{"params": p[:1]}, {"params": p[1:], "do_wd": False}])),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("label,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_steps_match_the_cpu(label, make, dtype):
    rng = np.random.default_rng(7)
    host, dev, grads = _params_pair(rng, dtype)
    opt_host, opt_dev = make(host), make(dev)
    for step_grads in grads:
        for p_h, p_d, g in zip(host, dev, step_grads, strict=True):
            p_h.grad = g.copy()
            p_d.grad = _backend.to_device(g)
        opt_host.step()
        opt_dev.step()
        if label.startswith("adam"):
            opt_dev.set_hyper("mom", 0.85)  # schedules change hypers between steps
            opt_host.set_hyper("mom", 0.85)
    for p_h, p_d in zip(host, dev, strict=True):
        _assert_on_device(p_d.data)
        _close(p_d.data, p_h.data, dtype)
    for p in dev:
        for buffer in opt_dev.state[p].values():
            if not isinstance(buffer, int):
                _assert_on_device(buffer)


# ------------------------------------------------------------------ a whole training step
def _model(dtype):
    rng = np.random.default_rng(11)
    return nnc.Sequential(
        nnc.Conv2d(1, 3, 3, stride=2, padding=1, rng=rng, dtype=dtype),
        nnc.BatchNorm2d(3, dtype=dtype),
        nnc.ReLU(),
        nnc.Flatten(),
        nnc.Linear(3 * 3 * 3, 2, rng=rng, dtype=dtype),
    )


def _train(model, opt, batches, to_device):
    losses = []
    for x, y in batches:
        if to_device:
            x, y = _backend.to_device(x), _backend.to_device(y)
        loss = F.cross_entropy(model(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _batches(dtype, steps=3):
    rng = np.random.default_rng(12)
    return [(_rand(rng, (3, 1, 6, 6), dtype), rng.integers(0, 2, size=3)) for _ in range(steps)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_training_steps_match_the_cpu(dtype, opt_name):
    def make(params):
        if opt_name == "sgd":
            return optim.SGD(params, lr=0.1, momentum=0.9)
        return optim.Adam(params, lr=0.01)

    host_model, dev_model = _model(dtype), _model(dtype).to("cuda")
    assert all(p.device == "cuda" for p in dev_model.parameters())
    _assert_on_device(dev_model[1].running_mean)
    batches = _batches(dtype)
    host_losses = _train(host_model, make(list(host_model.parameters())), batches, False)
    dev_losses = _train(dev_model, make(list(dev_model.parameters())), batches, True)
    np.testing.assert_allclose(dev_losses, host_losses, rtol=10 * TOL[dtype]["rtol"])
    host_state, dev_state = host_model.state_dict(), dev_model.state_dict()
    for key, value in host_state.items():
        assert isinstance(dev_state[key], np.ndarray)
        np.testing.assert_allclose(
            dev_state[key],
            value,
            rtol=1e-3 if dtype == np.float32 else 1e-10,
            atol=1e-5 if dtype == np.float32 else 1e-12,
        )
    for p in dev_model.parameters():
        _assert_on_device(p.grad)


def test_a_device_step_reads_only_the_loss(strict_device_arrays):
    model = _model(np.float32).to("cuda")
    opt = optim.Adam(list(model.parameters()), lr=0.01)
    (x, y), *_ = _batches(np.float32, steps=1)
    x, y = _backend.to_device(x), _backend.to_device(y)
    before = strict_device_arrays["to_host"]
    loss = F.cross_entropy(model(Tensor(x)), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert strict_device_arrays["to_host"] == before
    loss.item()
    assert strict_device_arrays["to_host"] == before + 1


def test_device_results_do_not_depend_on_the_launch_configuration(monkeypatch):
    results = []
    for threads in (5, 7):
        monkeypatch.setattr(config, "CUDA_THREADS", threads)
        model = _model(np.float32).to("cuda")
        losses = _train(
            model,
            optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9),
            _batches(np.float32, steps=2),
            True,
        )
        results.append((losses, [p.numpy() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_module_state_round_trips_between_devices():
    model = _model(np.float64)
    state = model.state_dict()
    model.to("cuda")
    _assert_on_device(model[0].weight.data)
    assert isinstance(model[1].num_batches_tracked, np.ndarray)
    model.load_state_dict({k: v * 2 for k, v in state.items()})
    np.testing.assert_array_equal(model.state_dict()["0.weight"], state["0.weight"] * 2)
    model.cpu()
    assert isinstance(model[0].weight.data, np.ndarray)
    assert isinstance(model[1].running_var, np.ndarray)
    np.testing.assert_array_equal(model[1].running_var, state["1.running_var"] * 2)


def test_zero_grad_keeping_arrays_zeroes_them_on_the_device():
    model = _model(np.float32).to("cuda")
    for p in model.parameters():
        p.grad = _backend.to_device(np.ones(p.shape, np.float32))
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        _assert_on_device(p.grad)
        np.testing.assert_array_equal(_backend.to_host(p.grad), 0)


def test_dataloader_places_batches_on_the_device():
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    labels = np.array([0, 1, 0, 1, 1])
    host = list(DataLoader(images, labels, bs=2))
    dev = list(DataLoader(images, labels, bs=2, device="cuda"))
    assert len(dev) == len(host)
    for (xh, yh), (xd, yd) in zip(host, dev, strict=True):
        _assert_on_device(xd)
        _assert_on_device(yd)
        np.testing.assert_array_equal(_backend.to_host(xd), xh)
        np.testing.assert_array_equal(_backend.to_host(yd), yh)
