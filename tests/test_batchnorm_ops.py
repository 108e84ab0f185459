"""batch_norm / batch_norm_grad against NumPy references and finite differences."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.ops.norm import batch_norm, batch_norm_grad

AXES = (0, 2, 3)


def reference_forward(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """Float64 NumPy batch norm; returns y, mean, invstd, new running mean/var."""
    x = np.asarray(x, np.float64)
    c = x.shape[1]
    weight = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    bias = np.zeros(c) if bias is None else np.asarray(bias, np.float64)
    new_rm = new_rv = None
    if training:
        mean = x.mean(axis=AXES)
        var = x.var(axis=AXES)
        if running_mean is not None:
            new_rm = (1 - momentum) * running_mean + momentum * mean
            new_rv = (1 - momentum) * running_var + momentum * x.var(axis=AXES, ddof=1)
    else:
        mean = np.asarray(running_mean, np.float64)
        var = np.asarray(running_var, np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    shape = (1, c, 1, 1)
    y = (x - mean.reshape(shape)) * invstd.reshape(shape) * weight.reshape(shape)
    y = y + bias.reshape(shape)
    return y, mean, invstd, new_rm, new_rv


def forward_fn(x, weight, bias, running_mean, running_var, training, eps=1e-5):
    """y as a function of (x, weight, bias) with no side effects, for finite differences."""
    rm = None if training else running_mean
    rv = None if training else running_var
    return batch_norm(x, rm, rv, weight, bias, training=training, eps=eps)


def central_difference(f, arr, h=1e-6):
    """d f(arr) / d arr for scalar-valued f, perturbing ``arr`` in place."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + h
        up = f()
        arr[idx] = orig - h
        down = f()
        arr[idx] = orig
        grad[idx] = (up - down) / (2 * h)
    return grad


def random_case(rng, shape, dtype=np.float64):
    c = shape[1]
    x = rng.normal(1.5, 2.0, size=shape).astype(dtype)
    weight = rng.uniform(0.5, 2.0, size=c).astype(dtype)
    bias = rng.normal(size=c).astype(dtype)
    running_mean = rng.normal(size=c).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, size=c).astype(dtype)
    return x, weight, bias, running_mean, running_var


shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)
).filter(lambda s: s[0] * s[2] * s[3] > 1)


# ----------------------------------------------------------------------------- forward


def test_hand_computed_single_channel():
    # One channel holding 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased var 5/3.
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    running_mean = np.array([0.0])
    running_var = np.array([1.0])
    y, (mean, invstd) = batch_norm(
        x, running_mean, running_var, training=True, eps=1e-5, return_stats=True
    )
    expected_invstd = 1.0 / np.sqrt(1.25 + 1e-5)
    np.testing.assert_allclose(mean, [2.5], rtol=1e-15)
    np.testing.assert_allclose(invstd, [expected_invstd], rtol=1e-15)
    np.testing.assert_allclose(
        y.ravel(), np.array([-1.5, -0.5, 0.5, 1.5]) * expected_invstd, rtol=1e-14
    )
    np.testing.assert_allclose(running_mean, [0.25], rtol=1e-15)
    np.testing.assert_allclose(running_var, [0.9 + 0.1 * 5.0 / 3.0], rtol=1e-15)


@settings(max_examples=50, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), momentum=st.sampled_from([0.0, 0.1, 1.0]))
def test_training_forward_matches_numpy(shape, seed, momentum):
    rng = np.random.default_rng(seed)
    x, weight, bias, running_mean, running_var = random_case(rng, shape)
    expected = reference_forward(x, running_mean, running_var, weight, bias, True, momentum, 1e-5)
    y, (mean, invstd) = batch_norm(
        x,
        running_mean,
        running_var,
        weight,
        bias,
        training=True,
        momentum=momentum,
        return_stats=True,
    )
    assert y.dtype == np.float64 and y.shape == shape
    np.testing.assert_allclose(y, expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean, expected[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(invstd, expected[2], rtol=1e-10)
    np.testing.assert_allclose(running_mean, expected[3], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(running_var, expected[4], rtol=1e-10)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_eval_forward_uses_running_stats_and_leaves_them(shape, seed):
    rng = np.random.default_rng(seed)
    x, weight, bias, running_mean, running_var = random_case(rng, shape)
    rm_before, rv_before = running_mean.copy(), running_var.copy()
    expected = reference_forward(x, running_mean, running_var, weight, bias, False, 0.1, 1e-3)
    y, (mean, invstd) = batch_norm(
        x, running_mean, running_var, weight, bias, eps=1e-3, return_stats=True
    )
    np.testing.assert_allclose(y, expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(mean, rm_before)
    np.testing.assert_allclose(invstd, 1.0 / np.sqrt(rv_before + 1e-3), rtol=1e-15)
    np.testing.assert_array_equal(running_mean, rm_before)
    np.testing.assert_array_equal(running_var, rv_before)
    # The returned mean is a copy: later updates to the running mean must not change it.
    running_mean += 1.0
    np.testing.assert_array_equal(mean, rm_before)


def test_training_without_running_stats():
    rng = np.random.default_rng(1)
    x, weight, bias, _, _ = random_case(rng, (2, 3, 4, 4))
    expected = reference_forward(x, None, None, weight, bias, True, 0.1, 1e-5)
    y = batch_norm(x, None, None, weight, bias, training=True)
    np.testing.assert_allclose(y, expected[0], rtol=1e-10, atol=1e-12)


def test_default_weight_and_bias_are_one_and_zero():
    rng = np.random.default_rng(2)
    x, _, _, rm, rv = random_case(rng, (2, 3, 3, 3))
    c = x.shape[1]
    np.testing.assert_array_equal(
        batch_norm(x, rm, rv), batch_norm(x, rm, rv, np.ones(c), np.zeros(c))
    )


def test_strided_running_stats_are_updated_in_place():
    rng = np.random.default_rng(3)
    x, weight, bias, rm, rv = random_case(rng, (2, 3, 4, 4))
    storage_mean = np.zeros(6)
    storage_var = np.ones(6)
    running_mean, running_var = storage_mean[::2], storage_var[::2]
    running_mean[...] = rm
    running_var[...] = rv
    expected = reference_forward(x, rm, rv, weight, bias, True, 0.1, 1e-5)
    batch_norm(x, running_mean, running_var, weight, bias, training=True)
    np.testing.assert_allclose(storage_mean[::2], expected[3], rtol=1e-12)
    np.testing.assert_allclose(storage_var[::2], expected[4], rtol=1e-12)
    np.testing.assert_array_equal(storage_mean[1::2], 0.0)
    np.testing.assert_array_equal(storage_var[1::2], 1.0)


def test_non_contiguous_inputs_match_contiguous_copies():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(3, 5, 6, 4))
    x = base.transpose(0, 1, 3, 2)[:, ::2]  # (3, 3, 4, 6), neither C- nor F-contiguous
    weight_store = rng.uniform(0.5, 2.0, size=6)
    weight = weight_store[::2]
    bias = rng.normal(size=3)
    y, (mean, invstd) = batch_norm(x, None, None, weight, bias, training=True, return_stats=True)
    y_c, (mean_c, invstd_c) = batch_norm(
        np.ascontiguousarray(x),
        None,
        None,
        weight.copy(),
        bias,
        training=True,
        return_stats=True,
    )
    np.testing.assert_array_equal(y, y_c)
    np.testing.assert_array_equal(mean, mean_c)
    np.testing.assert_array_equal(invstd, invstd_c)
    g = rng.normal(size=(3, 3, 6, 4)).transpose(0, 1, 3, 2)
    grads = batch_norm_grad(g, x, mean, invstd, weight)
    grads_c = batch_norm_grad(
        np.ascontiguousarray(g), np.ascontiguousarray(x), mean, invstd, weight.copy()
    )
    for a, b in zip(grads, grads_c, strict=True):
        np.testing.assert_array_equal(a, b)


def test_integer_input_is_computed_in_float64():
    x = np.arange(2 * 2 * 3 * 3).reshape(2, 2, 3, 3)
    y = batch_norm(x, None, None, training=True)
    assert y.dtype == np.float64
    expected = reference_forward(x, None, None, None, None, True, 0.1, 1e-5)[0]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_float32_matches_float64_reference():
    rng = np.random.default_rng(5)
    x, weight, bias, rm, rv = random_case(rng, (3, 4, 6, 5), np.float32)
    rm64, rv64 = rm.astype(np.float64), rv.astype(np.float64)
    expected = reference_forward(x, rm64, rv64, weight, bias, True, 0.1, 1e-5)
    y, (mean, invstd) = batch_norm(x, rm, rv, weight, bias, training=True, return_stats=True)
    for arr in (y, mean, invstd, rm, rv):
        assert arr.dtype == np.float32
    np.testing.assert_allclose(y, expected[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean, expected[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(invstd, expected[2], rtol=1e-5)
    np.testing.assert_allclose(rm, expected[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, expected[4], rtol=1e-5)

    g = rng.normal(size=x.shape).astype(np.float32)
    gi, gw, gb = batch_norm_grad(g, x, mean, invstd, weight)
    gi64, gw64, gb64 = batch_norm_grad(
        g.astype(np.float64),
        x.astype(np.float64),
        expected[1],
        expected[2],
        weight.astype(np.float64),
    )
    assert gi.dtype == gw.dtype == gb.dtype == np.float32
    np.testing.assert_allclose(gi, gi64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, gw64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, gb64, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_central_differences(training):
    rng = np.random.default_rng(6 + training)
    x, weight, bias, rm, rv = random_case(rng, (2, 3, 3, 2))
    upstream = rng.normal(size=x.shape)

    def loss():
        return float(np.sum(forward_fn(x, weight, bias, rm, rv, training) * upstream))

    _, (mean, invstd) = batch_norm(
        x,
        None if training else rm,
        None if training else rv,
        weight,
        bias,
        training=training,
        return_stats=True,
    )
    grad_input, grad_weight, grad_bias = batch_norm_grad(
        upstream, x, mean, invstd, weight, training=training
    )
    np.testing.assert_allclose(grad_input, central_difference(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_weight, central_difference(loss, weight), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_bias, central_difference(loss, bias), rtol=1e-6, atol=1e-7)


def test_training_and_eval_input_gradients_differ():
    # Guards against a training flag that is ignored: the batch-statistics terms matter.
    rng = np.random.default_rng(8)
    x, weight, _, _, _ = random_case(rng, (2, 2, 3, 3))
    _, (mean, invstd) = batch_norm(x, None, None, weight, training=True, return_stats=True)
    g = rng.normal(size=x.shape)
    gi_train = batch_norm_grad(g, x, mean, invstd, weight, training=True)[0]
    gi_eval = batch_norm_grad(g, x, mean, invstd, weight, training=False)[0]
    assert np.max(np.abs(gi_train - gi_eval)) > 1e-3
    # Summed over a channel, the training gradient vanishes (y is shift-invariant in x).
    np.testing.assert_allclose(gi_train.sum(axis=AXES), 0.0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), training=st.booleans())
def test_gradients_match_numpy_formula(shape, seed, training):
    rng = np.random.default_rng(seed)
    x, weight, _, _, _ = random_case(rng, shape)
    mean = rng.normal(size=shape[1])
    invstd = rng.uniform(0.5, 2.0, size=shape[1])
    g = rng.normal(size=shape)
    r = (1, shape[1], 1, 1)
    xhat = (x - mean.reshape(r)) * invstd.reshape(r)
    m = shape[0] * shape[2] * shape[3]
    sum_g = g.sum(axis=AXES)
    sum_gx = (g * xhat).sum(axis=AXES)
    if training:
        expected = (invstd * weight / m).reshape(r) * (
            m * g - sum_g.reshape(r) - xhat * sum_gx.reshape(r)
        )
    else:
        expected = (invstd * weight).reshape(r) * g
    gi, gw, gb = batch_norm_grad(g, x, mean, invstd, weight, training=training)
    np.testing.assert_allclose(gi, expected, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gw, sum_gx, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(gb, sum_g, rtol=1e-10, atol=1e-11)


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bit_identical_across_thread_counts(dtype, thread_counts):
    rng = np.random.default_rng(9)
    x, weight, bias, rm, rv = random_case(rng, (3, 4, 12, 12), dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            rm_t, rv_t = rm.copy(), rv.copy()
            y, (mean, invstd) = batch_norm(
                x, rm_t, rv_t, weight, bias, training=True, return_stats=True
            )
            y_eval = batch_norm(x, rm_t, rv_t, weight, bias)
            grads = batch_norm_grad(g, x, mean, invstd, weight, training=True)
            grads_eval = batch_norm_grad(g, x, rm_t, invstd, weight, training=False)
            results.append((y, mean, invstd, rm_t, rv_t, y_eval, *grads, *grads_eval))
    finally:
        numba.set_num_threads(previous)
    for a, b in zip(*results, strict=True):
        assert a.tobytes() == b.tobytes()


# ----------------------------------------------------------------------------- NaN / Inf


def test_nan_in_training_poisons_only_its_channel():
    rng = np.random.default_rng(10)
    x, weight, bias, rm, rv = random_case(rng, (2, 3, 4, 4))
    x[1, 1, 2, 3] = np.nan
    expected = reference_forward(x, rm, rv, weight, bias, True, 0.1, 1e-5)
    y = batch_norm(x, rm, rv, weight, bias, training=True)
    assert np.isnan(y[:, 1]).all()
    assert np.isfinite(y[:, [0, 2]]).all()
    np.testing.assert_allclose(y, expected[0], rtol=1e-10, atol=1e-12)  # NaNs compare equal
    assert np.isnan(rm[1]) and np.isnan(rv[1])
    np.testing.assert_allclose(rm, expected[3], rtol=1e-12)


def test_nan_and_inf_in_eval_stay_elementwise():
    rng = np.random.default_rng(11)
    x, weight, bias, rm, rv = random_case(rng, (2, 2, 3, 3))
    x[0, 0, 1, 1] = np.nan
    x[1, 1, 0, 2] = np.inf
    y = batch_norm(x, rm, rv, weight, bias)
    expected = reference_forward(x, rm, rv, weight, bias, False, 0.1, 1e-5)[0]
    assert np.isnan(y[0, 0, 1, 1]) and y[1, 1, 0, 2] == np.inf
    assert np.isfinite(
        np.delete(
            y.ravel(), [np.ravel_multi_index(i, y.shape) for i in [(0, 0, 1, 1), (1, 1, 0, 2)]]
        )
    ).all()
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_nan_in_grad_output_propagates():
    rng = np.random.default_rng(12)
    x, weight, _, _, _ = random_case(rng, (2, 2, 3, 3))
    _, (mean, invstd) = batch_norm(x, None, None, weight, training=True, return_stats=True)
    g = rng.normal(size=x.shape)
    g[0, 1, 0, 0] = np.nan
    gi, gw, gb = batch_norm_grad(g, x, mean, invstd, weight, training=True)
    assert np.isnan(gi[:, 1]).all() and np.isfinite(gi[:, 0]).all()
    assert np.isnan(gw[1]) and np.isnan(gb[1]) and np.isfinite([gw[0], gb[0]]).all()
    gi_eval = batch_norm_grad(g, x, mean, invstd, weight, training=False)[0]
    assert np.isnan(gi_eval[0, 1, 0, 0]) and np.isnan(gi_eval).sum() == 1


# ----------------------------------------------------------------------------- empty batches


def test_empty_batch_in_eval_returns_empty():
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, (mean, invstd) = batch_norm(np.zeros((0, 3, 4, 4), np.float32), rm, rv, return_stats=True)
    assert y.shape == (0, 3, 4, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(1 + 1e-5), rtol=1e-6)


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 3, 0, 4), (1, 3, 1, 1)])
def test_training_needs_more_than_one_value_per_channel(shape):
    rm, rv = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(np.zeros(shape), rm, rv, training=True)
    np.testing.assert_array_equal(rm, 0.0)
    np.testing.assert_array_equal(rv, 1.0)


def test_empty_batch_gradients_are_empty_and_zero():
    gi, gw, gb = batch_norm_grad(
        np.zeros((0, 2, 3, 3)), np.zeros((0, 2, 3, 3)), np.zeros(2), np.ones(2)
    )
    assert gi.shape == (0, 2, 3, 3)
    np.testing.assert_array_equal(gw, [0.0, 0.0])
    np.testing.assert_array_equal(gb, [0.0, 0.0])


# ----------------------------------------------------------------------------- bad inputs


def _good():
    return np.ones((2, 3, 4, 4)), np.zeros(3), np.ones(3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.ones((2, 3, 4))}, ValueError, "x must be 4-D"),
        ({"x": np.ones((2, 3, 4, 4), np.complex128)}, TypeError, "x has unsupported dtype"),
        ({"x": np.ones((2, 3, 4, 4), np.float16)}, TypeError, "x has dtype float16"),
        ({"running_mean": np.zeros(4)}, ValueError, "running_mean has shape"),
        ({"running_var": np.ones((3, 1))}, ValueError, "running_var must be 1-D"),
        ({"running_mean": np.zeros(3, np.float32)}, TypeError, "running_mean has dtype float32"),
        ({"running_var": [1.0, 1.0, 1.0]}, TypeError, "running_var must be a NumPy array"),
        ({"running_var": None}, ValueError, "both be arrays or both be None"),
        ({"weight": np.ones(2)}, ValueError, "weight has shape"),
        ({"bias": np.ones((1, 3))}, ValueError, "bias must be 1-D"),
        ({"bias": np.array(["a", "b", "c"])}, TypeError, "bias has unsupported dtype"),
        ({"momentum": -0.1}, ValueError, "momentum must be in"),
        ({"momentum": 1.5}, ValueError, "momentum must be in"),
        ({"momentum": None}, TypeError, "momentum must be a real number"),
        ({"eps": 0.0}, ValueError, "eps must be > 0"),
        ({"eps": -1e-5}, ValueError, "eps must be > 0"),
        ({"eps": float("nan")}, ValueError, "eps must be finite"),
        ({"training": 1}, TypeError, "training must be True or False"),
        ({"return_stats": "yes"}, TypeError, "return_stats must be True or False"),
    ],
)
def test_batch_norm_bad_inputs(kwargs, error, match):
    x, rm, rv = _good()
    args = {"x": x, "running_mean": rm, "running_var": rv, "training": True} | kwargs
    with pytest.raises(error, match=match):
        batch_norm(**args)


def test_eval_without_running_stats_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        batch_norm(np.ones((2, 3, 4, 4)), None, None, training=False)


def test_read_only_running_stats_are_refused_in_training():
    x, rm, rv = _good()
    rm.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean is read-only"):
        batch_norm(x, rm, rv, training=True)
    # Eval mode only reads them.
    assert batch_norm(x, rm, rv).shape == x.shape


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grad_output": np.ones((2, 3, 4, 5))}, ValueError, "grad_output has shape"),
        ({"grad_output": np.ones((2, 3, 4))}, ValueError, "grad_output must be 4-D"),
        ({"x": np.ones((3, 4, 4))}, ValueError, "x must be 4-D"),
        ({"mean": np.zeros(2)}, ValueError, "mean has shape"),
        ({"invstd": np.ones((3, 1))}, ValueError, "invstd must be 1-D"),
        ({"weight": np.ones(4)}, ValueError, "weight has shape"),
        ({"training": None}, TypeError, "training must be True or False"),
        ({"x": np.ones((2, 3, 4, 4), np.complex64)}, TypeError, "x has unsupported dtype"),
    ],
)
def test_batch_norm_grad_bad_inputs(kwargs, error, match):
    args = {
        "grad_output": np.ones((2, 3, 4, 4)),
        "x": np.ones((2, 3, 4, 4)),
        "mean": np.zeros(3),
        "invstd": np.ones(3),
    } | kwargs
    with pytest.raises(error, match=match):
        batch_norm_grad(**args)
