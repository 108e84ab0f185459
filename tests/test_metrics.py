"""numbaconv.metrics: accuracy and the sample-weighted / smoothed averages, by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from numbaconv.autograd import Tensor
from numbaconv.metrics import AvgLoss, AvgMetric, AvgSmoothLoss, accuracy


def test_accuracy_hand_values():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    # argmax: 1, 0, 1, 0 against targets 1, 1, 1, 0 → 3 of 4
    assert accuracy(scores, np.array([1, 1, 1, 0])) == 0.75
    assert accuracy(Tensor(scores), Tensor(np.array([1, 1, 1, 0]))) == 0.75
    # axis 0: argmax over rows of the transpose gives the same predictions
    assert accuracy(scores.T, np.array([1, 1, 1, 0]), axis=0) == 0.75
    assert math.isnan(accuracy(np.zeros((0, 2)), np.zeros(0, np.int64)))


def test_accuracy_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="targ has shape"):
        accuracy(np.zeros((4, 2)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="inp"):
        accuracy(np.float64(1.0), np.zeros(1, np.int64))


def fake_batch(pred, yb, loss=0.0):
    return SimpleNamespace(pred=pred, yb=(np.asarray(yb),), loss=Tensor(np.float64(loss)))


def test_avg_metric_is_sample_weighted_over_an_uneven_last_batch():
    metric = AvgMetric(accuracy)
    assert metric.name == "accuracy" and metric.value is None
    # batch 1: 3 samples, 3 right; batch 2: 1 sample, wrong. Weighted 3/4, the mean of
    # the two batch accuracies would be 1/2.
    metric.accumulate(fake_batch(np.eye(2)[[0, 1, 0]], [0, 1, 0]))
    metric.accumulate(fake_batch(np.eye(2)[[1]], [0]))
    assert metric.value == pytest.approx(0.75, abs=1e-15)
    metric.reset()
    assert metric.value is None


def test_avg_loss_is_sample_weighted():
    metric = AvgLoss()
    metric.accumulate(fake_batch(None, [0, 0, 0], loss=1.0))
    metric.accumulate(fake_batch(None, [0, 0, 0], loss=2.0))
    metric.accumulate(fake_batch(None, [0], loss=4.0))
    assert metric.value == pytest.approx((3 * 1.0 + 3 * 2.0 + 1 * 4.0) / 7, rel=1e-15)


def test_avg_smooth_loss_debiased_ema():
    losses = [2.0, 1.0, 0.5, 4.0]
    metric = AvgSmoothLoss()
    val = 0.0
    for count, loss in enumerate(losses, start=1):
        metric.accumulate(fake_batch(None, [0], loss=loss))
        val = 0.98 * val + 0.02 * loss
        assert metric.value == pytest.approx(val / (1 - 0.98**count), rel=1e-12)
    # after one batch the debiased average is that batch's loss exactly
    single = AvgSmoothLoss(beta=0.5)
    single.accumulate(fake_batch(None, [0], loss=3.0))
    assert single.value == pytest.approx(3.0, rel=1e-15)
    with pytest.raises(ValueError, match="beta"):
        AvgSmoothLoss(beta=1.0)


def test_avg_metric_needs_a_callable():
    with pytest.raises(TypeError, match="func"):
        AvgMetric(3)
