"""The collapse warning: a model that predicts one minority class for (almost) every validation
image warns once, with a line under the epoch table; chapter 13's T3 recipe on the bundled
10-digit sample does, its T5 recipe does not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import numbaconv
from numbaconv import CollapseWarning
from numbaconv.callbacks import CollapseCallback
from numbaconv.data import DataLoaders, Normalize
from numbaconv.datasets import MNIST_CLASSES, mnist
from numbaconv.learner import Learner
from numbaconv.metrics import accuracy
from numbaconv.models import simple_cnn
from numbaconv.nn import Flatten, Linear, Sequential

from .loaders import TinyDLs


def constant_learner(n_valid_zeros, n_valid=40, vocab=("three", "seven")):
    """A Linear(2, 2) with identity weights on inputs whose first feature wins: it predicts
    class 0 for every image; ``n_valid_zeros`` of the validation targets are class 0."""
    x = np.zeros((n_valid, 2, 1, 1), np.float32)
    x[:, 0] = 5.0
    y = np.ones(n_valid, np.int64)
    y[:n_valid_zeros] = 0
    dls = TinyDLs([(x[:4], y[:4])], [(x[:30], y[:30]), (x[30:], y[30:])])
    dls.vocab = vocab
    model = Sequential(Flatten(), Linear(2, 2))
    model[1].weight.data[...] = np.eye(2, dtype=np.float32)
    model[1].bias.data[...] = 0.0
    return Learner(dls, model, metrics=accuracy)


def test_one_class_for_everything_warns_once_with_a_line_under_the_table(capsys):
    learn = constant_learner(n_valid_zeros=4)  # class 0 is 10 % of the targets
    with pytest.warns(CollapseWarning) as record:
        learn.fit(3, lr=0.0)
    assert len(record) == 1  # once, although all three epochs collapsed
    assert record[0].filename == __file__  # points at the fit call, not into numbaconv
    message = str(record[0].message)
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert lines[0].startswith("epoch") and len(lines) == 1 + 3 + 1
    assert lines[-1] == message  # the line under the table
    assert "collapse" in message and "'three'" in message
    assert "100.0% of the validation set" in message and "10.0% of the targets" in message
    for advice in ("lower learning rate", "1cycle", "batch norm"):
        assert advice in message
    assert learn.collapse.message == message


@pytest.mark.parametrize("zeros", [20, 40])
def test_no_warning_when_the_class_is_half_or_more_of_the_targets(zeros, capsys):
    learn = constant_learner(n_valid_zeros=zeros)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        learn.fit(1, lr=0.0)
    assert "collapse" not in capsys.readouterr().out


def test_the_callback_is_removable(capsys):
    learn = constant_learner(n_valid_zeros=4)
    learn.remove_cb(CollapseCallback)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        learn.fit(1, lr=0.0)
    assert "collapse" not in capsys.readouterr().out


def chapter_learner(bn, seed):
    """The chapter's 10-digit set-up at bs 512 on the bundled sample (a quarter of its
    validation images, to keep the test cheap)."""
    numbaconv.manual_seed(seed)
    xt, yt = mnist("train")
    xv, yv = mnist("valid")
    dls = DataLoaders.from_arrays(
        xt, yt, xv[::4], yv[::4], bs=512, normalize=Normalize(), vocab=MNIST_CLASSES
    )
    learn = Learner(dls, simple_cnn(bn=bn), metrics=accuracy)
    learn.progress.show_table = False
    return learn


def test_t3_recipe_warns_and_t5_does_not():
    # Seed 4 measured: T3's plain fit(1, 0.06) predicts '8' for all 1,000 validation digits
    # (seeds 3-10: 5 of 8 collapse within the sample's 7 steps); T5 (batch norm, 1cycle) 0.69.
    t3 = chapter_learner(bn=False, seed=4)
    with pytest.warns(CollapseWarning, match="class '8'"):
        t3.fit(1, 0.06)
    t5 = chapter_learner(bn=True, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        t5.fit_one_cycle(1, 0.06)
    assert t5.collapse.message is None and t5.recorder.values[-1][-1] > 0.3
