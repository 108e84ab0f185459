"""Host<->device traffic of ``Learner.fit`` on CUDA: per training step one copy to the host (the
loss scalar), per epoch one per reported figure (validation loss and each metric) and one for
the collapse check's class counts, nothing else.

Counts every ``copy_to_host`` of a device array and forbids the silent conversions of a
simulated device array to NumPy. Runs on a GPU, or in the simulator in its own process::

    NUMBA_ENABLE_CUDASIM=1 NUMBACONV_CUDA_THREADS=7 python -m pytest tests/test_cuda_fit_traffic.py
"""

from __future__ import annotations

import numpy as np
import pytest

from numbaconv import _backend

from .cuda_guard import require_cuda

require_cuda()

from numba import cuda  # noqa: E402

from numbaconv import nn  # noqa: E402
from numbaconv.callbacks import Callback, CollapseCallback, CollapseWarning  # noqa: E402
from numbaconv.data import DataLoaders  # noqa: E402
from numbaconv.learner import Learner  # noqa: E402
from numbaconv.metrics import accuracy  # noqa: E402

from .loaders import TinyDLs  # noqa: E402

SIMULATING = bool(cuda.config.ENABLE_CUDASIM)


@pytest.fixture
def copies_to_host(monkeypatch):
    """A counter of device-to-host copies (``copies_to_host["n"]``)."""
    if SIMULATING:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as DeviceArray
    else:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray as DeviceArray
    counter = {"n": 0}
    original = DeviceArray.copy_to_host

    def counted(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeviceArray, "copy_to_host", counted)
    if SIMULATING:
        _forbid_silent_conversions(monkeypatch, DeviceArray)
    return counter


def _forbid_silent_conversions(monkeypatch, fake_array):
    """A simulated device array wraps a NumPy array and would hand it out silently (np.asarray,
    np.array(copy=True)): on a GPU each of those is a host copy or an error. Device-to-device
    copies, which the simulator runs through NumPy too, stay allowed."""
    inside_copy = {"depth": 0}
    original_getattr = fake_array.__getattr__
    original_copy_to_device = fake_array.copy_to_device

    def guarded(self, name):
        if name in ("__array__", "__array_interface__", "__array_struct__"):
            if not inside_copy["depth"]:
                raise AssertionError(f"a device array was converted to NumPy ({name})")
        return original_getattr(self, name)

    def copy_to_device(self, ary, *args, **kwargs):
        inside_copy["depth"] += 1
        try:
            return original_copy_to_device(self, ary, *args, **kwargs)
        finally:
            inside_copy["depth"] -= 1

    monkeypatch.setattr(fake_array, "__getattr__", guarded)
    monkeypatch.setattr(fake_array, "copy_to_device", copy_to_device)


class _CopiesPerPhase(Callback):
    """Copies to the host inside each training and each validation phase of a fit. Runs before
    every other callback, so a phase's count leaves out what the others read in ``after_train``
    and ``after_validate`` (the epoch's figures)."""

    order = -100

    def __init__(self, counter):
        self.counter, self.train, self.valid = counter, [], []

    def before_train(self):
        self._start = self.counter["n"]

    def after_train(self):
        self.train.append(self.counter["n"] - self._start)

    def before_validate(self):
        self._start = self.counter["n"]

    def after_validate(self):
        self.valid.append(self.counter["n"] - self._start)


def _learner(n_train=6, n_valid=4, bs=3):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n_train + n_valid, 1, 6, 6), dtype=np.uint8)
    labels = rng.integers(0, 2, size=n_train + n_valid)
    dls = DataLoaders.from_arrays(
        images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
        bs=bs, val_bs=2, device="cuda", seed=0,
    )  # fmt: skip
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1, rng=rng),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * 3 * 3, 2, rng=rng),
    ).to("cuda")
    learn = Learner(dls, model, metrics=accuracy)
    learn.progress.show_table = False
    learn.progress.show_bar = False
    return learn


def test_fit_copies_the_loss_per_step_and_the_metrics_per_epoch(copies_to_host):
    learn = _learner()
    # A collapse check that never warns reads its counts every epoch (after a warning, never).
    learn.remove_cb(CollapseCallback)
    learn.add_cb(CollapseCallback(share=1.01))
    phases = learn.add_cb(_CopiesPerPhase(copies_to_host))
    epochs, steps_per_epoch = 2, len(learn.dls.train)
    before = copies_to_host["n"]
    learn.fit(epochs, 0.01)
    copies = copies_to_host["n"] - before
    assert phases.train == [steps_per_epoch] * epochs  # the loss scalar, once per step
    assert phases.valid == [0] * epochs  # validation sums on the device
    # Per epoch: the validation loss, the accuracy and the collapse check's class counts.
    assert copies == epochs * (steps_per_epoch + 3), copies
    # And the figures are real: one row per epoch, accuracy a fraction of 4 images.
    values = learn.recorder.values
    assert len(values) == epochs
    assert all(row[-1] * 4 == round(row[-1] * 4) and 0 <= row[-1] <= 1 for row in values)
    assert learn.collapse.message is None


def _constant_learner(device):
    """A Linear(2, 2) that predicts class 0 for all 10 validation images, 1 of which is a 0."""
    x = np.zeros((10, 2, 1, 1), np.float32)
    x[:, 0] = 5.0
    y = np.ones(10, np.int64)
    y[0] = 0
    move = _backend.to_device if device == "cuda" else np.asarray
    dls = TinyDLs([(move(x[:4]), move(y[:4]))], [(move(x[:6]), move(y[:6])), (move(x[6:]), y[6:])])
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    model[1].weight.data[...] = np.eye(2, dtype=np.float32)
    model[1].bias.data[...] = 0.0
    learn = Learner(dls, model.to(device), metrics=accuracy)
    learn.progress.show_table = False
    return learn


def test_collapse_counts_on_the_device_warn_as_on_the_host(copies_to_host):
    messages = {}
    for device in ("cpu", "cuda"):
        learn = _constant_learner(device)
        with pytest.warns(CollapseWarning) as record:
            learn.fit(2, lr=0.0)
        assert len(record) == 1
        messages[device] = learn.collapse.message
    assert "100.0% of the validation set" in messages["cpu"]
    assert "10.0% of the targets" in messages["cpu"]
    assert messages["cuda"] == messages["cpu"]


class _Batch:
    """What the metrics read from a Learner after a validation batch."""

    def __init__(self, pred, yb, loss):
        self.pred, self.yb, self.loss = pred, yb, loss


def test_metrics_accumulate_on_the_device_and_copy_once(copies_to_host):
    from numbaconv.autograd import Tensor
    from numbaconv.metrics import AvgLoss, AvgMetric

    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 3, n))
               for n in (4, 4, 2)]  # fmt: skip
    losses = [0.5, 0.25, 2.0]
    acc, loss = AvgMetric(accuracy), AvgLoss()
    before = copies_to_host["n"]
    for (scores, labels), value in zip(batches, losses, strict=True):
        # The last batch's labels are on the host, as a learner may leave them.
        learn = _Batch(
            Tensor(_backend.to_device(scores)),
            (labels if len(labels) == 2 else _backend.to_device(labels),),  # yb: a tuple
            Tensor(_backend.to_device(np.array(value, np.float32))),
        )
        acc.accumulate(learn)
        loss.accumulate(learn)
    assert copies_to_host["n"] == before  # nothing per batch
    hits = sum(int((s.argmax(1) == y).sum()) for s, y in batches)
    assert acc.value == pytest.approx(hits / 10, abs=1e-12)
    assert loss.value == pytest.approx((0.5 * 4 + 0.25 * 4 + 2.0 * 2) / 10, abs=1e-7)
    assert copies_to_host["n"] == before + 2  # one per metric
    assert acc.value == pytest.approx(hits / 10, abs=1e-12)  # read again: no new copy
    assert copies_to_host["n"] == before + 2
