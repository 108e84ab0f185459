"""ActivationStats: numbers against plain Python on a recorded batch, shapes, plots, hooks."""

from __future__ import annotations

import io
import math
import statistics

import numpy as np
import pytest

from numbaconv.callbacks import ActivationStats, Callback
from numbaconv.learner import Learner
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential

from .loaders import TinyDLs

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

# One 1x3x4 image whose values hit every case: negative, 0, exactly 0.05 (float32), bin
# edges, 10 (the last bin's closed right edge) and values above 10 (dropped).
PIXELS = np.array(
    [-1.0, 0.0, 0.05, 0.25, 0.3, 2.5, 9.99, 10.0, 10.5, 25.0, 0.1, 4.0], np.float32
).reshape(1, 1, 3, 4)
# Bins of width 0.25 by hand: 0.0, 0.05, 0.1 → 0; 0.25, 0.3 → 1; 2.5 → 10; 4.0 → 16;
# 9.99, 10.0 → 39; -1, 10.5, 25 dropped.
EXPECTED_HIST = dict.fromkeys(range(40), 0) | {0: 3, 1: 2, 10: 1, 16: 1, 39: 2}


def identity_conv_model():
    """A 1x1 conv that copies its input (so its output is PIXELS), then a classifier."""
    conv = Conv2d(1, 1, 1)
    conv.weight.data[...] = 1.0
    conv.bias.data[...] = 0.0
    return Sequential(conv, ReLU(), Flatten(), Linear(12, 2, rng=np.random.default_rng(0)))


def quiet(learn):
    learn.progress.show_table = False
    return learn


def fitted_identity(n_train=2, with_hist=True, every=None, lr=0.0):
    batch = (PIXELS, np.array([1]))
    dls = TinyDLs([batch] * n_train, [batch])
    learn = quiet(
        Learner(dls, identity_conv_model(), cbs=ActivationStats(with_hist=with_hist, every=every))
    )
    learn.fit(1, lr=lr)  # lr 0 (and Adam's decay 0·wd): the conv stays the identity
    return learn


def test_stats_of_a_recorded_batch_against_plain_python():
    learn = fitted_identity()
    stats = learn.activation_stats
    assert len(stats.stats) == 2  # training batches only; the validation batch is ignored
    assert len(stats.modules) == 2  # Conv2d and Linear: the leaves with parameters
    record = stats.stats[0][0]
    values = [float(v) for v in PIXELS.ravel()]
    assert record["mean"] == pytest.approx(statistics.fmean(values), rel=1e-14)
    assert record["std"] == pytest.approx(statistics.stdev(values), rel=1e-14)  # unbiased
    # float32(0.05) counts as near zero, as torch compares in the output's dtype
    assert record["near_zero"] == 3 / 12
    assert record["hist"].tolist() == [EXPECTED_HIST[i] for i in range(40)]
    assert record["hist"].sum() == 9


def test_layer_stats_and_hist_shapes_and_negative_indices():
    learn = fitted_identity(n_train=3)
    stats = learn.activation_stats
    layer = stats.layer_stats(0)
    assert layer.mean.shape == layer.std.shape == layer.near_zero.shape == (3,)
    np.testing.assert_array_equal(stats.layer_stats(-2).mean, layer.mean)
    linear_mean = stats.layer_stats(-1).mean
    assert linear_mean.shape == (3,) and not np.array_equal(linear_mean, layer.mean)
    hist = stats.hist(0)
    assert hist.shape == (40, 3)
    expected_column = np.log1p([EXPECTED_HIST[i] for i in range(40)])
    for column in hist.T:
        np.testing.assert_allclose(column, expected_column, rtol=1e-15)
    with pytest.raises(IndexError, match="idx 2"):
        stats.layer_stats(2)
    with pytest.raises(IndexError, match="idx -3"):
        stats.hist(-3)


def test_every_and_without_hist():
    learn = fitted_identity(n_train=5, with_hist=False, every=2)
    stats = learn.activation_stats
    assert len(stats.stats) == 3  # batches 0, 2, 4
    assert "hist" not in stats.stats[0][0]
    with pytest.raises(ValueError, match="with_hist"):
        stats.hist(0)
    with pytest.raises(ValueError, match="fit"):
        ActivationStats().layer_stats(0)


def test_batchnorm_layers_are_hooked_and_relu_is_not():
    model = Sequential(Conv2d(1, 2, 3, padding=1), BatchNorm2d(2), ReLU(), Flatten())
    model.append(Linear(2 * 3 * 4, 2))
    dls = TinyDLs([(PIXELS, np.array([0]))], [(PIXELS, np.array([0]))])
    learn = quiet(Learner(dls, model, cbs=ActivationStats()))
    learn.fit(1)
    assert [type(m).__name__ for m in learn.activation_stats.modules] == [
        "Conv2d",
        "BatchNorm2d",
        "Linear",
    ]


def hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_removed_after_fit_and_after_an_error():
    learn = fitted_identity()
    assert hook_count(learn.model) == 0

    class Boom(Callback):
        def after_batch(self):
            raise RuntimeError("boom")

    batch = (PIXELS, np.array([1]))
    learn = quiet(
        Learner(TinyDLs([batch], [batch]), identity_conv_model(), cbs=[ActivationStats(), Boom()])
    )
    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1)
    assert hook_count(learn.model) == 0


def png_size(fig):
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    matplotlib.pyplot.close(fig)
    buffer.seek(0)
    return Image.open(buffer).size


def test_plot_layer_stats_png():
    learn = fitted_identity(n_train=3)
    fig = learn.activation_stats.plot_layer_stats(-2)
    assert [ax.get_title() for ax in fig.axes] == ["mean", "std", "% near zero"]
    np.testing.assert_array_equal(
        fig.axes[2].lines[0].get_ydata(), learn.activation_stats.layer_stats(0).near_zero
    )
    assert png_size(fig) == (864, 216)  # 12x3 inches at 72 dpi


def test_color_dim_png():
    learn = fitted_identity(n_train=3)
    fig = learn.activation_stats.color_dim(-2)
    (ax,) = fig.axes
    image = ax.images[0]
    assert image.get_array().shape == (40, 3)
    assert image.origin == "lower" and not ax.axison
    assert png_size(fig) == (720, 360)  # 10x5 inches


def test_stats_match_numpy_on_a_real_conv_layer():
    # A random conv: the recorded stats of batch 0 equal NumPy's on that layer's output,
    # recomputed afterwards with the same (unchanged, lr=0) weights.
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(2, 1, 6, 6)) * 4).astype(np.float32)
    model = Sequential(Conv2d(1, 3, 3, rng=rng), ReLU(), Flatten(), Linear(48, 2, rng=rng))
    dls = TinyDLs([(x, np.array([0, 1]))], [(x, np.array([0, 1]))])
    learn = quiet(Learner(dls, model, cbs=ActivationStats(with_hist=True)))
    learn.fit(1, lr=0.0)
    out = model[0](x).data
    record = learn.activation_stats.stats[0][0]
    assert record["mean"] == pytest.approx(out.astype(np.float64).mean(), rel=1e-12)
    assert record["std"] == pytest.approx(out.astype(np.float64).std(ddof=1), rel=1e-12)
    assert record["near_zero"] == np.count_nonzero(out <= np.float32(0.05)) / out.size
    inside = out[(out >= 0) & (out <= 10)]
    expected = np.zeros(40, np.int64)
    for value in inside.astype(np.float64):
        expected[min(math.floor(value / 0.25), 39)] += 1
    np.testing.assert_array_equal(record["hist"], expected)
