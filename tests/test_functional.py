"""nn.functional: values against independent NumPy/SciPy formulas, gradients against
central finite differences in float64."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import logsumexp

from numbaconv.autograd import Tensor
from numbaconv.nn import functional as F

from . import naive
from .test_autograd import check_gradients

RNG = np.random.default_rng(131)


def rand(*shape):
    return RNG.standard_normal(shape)


# ------------------------------------------------------------------ activations
def test_relu_values_and_gradient():
    x = np.array([-2.0, -0.5, 0.0, 0.25, 3.0, np.nan])
    out = F.relu(Tensor(x))
    np.testing.assert_array_equal(out.data[:5], [0.0, 0.0, 0.0, 0.25, 3.0])
    assert np.isnan(out.data[5])
    a = rand(3, 4)
    a[np.abs(a) < 0.05] = 0.3  # keep finite differences away from the kink
    check_gradients(F.relu, a)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_and_softmax(dim):
    a = rand(3, 4)
    np.testing.assert_allclose(
        F.log_softmax(Tensor(a), dim).data, scipy_log_softmax(a, axis=dim), rtol=1e-12
    )
    np.testing.assert_allclose(
        F.softmax(Tensor(a), dim).data, np.exp(scipy_log_softmax(a, axis=dim)), rtol=1e-12
    )
    check_gradients(lambda x: F.log_softmax(x, dim), a)
    check_gradients(lambda x: F.softmax(x, dim), a)


def test_log_softmax_is_stable_for_huge_logits():
    a = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 3.0]])
    out = F.log_softmax(Tensor(a), 1).data
    assert np.all(np.isfinite(out))
    # the reference subtracts two numbers of size 1e4, so its own error is ~1e-12 absolute
    np.testing.assert_allclose(out, a - logsumexp(a, axis=1, keepdims=True), atol=1e-10)
    # float32 logits of 1e4 overflow exp() unless the maximum is subtracted first
    out32 = F.log_softmax(Tensor(a.astype(np.float32)), 1).data
    assert out32.dtype == np.float32 and np.all(np.isfinite(out32))


def test_log_softmax_bad_dim():
    with pytest.raises(ValueError, match="dim"):
        F.log_softmax(Tensor(np.ones((2, 3))), 2)


# ------------------------------------------------------------------ losses
def reference_cross_entropy(logits, target):
    rows = np.arange(len(target))
    return -(scipy_log_softmax(logits, axis=1)[rows, target])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_values(reduction):
    logits, target = rand(5, 4), np.array([0, 3, 1, 1, 2])
    per_sample = reference_cross_entropy(logits, target)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    out = F.cross_entropy(Tensor(logits), target, reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradient(reduction):
    target = np.array([2, 0, 1])
    check_gradients(lambda x: F.cross_entropy(x, target, reduction=reduction), rand(3, 4))


def test_cross_entropy_with_huge_logits_is_finite_and_has_softmax_gradient():
    logits = np.array([[1e4, -1e4, 2e4], [3e4, 3e4, -5e3]])
    target = np.array([0, 1])
    x = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target)
    # by hand: row 0 loses 1e4 (its max is 2e4), row 1 ties two logits so loses log 2
    np.testing.assert_allclose(loss.item(), (1e4 + np.log(2.0)) / 2, rtol=1e-12)
    loss.backward()
    onehot = np.eye(3)[target]
    softmax = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    np.testing.assert_allclose(x.grad, (softmax - onehot) / 2, atol=1e-15)
    check_gradients(lambda t: F.cross_entropy(t, target), logits, atol=1e-6)


def test_cross_entropy_spatial_targets():
    target = np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]])  # (N, H, W)
    check_gradients(lambda x: F.cross_entropy(x, target), rand(2, 3, 2, 2))


def test_cross_entropy_accepts_integer_tensor_target():
    logits = rand(2, 3)
    out = F.cross_entropy(Tensor(logits), Tensor(np.array([1, 2])))
    np.testing.assert_allclose(out.item(), reference_cross_entropy(logits, [1, 2]).mean())


def test_cross_entropy_rejects_float_targets():
    with pytest.raises(TypeError, match=r"target.*integer class indices"):
        F.cross_entropy(Tensor(rand(2, 3)), np.array([0.0, 1.0]))


@pytest.mark.parametrize("bad", [3, -1, 10])
def test_cross_entropy_rejects_out_of_range_targets(bad):
    with pytest.raises(ValueError, match=rf"target holds class index {bad}, outside \[0, 3\)"):
        F.cross_entropy(Tensor(rand(2, 3)), np.array([0, bad]))


def test_cross_entropy_rejects_bad_shapes_and_reduction():
    with pytest.raises(ValueError, match="target has shape"):
        F.cross_entropy(Tensor(rand(2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(Tensor(rand(2, 3)), np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="input must have shape"):
        F.cross_entropy(Tensor(rand(3)), np.array([0]))


def test_nll_loss():
    logp = scipy_log_softmax(rand(4, 3), axis=1)
    target = np.array([2, 2, 0, 1])
    np.testing.assert_allclose(
        F.nll_loss(Tensor(logp), target).item(), -logp[np.arange(4), target].mean(), rtol=1e-12
    )
    check_gradients(lambda x: F.nll_loss(x, target, reduction="sum"), logp)


def test_mse_loss():
    a, b = rand(3, 2), rand(3, 2)
    assert F.mse_loss(Tensor(a), Tensor(b)).item() == pytest.approx(((a - b) ** 2).mean())
    check_gradients(lambda x, y: F.mse_loss(x, y), a, b)
    check_gradients(lambda x: F.mse_loss(x, b, reduction="sum"), a)
    with pytest.raises(ValueError, match="target has shape"):
        F.mse_loss(Tensor(a), Tensor(rand(3)))


# ------------------------------------------------------------------ linear
def test_linear():
    x, w, b = rand(4, 3), rand(2, 3), rand(2)
    np.testing.assert_allclose(
        F.linear(Tensor(x), Tensor(w), Tensor(b)).data, x @ w.T + b, rtol=1e-13
    )
    check_gradients(F.linear, x, w, b)
    check_gradients(lambda t, u: F.linear(t, u), rand(2, 5, 3), w)


def test_linear_errors_and_empty_batch():
    with pytest.raises(ValueError, match="in_features=3"):
        F.linear(Tensor(rand(4, 2)), Tensor(rand(5, 3)))
    with pytest.raises(ValueError, match="bias has shape"):
        F.linear(Tensor(rand(4, 3)), Tensor(rand(5, 3)), Tensor(rand(4)))
    assert F.linear(Tensor(np.zeros((0, 3))), Tensor(rand(5, 3))).shape == (0, 5)


# ------------------------------------------------------------------ conv / pool / batch norm
CONV_CASES = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=1),
    dict(stride=1, padding="same", dilation=1, groups=2),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_values_and_gradients(case):
    x, w, b = rand(2, 2, 6, 5), rand(4, 2 // case["groups"], 3, 2), rand(4)
    out = F.conv2d(Tensor(x), Tensor(w), Tensor(b), **case)
    if case["padding"] == "same":
        pads = (1, 1, 0, 1)  # kernel 3x2: the odd pixel goes bottom/right
    else:
        ph, pw = (case["padding"],) * 2 if isinstance(case["padding"], int) else case["padding"]
        pads = (ph, ph, pw, pw)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    expected = naive.conv2d(
        x,
        w,
        b,
        stride=pair(case["stride"]),
        padding=pads,
        dilation=pair(case["dilation"]),
        groups=case["groups"],
    )
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    check_gradients(lambda t, u, v: F.conv2d(t, u, v, **case), x, w, b)


def test_conv2d_without_bias_and_with_constant_weight():
    x, w = rand(1, 1, 5, 5), rand(2, 1, 3, 3)
    check_gradients(lambda t: F.conv2d(t, w, stride=2, padding=1), x)
    check_gradients(lambda u: F.conv2d(x, u), w)


def test_conv2d_non_contiguous_input_matches_contiguous():
    base = rand(2, 5, 6, 2).transpose(0, 3, 1, 2)  # (2, 2, 5, 6), not C-contiguous
    assert not base.flags.c_contiguous
    w = rand(3, 2, 3, 3)
    a = Tensor(base, requires_grad=True)
    c = Tensor(np.ascontiguousarray(base), requires_grad=True)
    F.conv2d(a, w, padding=1).sum().backward()
    F.conv2d(c, w, padding=1).sum().backward()
    np.testing.assert_array_equal(a.grad, c.grad)


def test_forward_and_backward_are_bit_identical_across_thread_counts(thread_counts):
    x, w, b = rand(3, 2, 8, 8), rand(4, 2, 3, 3), rand(4)
    gamma, beta, lin = rand(4), rand(4), rand(3, 4 * 2 * 2)
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            leaves = [Tensor(a, requires_grad=True) for a in (x, w, b, gamma, beta, lin)]
            tx, tw, tb, tg, tbeta, tlin = leaves
            h = F.conv2d(tx, tw, tb, stride=1, padding=1)
            h = F.relu(F.batch_norm(h, None, None, tg, tbeta, training=True))
            h = F.avg_pool2d(F.max_pool2d(h, 2), 2)
            out = F.linear(F.flatten(h), tlin)
            F.cross_entropy(out, np.array([0, 2, 1])).backward()
            results.append([out.data] + [leaf.grad for leaf in leaves])
    finally:
        numba.set_num_threads(previous)
    for first, second in zip(*results, strict=True):
        np.testing.assert_array_equal(first, second)


def test_empty_batch():
    x = Tensor(np.zeros((0, 2, 5, 5)), requires_grad=True)
    w = Tensor(rand(3, 2, 3, 3), requires_grad=True)
    out = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
    assert out.shape == (0, 3, 2, 2)
    out.sum().backward()
    assert x.grad.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 2, 3, 3)))


def test_max_pool2d():
    x = RNG.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) / 10.0  # distinct: no ties
    out = F.max_pool2d(Tensor(x), 2)
    np.testing.assert_array_equal(out.data, x.reshape(2, 2, 3, 2, 3, 2).max(axis=(3, 5)))
    check_gradients(lambda t: F.max_pool2d(t, 2), x)
    check_gradients(lambda t: F.max_pool2d(t, 3, stride=2, padding=1, ceil_mode=True), x)
    check_gradients(lambda t: F.max_pool2d(t, 2, stride=1, dilation=2), x)


def test_max_pool2d_return_indices():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, idx = F.max_pool2d(Tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[[5.0, 7.0], [13.0, 15.0]]]])
    np.testing.assert_array_equal(idx, [[[[5, 7], [13, 15]]]])


def test_avg_pool2d():
    x = rand(2, 2, 6, 6)
    np.testing.assert_allclose(
        F.avg_pool2d(Tensor(x), 2).data, x.reshape(2, 2, 3, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-13
    )
    check_gradients(lambda t: F.avg_pool2d(t, 2), x)
    check_gradients(lambda t: F.avg_pool2d(t, 3, stride=2, padding=1, count_include_pad=False), x)


def test_adaptive_avg_pool2d():
    x = rand(2, 3, 5, 7)
    np.testing.assert_allclose(
        F.adaptive_avg_pool2d(Tensor(x), 1).data, x.mean(axis=(2, 3), keepdims=True), rtol=1e-13
    )
    check_gradients(lambda t: F.adaptive_avg_pool2d(t, (2, 3)), x)


def reference_batch_norm(x, mean, var, weight, bias, eps):
    shape = (1, -1, 1, 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(
        shape
    ) + bias.reshape(shape)


def test_batch_norm_training_values_running_stats_and_gradients():
    x, w, b = rand(3, 2, 4, 3) * 2 + 1, rand(2), rand(2)
    running_mean, running_var = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    out = F.batch_norm(
        Tensor(x), running_mean, running_var, Tensor(w), Tensor(b), training=True, momentum=0.2
    )
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.data, reference_batch_norm(x, mean, var, w, b, 1e-5), rtol=1e-11)
    m = 3 * 4 * 3
    np.testing.assert_allclose(running_mean, 0.8 * np.array([0.5, -1.0]) + 0.2 * mean, rtol=1e-13)
    np.testing.assert_allclose(
        running_var, 0.8 * np.array([2.0, 0.5]) + 0.2 * var * m / (m - 1), rtol=1e-13
    )
    check_gradients(
        lambda t, u, v: F.batch_norm(t, None, None, u, v, training=True), x, w, b, rtol=1e-5
    )


def test_batch_norm_eval_uses_running_stats():
    x, w, b = rand(2, 2, 3, 3), rand(2), rand(2)
    running_mean, running_var = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    out = F.batch_norm(Tensor(x), running_mean, running_var, Tensor(w), Tensor(b))
    np.testing.assert_allclose(
        out.data, reference_batch_norm(x, running_mean, running_var, w, b, 1e-5), rtol=1e-12
    )
    np.testing.assert_array_equal(running_mean, [0.5, -1.0])  # untouched in eval
    check_gradients(lambda t, u, v: F.batch_norm(t, running_mean, running_var, u, v), x, w, b)


def test_flatten():
    x = rand(2, 3, 2, 2)
    assert F.flatten(Tensor(x)).shape == (2, 12)
    assert F.flatten(Tensor(x), 0, 1).shape == (6, 2, 2)
    check_gradients(F.flatten, x)
