"""The Learner's callbacks on a CUDA model (run in the simulator from .ci/run: tiny shapes):
fit, get_preds, predict of one unbatched image, lr_find's restore, and the non-finite guard."""

from __future__ import annotations

import numpy as np
import pytest

import numbaconv
from numbaconv import Learner, NonFiniteLossError, accuracy
from numbaconv.data import DataLoaders
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential

from .loaders import TinyDLs

pytestmark = pytest.mark.skipif(
    not numbaconv.cuda_available(), reason="needs CUDA or NUMBA_ENABLE_CUDASIM=1"
)


def cuda_learner():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (12, 1, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 2, 12)
    dls = DataLoaders.from_arrays(x[:8], y[:8], x[8:], y[8:], bs=4, device="cuda")
    model = Sequential(
        Conv2d(1, 2, 3, stride=2, padding=1, rng=rng),
        BatchNorm2d(2),
        ReLU(),
        Flatten(),
        Linear(8, 2, rng=rng),
    ).to("cuda")
    learn = Learner(dls, model, metrics=accuracy)
    learn.progress.show_table = False
    return learn, x, y


def test_fit_preds_predict_and_lr_find_on_the_device():
    learn, x, _ = cuda_learner()
    learn.fit(1, 0.01)
    assert learn.model[1].running_mean.__class__.__name__ != "ndarray"  # stayed on the device
    probs, targets = learn.get_preds()
    assert probs.shape == (4, 2) and targets.shape == (4,)
    _, index, item_probs = learn.predict(x[8, 0])  # (H, W), no batch axis
    np.testing.assert_allclose(item_probs, probs[0], rtol=1e-5)
    assert index == int(np.argmax(probs[0]))
    before = learn.model.state_dict()
    learn.lr_find(num_it=8, show_plot=False, suggest_funcs=None)
    for key, value in learn.model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_guard_on_the_device_keeps_the_weights():
    learn, x, y = cuda_learner()
    bad = x[:4].astype(np.float32) / 255
    bad[0, 0, 0, 0] = np.nan
    learn.dls = TinyDLs([(numbaconv.to_device(bad), y[:4])], [])
    before = learn.model.state_dict()
    with pytest.raises(NonFiniteLossError, match="epoch 0, batch 0"):
        learn.fit(1, 0.01)
    for key, value in learn.model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_guard_reads_one_scalar_per_step_on_the_device(monkeypatch):
    from numbaconv.autograd import Tensor
    from numbaconv.callbacks import CollapseCallback, ProgressCallback, Recorder

    learn, _, _ = cuda_learner()
    learn.remove_cbs([Recorder, ProgressCallback, CollapseCallback])
    learn.dls.valid = []
    reads = []
    original = Tensor.numpy
    monkeypatch.setattr(Tensor, "numpy", lambda self: reads.append(self.shape) or original(self))
    learn.fit(1, 0.01)
    # the loss and the 6 gradients folded on the device: one 0-d read per step (2 steps)
    assert reads == [(), ()]
