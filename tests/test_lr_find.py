"""Learner.lr_find: fastai's schedule, stopping rule and suggestion functions (checked on curves
worked out by hand), the model and optimizer restored bit for bit, the plot, and the bundled
3-vs-7 sample, where training at the valley suggestion reaches 98 %."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from numbaconv.callbacks import (
    Callback,
    LRFinder,
    minimum,
    slide,
    steep,
    suggest_lrs,
    valley,
)
from numbaconv.data import DataLoaders
from numbaconv.datasets import MNIST_SAMPLE_VOCAB, mnist_sample
from numbaconv.learner import Learner
from numbaconv.metrics import accuracy
from numbaconv.models import simple_cnn_3v7
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from numbaconv.optim import SGD

from .loaders import TinyDLs

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

LRS = 10.0 ** np.arange(-7, 1, dtype=np.float64)  # 1e-7 .. 1, one point per decade


# ---------------------------------------------------------------- suggestion functions
def test_minimum_is_a_tenth_of_the_lowest_point():
    losses = np.array([3.0, 2.0, 1.5, 1.0, 2.0, 5.0, 6.0, 7.0])
    assert minimum(LRS, losses, 100) == (LRS[3] / 10, (LRS[3], 1.0))


def test_steep_is_the_start_of_the_fastest_fall_per_log_lr():
    losses = np.array([5.0, 4.9, 4.0, 1.0, 0.9, 0.8, 2.0, 3.0])  # largest drop: 4.0 -> 1.0
    assert steep(LRS, losses, 100) == (LRS[2], (LRS[2], 4.0))


def test_valley_by_hand():
    # Longest strictly decreasing run: 5, 4, 3, 2, 1 at points 0, 1, 3, 4, 6 (5 points, ending
    # at 6). fastai starts the valley 5 points before its end, at 1, and steps
    # int(5/3) + int(5/3/2) = 1 + 0 points in: point 2.
    losses = np.array([5.0, 4.0, 4.5, 3.0, 2.0, 2.5, 1.0, 3.0])
    assert valley(LRS, losses, 100) == (LRS[2], (LRS[2], 4.5))
    # The whole curve falling: the valley spans it and the suggestion sits half-way down.
    falling = np.linspace(2.0, 1.0, 8)
    assert valley(LRS, falling, 100) == (LRS[3], (LRS[3], falling[3]))


def test_slide_walks_left_until_the_gradients_agree():
    lrs = np.geomspace(1e-6, 1.0, 25)
    # Flat, then rising over the last 5 points: np.gradient is non-zero from point 19 on, so
    # the pair (right, right - 15) disagrees for right = 24 .. 19 and the walk stops at left 4.
    losses = np.concatenate([np.zeros(20), [1.0, 3.0, 6.0, 10.0, 15.0]])
    lr, (point_lr, point_loss) = slide(lrs, losses, 100)
    assert lr == point_lr == lrs[4] and point_loss == pytest.approx(0.0)
    # A straight line: the first pair already agrees.
    line = np.linspace(3.0, 1.0, 25)
    assert slide(lrs, line, 100)[0] == lrs[24 - 15]
    assert slide(lrs, line, 100, adjust_value=0.5)[0] == lrs[9] * 0.5
    with pytest.raises(ValueError, match="lr_diff"):
        slide(lrs[:10], line[:10], 100)


def test_suggest_lrs_trims_like_fastai_and_names_fields():
    lrs = np.geomspace(1e-7, 10, 100)
    losses = np.linspace(3.0, 1.0, 100)
    losses[-20:] = np.nan  # diverged: everything from the first NaN is dropped
    result, points, names = suggest_lrs(
        lrs, losses, 100, (valley, minimum, functools.partial(slide, lr_diff=10))
    )
    assert type(result).__name__ == "SuggestedLRs"
    assert result._fields == ("valley", "minimum", "slide") and names == list(result._fields)
    kept = lrs[10:80]  # first num_it // 10 = 10 and last 5 dropped, then the NaNs from 80 on
    assert result.minimum == kept[-1] / 10
    assert points[1] == (kept[-1], losses[79])
    assert result.valley == valley(kept, losses[10:80], 100)[0]
    with pytest.raises(ValueError, match="too few points"):
        suggest_lrs(lrs[:12], losses[:12], 100)


# ---------------------------------------------------------------- the finder
def tiny_batches(n_batches, seed, bs=4):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(bs, 1, 8, 8)).astype(np.float32), rng.integers(0, 2, bs).astype(np.int64))
        for _ in range(n_batches)
    ]


def tiny_learner(opt_func=None, **kw):
    rng = np.random.default_rng(0)
    model = Sequential(
        Conv2d(1, 2, 3, stride=2, padding=1, rng=rng),
        BatchNorm2d(2),
        ReLU(),
        Flatten(),
        Linear(2 * 4 * 4, 2, rng=rng),
    )
    dls = TinyDLs(tiny_batches(4, 0), tiny_batches(2, 1))
    extra = {} if opt_func is None else {"opt_func": opt_func}
    learn = Learner(dls, model, **extra, **kw)
    learn.progress.show_table = False
    return learn


def snapshot(learn):
    # keyed by position, so that two Learners compare
    position = {id(p): i for i, p in enumerate(learn.model.parameters())}
    opt_state = {
        position[id(p)]: {k: np.array(v, copy=True) for k, v in s.items()}
        for p, s in learn.opt.state.items()
    }
    hypers = [{k: v for k, v in g.items() if k != "params"} for g in learn.opt.param_groups]
    return learn.model.state_dict(), opt_state, hypers


def assert_same(before, after):
    (model_a, opt_a, hypers_a), (model_b, opt_b, hypers_b) = before, after
    assert model_a.keys() == model_b.keys()
    for key, value in model_a.items():
        np.testing.assert_array_equal(model_b[key], value, err_msg=key)
    assert opt_a.keys() == opt_b.keys()
    for pid, state in opt_a.items():
        assert state.keys() == opt_b[pid].keys()
        for key, value in state.items():
            np.testing.assert_array_equal(opt_b[pid][key], value, err_msg=key)
    assert hypers_a == hypers_b


@pytest.mark.parametrize("opt_func", [None, functools.partial(SGD, momentum=0.9)])
def test_model_and_optimizer_restored_bit_for_bit(opt_func):
    learn = tiny_learner(opt_func)
    learn.fit(1, lr=0.01)  # the optimizer now has moments and step counts
    before = snapshot(learn)
    learn.lr_find(num_it=10, show_plot=False, suggest_funcs=None)
    assert len(learn.recorder.lrs) == 10  # it did train
    assert_same(before, snapshot(learn))
    assert all(p.grad is None for p in learn.model.parameters())
    # the next fit continues exactly as if lr_find had never run
    reference = tiny_learner(opt_func)
    reference.fit(1, lr=0.01)
    reference.fit(1, lr=0.02)
    learn.fit(1, lr=0.02)
    assert_same(snapshot(reference), snapshot(learn))


def test_fresh_learner_keeps_no_optimizer_state():
    learn = tiny_learner()
    weights = learn.model.state_dict()
    learn.lr_find(num_it=8, show_plot=False, suggest_funcs=None)
    assert len(learn.opt.state) == 0
    for key, value in learn.model.state_dict().items():
        np.testing.assert_array_equal(value, weights[key], err_msg=key)


def test_exponential_schedule_smoothed_loss_and_no_validation():
    seen = []

    class Spy(Callback):
        order = 70

        def before_validate(self):
            seen.append("validate")

    learn = tiny_learner(cbs=Spy())
    learn.lr_find(start_lr=1e-5, end_lr=1e-1, num_it=10, show_plot=False, suggest_funcs=None)
    expected = [1e-5 * (1e-1 / 1e-5) ** (i / 10) for i in range(10)]
    np.testing.assert_allclose(learn.recorder.lrs, expected, rtol=1e-12)
    assert seen == []  # validation skipped (LRFinder cancels it before later callbacks)
    assert [row[1] for row in learn.recorder.values] == [None, None]  # no valid_loss
    # 10 iterations over 4 batches per epoch: fit(3) as fastai computes it, cancelled in the
    # third epoch after its second batch
    assert learn.recorder.iters == [4, 8]


def test_stops_when_the_smoothed_loss_exceeds_four_times_its_best():
    learn = tiny_learner(opt_func=functools.partial(SGD, momentum=0.9))
    learn.lr_find(start_lr=1e-3, end_lr=1e9, num_it=100, show_plot=False, suggest_funcs=None)
    losses = np.asarray(learn.recorder.losses)
    assert 6 < len(losses) < 100
    assert np.all(np.isfinite(losses))
    # stopped at the first point above 4x the best so far (or at a non-finite loss)
    best = np.minimum.accumulate(losses)
    assert not np.any(losses[:-1] > 4 * best[:-1])
    with pytest.raises(ValueError, match="start_lr"):
        learn.lr_find(start_lr=1.0, end_lr=0.1, show_plot=False)


def test_plot_lr_find_log_axis_and_marked_suggestions():
    learn = tiny_learner()
    result = learn.lr_find(num_it=30, suggest_funcs=(valley, steep))
    fig = matplotlib.pyplot.gcf()
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    curve, *marks = ax.lines
    np.testing.assert_array_equal(curve.get_xdata(), learn.recorder.lrs[:-5])
    assert [m.get_label() for m in marks] == ["valley", "steep"]
    assert marks[0].get_xdata()[0] == result.valley
    matplotlib.pyplot.close("all")


# ---------------------------------------------------------------- the bundled sample
@pytest.mark.slow
def test_valley_on_3_vs_7_trains_to_98_percent():
    # Measured: valley 0.0044 (seed 0, bs 32); fit_one_cycle(5, valley) then 0.990.
    xt, yt = mnist_sample("train")
    xv, yv = mnist_sample("valid")
    dls = DataLoaders.from_arrays(xt, yt, xv, yv, bs=32, seed=0, vocab=MNIST_SAMPLE_VOCAB)
    learn = Learner(dls, simple_cnn_3v7(seed=0), metrics=accuracy)
    learn.progress.show_table = False
    suggestion = learn.lr_find(show_plot=False)
    assert 1e-4 <= suggestion.valley <= 1e-1
    assert isinstance(learn.cbs[0], Callback) and not any(
        isinstance(cb, LRFinder) for cb in learn.cbs
    )
    learn.fit_one_cycle(5, suggestion.valley)
    assert learn.recorder.values[-1][-1] >= 0.98
