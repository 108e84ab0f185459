"""One test body per backend: conv2d, pooling and batch norm on the CPU and on CUDA.

The ``backend`` fixture (tests/conftest.py) runs each property test on the CPU kernels and, where
CUDA is usable (the simulator in CI, with the small ``numbaconv-cudasim`` hypothesis profile),
on the CUDA kernels, always against the float64 references of ``tests/naive.py`` and
``tests/naive_pool.py``. Gradients are checked through the adjoint identity
``<f(x), g> = <x, f^T g>`` with the reference forward, or against the reference gradient.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.ops import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_grad,
    avg_pool2d,
    avg_pool2d_grad,
    batch_norm,
    batch_norm_grad,
    conv2d,
    conv2d_grad_bias,
    conv2d_grad_input,
    conv2d_grad_weight,
    max_pool2d,
    max_pool2d_grad,
)

from . import naive, naive_pool

# At most this many examples per test; the simulator profile lowers it further.
EXAMPLES = min(25, settings.default.max_examples)
PROPERTY = settings(max_examples=EXAMPLES, deadline=None)
RTOL = 1e-10  # float64 against the float64 references, CPU and CUDA alike


def _close(got, expected):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale)


# --- convolution ----------------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    spatial = tuple(
        draw(st.integers((k - 1) * d + 1, 7)) for k, d in zip(kernel, dilation, strict=True)
    )
    shape = (draw(st.integers(1, 2)), cin, *spatial)
    hyper = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return shape, (cout, cin // groups, *kernel), hyper, draw(st.integers(0, 2**31))


@PROPERTY
@given(case=conv_cases())
def test_conv2d_and_its_gradients_match_the_reference(backend, case):
    shape, w_shape, hyper, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    (ph, pw) = hyper["padding"]
    expected = naive.conv2d(
        x, w, b, hyper["stride"], (ph, ph, pw, pw), hyper["dilation"], hyper["groups"]
    )
    y = backend.get(conv2d(backend.put(x), backend.put(w), backend.put(b), **hyper))
    _close(y, expected)
    gy = rng.standard_normal(expected.shape)
    gx = backend.get(conv2d_grad_input(shape, backend.put(w), backend.put(gy), **hyper))
    gw = backend.get(conv2d_grad_weight(backend.put(x), w_shape, backend.put(gy), **hyper))
    gb = backend.get(conv2d_grad_bias(backend.put(gy)))
    # conv is linear in x and in w: <conv(x, w), gy> = <x, gx> = <w, gw> (bias left out).
    unbiased = expected - b.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(np.vdot(x, gx), np.vdot(unbiased, gy), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.vdot(w, gw), np.vdot(unbiased, gy), rtol=1e-9, atol=1e-9)
    _close(gb, gy.sum(axis=(0, 2, 3)))


# --- pooling --------------------------------------------------------------------------------


@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(draw(st.integers(k, 7)) for k in kernel)
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *spatial)
    return shape, kernel, stride, padding, draw(st.booleans()), draw(st.integers(0, 2**31))


@PROPERTY
@given(case=pool_cases(), ties=st.booleans())
def test_max_pool2d_and_its_gradient_match_the_reference(backend, case, ties):
    shape, kernel, stride, padding, ceil_mode, seed = case
    rng = np.random.default_rng(seed)
    # Small integers make ties: the gradient must go to the first maximum on both backends.
    x = rng.integers(-2, 3, size=shape).astype(float) if ties else rng.standard_normal(shape)
    args = (kernel, stride, padding, (1, 1), ceil_mode)
    expected, expected_idx = naive_pool.max_pool2d(x, *args)
    hyper = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    y, idx = backend.get(max_pool2d(backend.put(x), kernel, return_indices=True, **hyper))
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(idx, expected_idx)
    gy = rng.standard_normal(expected.shape)
    gx = backend.get(max_pool2d_grad(backend.put(gy), backend.put(x), kernel, **hyper))
    _close(gx, naive_pool.max_pool2d_grad(gy, x, *args))


@PROPERTY
@given(case=pool_cases(), count_include_pad=st.booleans())
def test_avg_pool2d_and_its_gradient_match_the_reference(backend, case, count_include_pad):
    shape, kernel, stride, padding, ceil_mode, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    args = (kernel, stride, padding, ceil_mode, count_include_pad, None)
    expected = naive_pool.avg_pool2d(x, *args)
    hyper = dict(
        stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad
    )
    _close(backend.get(avg_pool2d(backend.put(x), kernel, **hyper)), expected)
    gy = rng.standard_normal(expected.shape)
    gx = backend.get(avg_pool2d_grad(backend.put(gy), shape, kernel, **hyper))
    _close(gx, naive_pool.linear_grad(lambda p: naive_pool.avg_pool2d(p, *args), gy, shape))


@PROPERTY
@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 7), st.integers(1, 7)),
    out=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    seed=st.integers(0, 2**31),
)
def test_adaptive_avg_pool2d_and_its_gradient_match_the_reference(backend, shape, out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    expected = naive_pool.adaptive_avg_pool2d(x, *out)
    _close(backend.get(adaptive_avg_pool2d(backend.put(x), out)), expected)
    gy = rng.standard_normal(expected.shape)
    gx = backend.get(adaptive_avg_pool2d_grad(backend.put(gy), shape))
    forward = lambda p: naive_pool.adaptive_avg_pool2d(p, *out)  # noqa: E731
    _close(gx, naive_pool.linear_grad(forward, gy, shape))


# --- batch norm -----------------------------------------------------------------------------


@PROPERTY
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
    training=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_batch_norm_and_its_gradients_match_the_reference(backend, shape, training, seed):
    if training and shape[0] * shape[2] * shape[3] < 2:
        shape = (2, *shape[1:])  # training needs more than one value per channel
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.normal(1.0, 2.0, size=shape)
    weight, bias = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    running_mean, running_var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    expected, mean, invstd = naive.batch_norm(
        x, running_mean, running_var, weight, bias, training, eps=1e-5
    )
    rm, rv = backend.put(running_mean.copy()), backend.put(running_var.copy())
    y, stats = batch_norm(
        backend.put(x),
        rm,
        rv,
        backend.put(weight),
        backend.put(bias),
        training=training,
        momentum=0.1,
        return_stats=True,
    )
    _close(backend.get(y), expected)
    _close(backend.get(stats[1]), invstd)
    if training:
        new_rm, new_rv = naive.batch_norm_running(running_mean, running_var, x, 0.1)
        _close(backend.get(rm), new_rm)
        _close(backend.get(rv), new_rv)
    gy = rng.standard_normal(shape)
    gx, gw, gb = backend.get(
        batch_norm_grad(
            backend.put(gy), backend.put(x), stats[0], stats[1], backend.put(weight), training
        )
    )
    xhat = (x - mean.reshape(1, -1, 1, 1)) * invstd.reshape(1, -1, 1, 1)
    _close(gw, (gy * xhat).sum(axis=(0, 2, 3)))
    _close(gb, gy.sum(axis=(0, 2, 3)))
    # The input gradient against central differences of the reference (linear in eval).
    loss = lambda v: float(  # noqa: E731
        np.vdot(naive.batch_norm(v, running_mean, running_var, weight, bias, training, 1e-5)[0], gy)
    )
    np.testing.assert_allclose(gx, naive.numeric_grad(loss, x), rtol=1e-5, atol=1e-6)
