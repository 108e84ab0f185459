"""``Learner.fit`` on a CUDA model (the simulator in CI): it trains, keeps everything on the
device, and ends where the same run on the CPU ends (within float32 tolerance)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from numbaconv import _backend

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") and not _backend.cuda_available():
    pytest.fail(f"NUMBA_ENABLE_CUDASIM is set but CUDA is not usable: {_backend._cuda_problem()}")
if not _backend.cuda_available():
    pytest.skip(
        f"CUDA is not usable here ({_backend._cuda_problem()}); run this module with "
        "NUMBA_ENABLE_CUDASIM=1 or on a GPU",
        allow_module_level=True,
    )

from numbaconv.data import DataLoaders
from numbaconv.learner import Learner
from numbaconv.metrics import accuracy
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from numbaconv.nn import functional as F

LR, EPOCHS = 0.05, 3


def _model():
    rng = np.random.default_rng(0)
    return Sequential(
        # No bias before batch norm: its gradient is 0 up to rounding, which Adam would amplify.
        Conv2d(1, 2, 3, stride=2, padding=1, bias=False, rng=rng),
        BatchNorm2d(2),
        ReLU(),
        Flatten(),
        Linear(2 * 3 * 3, 2, rng=rng),
    )


def _fit(device):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=12)
    # Class 1 is brighter: learnable in a few steps.
    images = (rng.random((12, 1, 6, 6)) + labels.reshape(-1, 1, 1, 1)).astype(np.float32)
    dls = DataLoaders.from_arrays(
        images[:8], labels[:8], images[8:], labels[8:], bs=4, seed=0, device=device
    )
    model = _model()
    if device == "cuda":
        model.to("cuda")
    learn = Learner(dls, model, loss_func=F.cross_entropy, metrics=accuracy, lr=LR)
    learn.progress.show_table = learn.progress.show_bar = False
    learn.fit(EPOCHS)
    return learn


def test_learner_fit_on_cuda_matches_the_cpu():
    cpu, gpu = _fit("cpu"), _fit("cuda")
    for name, param in gpu.model.named_parameters():
        assert _backend.is_device_array(param.data), name
    for state in (s for _, s in gpu.opt.state.items()):
        for value in state.values():
            assert isinstance(value, int) or _backend.is_device_array(value)
    assert len(gpu.recorder.values) == 3
    # float32 sums in another order, compounded over 6 steps.
    np.testing.assert_allclose(gpu.recorder.values, cpu.recorder.values, rtol=1e-4, atol=1e-5)
    assert gpu.recorder.losses[-1] < gpu.recorder.losses[0]  # it learned something
    expected = cpu.model.state_dict()
    for key, value in gpu.model.state_dict().items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
