"""The NLL loss and the SGD/Adam steps in numbaconv.ops: CPU kernels against the NumPy formulas.

The references below are the NumPy code the optimizers and ``nn.functional`` ran before these
entry points existed (PyTorch's SGD, fastai's Adam, ``take_along_axis`` for the loss); the CUDA
kernels are compared with the CPU ones in ``tests/cuda_cases.py`` (simulator).
"""

from __future__ import annotations

import numpy as np
import pytest

from numbaconv.kernels.cpu import loss as cpu_loss
from numbaconv.ops import adam_step, nll_loss, nll_loss_grad, sgd_step

DTYPES = [np.float32, np.float64]
# Fused multiply-adds (fastmath "contract") are the only difference from NumPy's rounding.
TOL = {np.float32: {"rtol": 1e-6, "atol": 1e-7}, np.float64: {"rtol": 1e-14, "atol": 1e-15}}


def _sgd_reference(data, grad, buf, lr, momentum, dampening, weight_decay, nesterov):
    step = grad + weight_decay * data if weight_decay else grad
    if momentum:
        if buf is None:
            buf = step.copy()
        else:
            buf = buf * momentum + (1.0 - dampening) * step
        step = step + momentum * buf if nesterov else buf
    return data - lr * step, buf


def _adam_reference(data, grad, m, v, step, lr, mom, sqr_mom, eps, wd, decouple_wd):
    if wd:
        if decouple_wd:
            data = data * (1.0 - lr * wd)
        else:
            grad = grad + wd * data
    m = m * mom + (1.0 - mom) * grad
    v = v * sqr_mom + (1.0 - sqr_mom) * (grad * grad)
    debias1, debias2 = 1.0 - mom**step, 1.0 - sqr_mom**step
    return data - (lr / debias1) * m / (np.sqrt(v / debias2) + eps), m, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "hyper",
    [
        {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        {"momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01, "nesterov": False},
        {"momentum": 0.8, "dampening": 0.0, "weight_decay": 0.0, "nesterov": True},
    ],
)
def test_sgd_step_matches_the_numpy_formula(dtype, hyper):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 3, 2)).astype(dtype)
    ref_data, ref_buf = data.copy(), None
    buf = np.empty_like(data)
    for i in range(3):
        grad = rng.standard_normal(data.shape).astype(dtype)
        sgd_step(
            data, grad, buf if hyper["momentum"] else None, lr=0.05, first_step=i == 0, **hyper
        )
        ref_data, ref_buf = _sgd_reference(ref_data, grad, ref_buf, 0.05, **hyper)
        assert data.dtype == dtype
        np.testing.assert_allclose(data, ref_data, **TOL[dtype])
        if hyper["momentum"]:
            np.testing.assert_allclose(buf, ref_buf, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decouple_wd", [True, False])
def test_adam_step_matches_the_numpy_formula(dtype, decouple_wd):
    rng = np.random.default_rng(1)
    data = rng.standard_normal(37).astype(dtype)
    m, v = np.zeros_like(data), np.zeros_like(data)
    ref = (data.copy(), m.copy(), v.copy())
    hyper = {"lr": 0.01, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.1}
    for step in range(1, 5):
        grad = rng.standard_normal(data.shape).astype(dtype)
        adam_step(data, grad, m, v, step=step, decouple_wd=decouple_wd, **hyper)
        ref = _adam_reference(*ref[:1], grad, *ref[1:], step, **hyper, decouple_wd=decouple_wd)
        for got, expected in zip((data, m, v), ref, strict=True):
            np.testing.assert_allclose(got, expected.astype(dtype), **TOL[dtype])


def test_steps_cast_the_gradient_and_accept_any_strides():
    data = np.ones((3, 4))
    grad = np.arange(24.0).reshape(3, 8)[:, ::2].astype(np.float32)  # strided, float32
    sgd_step(data, grad, lr=0.5)
    np.testing.assert_array_equal(data, 1.0 - 0.5 * grad.astype(np.float64))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p, g: sgd_step(p, g[:2], lr=0.1), ValueError, r"^grad has shape \(2, 3\)"),
        (lambda p, g: sgd_step(p, g, lr=-1.0), ValueError, r"^lr must be >= 0"),
        (lambda p, g: sgd_step(p, g, lr=0.1, momentum=0.9), ValueError, r"^momentum_buffer is"),
        (lambda p, g: sgd_step(p.T, g.T, lr=0.1), ValueError, r"^param must be a writable C-"),
        (lambda p, g: sgd_step(p.astype(int), g, lr=0.1), TypeError, r"^param has dtype int"),
        (lambda p, g: sgd_step(list(p), g, lr=0.1), TypeError, r"^param must be a NumPy or"),
        (
            lambda p, g: adam_step(
                p, g, p.copy(), p[:1], step=1, lr=0.1, mom=0.9, sqr_mom=0.9, eps=0.0
            ),
            ValueError,
            r"^sqr_avg has shape \(1, 3\)",
        ),
        (
            lambda p, g: adam_step(
                p, g, p.astype(np.float32), p.copy(), step=1, lr=0.1, mom=0.9, sqr_mom=0.9, eps=0.0
            ),
            TypeError,
            r"^grad_avg has dtype float32; expected float64",
        ),
        (
            lambda p, g: adam_step(
                p, g, p.copy(), p.copy(), step=0, lr=0.1, mom=0.9, sqr_mom=0.9, eps=0.0
            ),
            ValueError,
            r"^step must be an integer >= 1",
        ),
        (
            lambda p, g: adam_step(
                p, g, p.copy(), p.copy(), step=1, lr=0.1, mom=1.0, sqr_mom=0.9, eps=0.0
            ),
            ValueError,
            r"^mom must be in \[0, 1\)",
        ),
    ],
)
def test_step_validation(call, error, match):
    p, g = np.ones((4, 3)), np.ones((4, 3))
    with pytest.raises(error, match=match):
        call(p, g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4, 5), (3, 2, 0)])
def test_nll_loss_matches_take_along_axis(dtype, shape):
    rng = np.random.default_rng(2)
    log_probs = rng.standard_normal(shape).astype(dtype)
    target = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    index = np.expand_dims(target, 1)
    expected = -np.take_along_axis(log_probs, index, axis=1).squeeze(1)
    got = nll_loss(log_probs, target)
    assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    grad = rng.standard_normal(target.shape).astype(dtype)
    expected_grad = np.zeros(shape, dtype)
    np.put_along_axis(expected_grad, index, -np.expand_dims(grad, 1), axis=1)
    np.testing.assert_array_equal(nll_loss_grad(grad, target, shape), expected_grad)


def test_nll_loss_validation():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"^target holds class index 3, outside \[0, 3\)"):
        nll_loss(x, [0, 3])
    with pytest.raises(TypeError, match=r"^target must hold integer class indices"):
        nll_loss(x, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"^target has shape \(3,\); expected \(2,\)"):
        nll_loss(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"^log_probs must have shape \(N, C, ...\)"):
        nll_loss(np.zeros(3), [0])
    with pytest.raises(ValueError, match=r"^grad_output has shape \(3,\); expected \(2,\)"):
        nll_loss_grad(np.ones(3), [0, 1], (2, 3))


def test_cpu_nll_kernels_give_nan_for_a_label_out_of_range():
    # The ops refuse such labels on the host; the kernel still must not read out of bounds.
    log_probs = np.zeros((2, 3, 1))
    target = np.array([[1], [7]])
    out = np.empty((2, 1))
    cpu_loss.nll_forward(log_probs, target, out)
    assert out[0, 0] == 0 and np.isnan(out[1, 0])
    grad_input = np.empty((2, 3, 1))
    cpu_loss.nll_backward(np.ones((2, 1)), target, grad_input)
    np.testing.assert_array_equal(grad_input[0, :, 0], [0, -1, 0])
    assert np.isnan(grad_input[1]).all()
