"""Optimizer state dicts (PyTorch's form) and resuming training from a Learner checkpoint.

Three steps, save, load into a fresh model and optimizer, three more steps must give exactly
(bit for bit) the weights of six uninterrupted steps. The CUDA case runs where CUDA is usable
(the simulator in CI: ``.ci/run`` runs this module with ``NUMBA_ENABLE_CUDASIM=1`` too).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from numbaconv import _backend
from numbaconv.autograd import Tensor
from numbaconv.data import DataLoaders
from numbaconv.learner import Learner
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from numbaconv.nn import functional as F
from numbaconv.optim import SGD, Adam


def _model(seed):
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2d(1, 2, 3, stride=2, padding=1, rng=rng),
        BatchNorm2d(2),
        ReLU(),
        Flatten(),
        Linear(2 * 4 * 4, 3, rng=rng),
    )


def _data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=6)
    return x, y


def _learner(tmp_path, opt_func, seed, device="cpu"):
    x, y = _data()
    dls = DataLoaders.from_arrays(x, y, x, y, bs=3, seed=0)
    model = _model(seed)
    if device == "cuda":
        model.to("cuda")
    learn = Learner(
        dls, model, loss_func=F.cross_entropy, opt_func=opt_func, lr=0.05, path=tmp_path
    )
    learn.create_opt()
    return learn


def _steps(learn, count, device="cpu", start=0):
    """``count`` training steps on the batches an uninterrupted run sees from step ``start``."""
    x, y = _data()
    for i in range(start, start + count):
        xb, yb = x[(i % 2) * 3 : (i % 2) * 3 + 3], y[(i % 2) * 3 : (i % 2) * 3 + 3]
        if device == "cuda":
            xb, yb = _backend.to_device(xb), _backend.to_device(yb)
        loss = F.cross_entropy(learn.model(Tensor(xb)), yb)
        loss.backward()
        learn.opt.step()
        learn.opt.zero_grad()


def _weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


OPTIMIZERS = {
    "adam": functools.partial(Adam, wd=0.01),
    "sgd-momentum": functools.partial(SGD, momentum=0.9, weight_decay=1e-3),
}


def _resume_equals_uninterrupted(tmp_path, opt_func, device):
    full = _learner(tmp_path, opt_func, seed=0, device=device)
    _steps(full, 6, device)

    first = _learner(tmp_path, opt_func, seed=0, device=device)
    _steps(first, 3, device)
    first.save("ck")
    resumed = _learner(tmp_path, opt_func, seed=99, device=device)  # other weights, fresh state
    resumed.load("ck")
    for state in (s for _, s in resumed.opt.state.items()):
        for value in state.values():
            if not isinstance(value, int):
                assert _backend.is_device_array(value) == (device == "cuda")
    _steps(resumed, 3, device, start=3)
    expected = _weights(full.model)
    for key, value in _weights(resumed.model).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)
    return first, resumed


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resume_from_a_checkpoint_repeats_the_uninterrupted_run_on_the_cpu(tmp_path, name):
    _resume_equals_uninterrupted(tmp_path, OPTIMIZERS[name], "cpu")


@pytest.mark.skipif(not _backend.cuda_available(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_resume_restores_device_state_on_a_cuda_model(tmp_path, name):
    _resume_equals_uninterrupted(tmp_path, OPTIMIZERS[name], "cuda")


def test_resume_without_the_optimizer_state_differs(tmp_path):
    # The check above can fail: dropping the optimizer state changes the result.
    full = _learner(tmp_path, OPTIMIZERS["adam"], seed=0)
    _steps(full, 6)
    first = _learner(tmp_path, OPTIMIZERS["adam"], seed=0)
    _steps(first, 3)
    first.save("ck", with_opt=False)
    resumed = _learner(tmp_path, OPTIMIZERS["adam"], seed=99)
    resumed.load("ck")
    _steps(resumed, 3, start=3)
    assert not np.array_equal(resumed.model[0].weight.data, full.model[0].weight.data)


class Param:
    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = None


def test_state_dict_has_pytorchs_form():
    a, b, c = Param([1.0, 2.0]), Param([3.0]), Param([[4.0]])
    opt = Adam([{"params": [a, b]}, {"params": [c], "do_wd": False, "lr": 0.5}], lr=0.1)
    for p in (a, c):
        p.grad = np.ones_like(p.data)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][1]["do_wd"] is False
    assert sd["param_groups"][0]["mom"] == 0.9
    assert set(sd["state"]) == {0, 2}  # b had no gradient, so no state
    assert set(sd["state"][0]) == {"grad_avg", "sqr_avg", "step"} and sd["state"][0]["step"] == 1
    np.testing.assert_array_equal(sd["state"][2]["grad_avg"], [[1.0 - 0.9]])  # (1 - mom) * grad


def test_load_state_dict_restores_hypers_and_copies_state():
    src_params = [Param([1.0, 2.0]), Param([3.0])]
    src = SGD(src_params, lr=0.1, momentum=0.9)
    for p in src_params:
        p.grad = np.ones_like(p.data)
    src.step()
    dst_params = [Param([0.0, 0.0]), Param([0.0])]
    dst = SGD(dst_params, lr=0.7, momentum=0.5)
    dst.load_state_dict(src.state_dict())
    assert dst.param_groups[0]["lr"] == 0.1 and dst.param_groups[0]["momentum"] == 0.9
    assert dst.param_groups[0]["params"][0] is dst_params[0]
    buf = dst.state[dst_params[0]]["momentum_buffer"]
    np.testing.assert_array_equal(buf, [1.0, 1.0])
    assert buf is not src.state[src_params[0]]["momentum_buffer"]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda sd: sd["param_groups"][0]["params"].pop(), r"groups of \[1\] parameters"),
        (lambda sd: sd["state"][0].update(momentum_buffer=np.ones(3)), r"has shape \(3,\)"),
        (lambda sd: sd["state"].update({5: {}}), "parameter 5, which no group has"),
        (lambda sd: sd.pop("state"), "keys 'state' and 'param_groups'"),
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), "lr must be >= 0"),
    ],
)
def test_load_state_dict_errors(mutate, match):
    params = [Param([1.0, 2.0]), Param([3.0])]
    opt = SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    sd = opt.state_dict()
    sd = {"state": {k: dict(v) for k, v in sd["state"].items()}, "param_groups": sd["param_groups"]}
    mutate(sd)
    with pytest.raises(ValueError, match=match):
        SGD([Param([1.0, 2.0]), Param([3.0])], lr=0.1, momentum=0.9).load_state_dict(sd)
