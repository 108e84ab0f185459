"""Pooling forward and backward against tests/naive_pool.py, hand values and finite differences."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_grad,
    avg_pool2d,
    avg_pool2d_grad,
    max_pool2d,
    max_pool2d_grad,
)
from tests import naive_pool as naive

SETTINGS = settings(max_examples=40, deadline=None)
FD_SETTINGS = settings(max_examples=20, deadline=None)


def _data(rng, shape, kind):
    if kind == "integers":  # many ties
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    if kind == "distinct":  # gaps of 0.01: no ties, argmax stable under a 1e-4 nudge
        return rng.permutation(np.prod(shape)).reshape(shape) * 0.01 - 0.5
    return rng.standard_normal(shape)


@st.composite
def max_configs(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(
        draw(st.integers(0, ((k - 1) * d + 1) // 2)) for k, d in zip(kernel, dilation, strict=True)
    )
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # An input at least as large as the padded window, so the output is never empty.
    spatial = tuple(
        draw(st.integers(max(1, (k - 1) * d + 1 - 2 * p), max(8, (k - 1) * d + 1)))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *spatial)
    return dict(
        shape=shape,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        ceil_mode=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def avg_configs(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    spatial = tuple(
        draw(st.integers(max(1, k - 2 * p), 8)) for k, p in zip(kernel, padding, strict=True)
    )
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *spatial)
    return dict(
        shape=shape,
        kernel=kernel,
        stride=stride,
        padding=padding,
        ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
        divisor_override=draw(st.sampled_from([None, None, 1, 3, -2])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@st.composite
def adaptive_configs(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    shape += (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    output_size = draw(
        st.one_of(
            st.integers(1, 9),
            st.tuples(st.none() | st.integers(1, 9), st.none() | st.integers(1, 9)),
        )
    )
    return dict(shape=shape, output_size=output_size, seed=draw(st.integers(0, 2**32 - 1)))


def _max_args(cfg):
    return cfg["kernel"], cfg["stride"], cfg["padding"], cfg["dilation"], cfg["ceil_mode"]


def _avg_args(cfg):
    keys = ("kernel", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    return tuple(cfg[k] for k in keys)


def _adaptive_hw(cfg):
    size = cfg["output_size"]
    if isinstance(size, int):
        return size, size
    return tuple(s if o is None else o for o, s in zip(size, cfg["shape"][2:], strict=True))


def _central_difference(loss, x, eps):
    grad = np.empty_like(x)
    for k in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[k] += eps
        minus.flat[k] -= eps
        grad.flat[k] = (loss(plus) - loss(minus)) / (2 * eps)
    return grad


# --- forward against the naive references -------------------------------------------------


@SETTINGS
@given(cfg=max_configs(), kind=st.sampled_from(["normal", "integers"]))
def test_max_pool2d_matches_naive(cfg, kind):
    x = _data(np.random.default_rng(cfg["seed"]), cfg["shape"], kind)
    expected, expected_idx = naive.max_pool2d(x, *_max_args(cfg))
    out, idx = max_pool2d(x, *_max_args(cfg), return_indices=True)
    assert out.dtype == np.float64 and idx.dtype == np.int64
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(idx, expected_idx)
    # Max pooling only selects, so float32 must select the same elements exactly.
    x32 = x.astype(np.float32)
    out32, idx32 = max_pool2d(x32, *_max_args(cfg), return_indices=True)
    expected32, expected_idx32 = naive.max_pool2d(x32.astype(np.float64), *_max_args(cfg))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected32, rtol=1e-5)
    np.testing.assert_array_equal(idx32, expected_idx32)


@SETTINGS
@given(cfg=avg_configs())
def test_avg_pool2d_matches_naive(cfg):
    x = _data(np.random.default_rng(cfg["seed"]), cfg["shape"], "normal")
    expected = naive.avg_pool2d(x, *_avg_args(cfg))
    out = avg_pool2d(x, *_avg_args(cfg))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out32 = avg_pool2d(x.astype(np.float32), *_avg_args(cfg))
    expected32 = naive.avg_pool2d(x.astype(np.float32).astype(np.float64), *_avg_args(cfg))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected32, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(cfg=adaptive_configs())
def test_adaptive_avg_pool2d_matches_naive(cfg):
    x = _data(np.random.default_rng(cfg["seed"]), cfg["shape"], "normal")
    expected = naive.adaptive_avg_pool2d(x, *_adaptive_hw(cfg))
    out = adaptive_avg_pool2d(x, cfg["output_size"])
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out32 = adaptive_avg_pool2d(x.astype(np.float32), cfg["output_size"])
    expected32 = naive.adaptive_avg_pool2d(x.astype(np.float32), *_adaptive_hw(cfg))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected32, rtol=1e-5, atol=1e-6)


# --- gradients: naive references and finite differences ---------------------------------


@SETTINGS
@given(cfg=max_configs(), kind=st.sampled_from(["normal", "integers"]))
def test_max_pool2d_grad_matches_naive(cfg, kind):
    rng = np.random.default_rng(cfg["seed"])
    x = _data(rng, cfg["shape"], kind)
    out_shape = max_pool2d(x, *_max_args(cfg)).shape
    grad_output = rng.standard_normal(out_shape)
    expected = naive.max_pool2d_grad(grad_output, x, *_max_args(cfg))
    grad = max_pool2d_grad(grad_output, x, *_max_args(cfg))
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)
    grad32 = max_pool2d_grad(grad_output.astype(np.float32), x.astype(np.float32), *_max_args(cfg))
    expected32 = naive.max_pool2d_grad(
        grad_output.astype(np.float32), x.astype(np.float32), *_max_args(cfg)
    )
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, expected32, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(cfg=avg_configs())
def test_avg_pool2d_grad_matches_naive(cfg):
    rng = np.random.default_rng(cfg["seed"])
    out_shape = avg_pool2d(np.zeros(cfg["shape"]), *_avg_args(cfg)).shape
    grad_output = rng.standard_normal(out_shape)
    expected = naive.linear_grad(
        lambda plane: naive.avg_pool2d(plane, *_avg_args(cfg)), grad_output, cfg["shape"]
    )
    grad = avg_pool2d_grad(grad_output, cfg["shape"], *_avg_args(cfg))
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)
    grad32 = avg_pool2d_grad(grad_output.astype(np.float32), cfg["shape"], *_avg_args(cfg))
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, expected, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(cfg=adaptive_configs())
def test_adaptive_avg_pool2d_grad_matches_naive(cfg):
    rng = np.random.default_rng(cfg["seed"])
    grad_output = rng.standard_normal(cfg["shape"][:2] + _adaptive_hw(cfg))
    expected = naive.linear_grad(
        lambda plane: naive.adaptive_avg_pool2d(plane, *_adaptive_hw(cfg)),
        grad_output,
        cfg["shape"],
    )
    grad = adaptive_avg_pool2d_grad(grad_output, cfg["shape"])
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)
    grad32 = adaptive_avg_pool2d_grad(grad_output.astype(np.float32), cfg["shape"])
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, expected, rtol=1e-5, atol=1e-5)


@FD_SETTINGS
@given(cfg=max_configs())
def test_max_pool2d_grad_finite_differences(cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = _data(rng, cfg["shape"], "distinct")
    grad_output = rng.standard_normal(max_pool2d(x, *_max_args(cfg)).shape)

    def loss(values):
        out = max_pool2d(values, *_max_args(cfg))
        # Windows that cover no input hold -inf and carry no gradient.
        return np.sum(np.where(np.isfinite(out), out, 0.0) * grad_output)

    expected = _central_difference(loss, x, 1e-4)
    grad = max_pool2d_grad(grad_output, x, *_max_args(cfg))
    np.testing.assert_allclose(grad, expected, rtol=1e-7, atol=1e-8)


@FD_SETTINGS
@given(cfg=avg_configs())
def test_avg_pool2d_grad_finite_differences(cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    grad_output = rng.standard_normal(avg_pool2d(x, *_avg_args(cfg)).shape)
    expected = _central_difference(
        lambda values: np.sum(avg_pool2d(values, *_avg_args(cfg)) * grad_output), x, 1e-5
    )
    grad = avg_pool2d_grad(grad_output, x.shape, *_avg_args(cfg))
    np.testing.assert_allclose(grad, expected, rtol=1e-7, atol=1e-8)


@FD_SETTINGS
@given(cfg=adaptive_configs())
def test_adaptive_avg_pool2d_grad_finite_differences(cfg):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"])
    grad_output = rng.standard_normal(adaptive_avg_pool2d(x, cfg["output_size"]).shape)
    expected = _central_difference(
        lambda values: np.sum(adaptive_avg_pool2d(values, cfg["output_size"]) * grad_output),
        x,
        1e-5,
    )
    grad = adaptive_avg_pool2d_grad(grad_output, x.shape)
    np.testing.assert_allclose(grad, expected, rtol=1e-7, atol=1e-8)


# --- hand-computed cases -----------------------------------------------------------------


def test_max_pool2d_hand_computed_4x4():
    x = np.array([[1, 2, 5, 3], [4, 0, 1, 2], [7, 8, 2, 9], [3, 1, 6, 0]], dtype=np.float64)
    out, idx = max_pool2d(x[None, None], 2, return_indices=True)
    np.testing.assert_array_equal(out[0, 0], [[4, 5], [8, 9]])
    np.testing.assert_array_equal(idx[0, 0], [[4, 2], [9, 11]])
    grad = max_pool2d_grad(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), x[None, None], 2)
    expected = np.zeros((4, 4))
    expected[1, 0], expected[0, 2], expected[2, 1], expected[2, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(grad[0, 0], expected)


def test_max_pool2d_ties_and_overlap_go_to_first_maximum():
    x = np.array([[1, 3, 3], [3, 0, 1], [2, 3, 3]], dtype=np.float64)[None, None]
    out, idx = max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(out[0, 0], [[3, 3], [3, 3]])
    # Row-major first maximum of each 2x2 window; (0, 1) wins two overlapping windows.
    np.testing.assert_array_equal(idx[0, 0], [[1, 1], [3, 7]])
    grad = max_pool2d_grad(np.array([[[[1.0, 2.0], [4.0, 8.0]]]]), x, 2, stride=1)
    np.testing.assert_array_equal(grad[0, 0], [[0, 3, 0], [4, 0, 0], [0, 8, 0]])


def test_avg_pool2d_padded_corner_divisor():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    # Top-left window covers x[0:2, 0:2] = 0 + 1 + 4 + 5 = 10 and five padding cells.
    included = avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)
    excluded = avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    assert included[0, 0, 0, 0] == 10 / 9
    assert excluded[0, 0, 0, 0] == 10 / 4
    overridden = avg_pool2d(x, 3, stride=1, padding=1, divisor_override=5)
    assert overridden[0, 0, 0, 0] == 2.0
    grad = avg_pool2d_grad(np.ones((1, 1, 4, 4)), (1, 1, 4, 4), 3, 1, 1, count_include_pad=False)
    # Corner cell: in the windows at (0,0) [4 cells], (0,1), (1,0) [6 cells], (1,1) [9 cells].
    assert grad[0, 0, 0, 0] == pytest.approx(1 / 4 + 2 / 6 + 1 / 9, rel=1e-15)


def test_ceil_mode_partial_window_divisor():
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    args = dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1), ceil_mode=True)
    # Windows start at -1, 1, 3; the last reaches 5, beyond the padded extent [-1, 5).
    np.testing.assert_array_equal(avg_pool2d(x, **args)[0, 0, 0], [3 / 3, 9 / 3, 4 / 2])
    np.testing.assert_array_equal(
        avg_pool2d(x, **args, count_include_pad=False)[0, 0, 0], [3 / 2, 9 / 3, 4 / 1]
    )
    out, idx = max_pool2d(x, **args, return_indices=True)
    np.testing.assert_array_equal(out[0, 0, 0], [2, 4, 4])
    np.testing.assert_array_equal(idx[0, 0, 0], [1, 3, 3])


def test_ceil_mode_drops_window_starting_in_padding():
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 1, 3)
    args = dict(kernel_size=(1, 2), stride=(1, 2), padding=(0, 1), ceil_mode=True)
    # ceil((3 + 2 - 2) / 2) + 1 = 3 windows, but the third would start at 3 = W: dropped.
    out, idx = max_pool2d(x, **args, return_indices=True)
    np.testing.assert_array_equal(out, [[[[1, 3]]]])
    np.testing.assert_array_equal(idx, [[[[0, 2]]]])
    np.testing.assert_array_equal(avg_pool2d(x, **args), [[[[0.5, 2.5]]]])


def test_max_pool2d_window_covering_no_input():
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1)
    args = dict(kernel_size=(2, 1), stride=1, padding=(3, 0), dilation=(5, 1))
    # Windows read rows {-3, 2}, {-2, 3}, {-1, 4}, {0, 5}: the middle two see only padding.
    out, idx = max_pool2d(x, **args, return_indices=True)
    np.testing.assert_array_equal(out[0, 0, :, 0], [3, -np.inf, -np.inf, 1])
    np.testing.assert_array_equal(idx[0, 0, :, 0], [2, -1, -1, 0])
    grad = max_pool2d_grad(np.array([1.0, 10.0, 100.0, 1000.0]).reshape(1, 1, 4, 1), x, **args)
    np.testing.assert_array_equal(grad[0, 0, :, 0], [1000, 0, 1])


def test_adaptive_avg_pool2d_hand_computed():
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 1, 5)
    # 5 -> 3: [floor(5i/3), ceil(5(i+1)/3)) = [0, 2), [1, 4), [3, 5).
    out = adaptive_avg_pool2d(x, (1, 3))
    np.testing.assert_array_equal(out[0, 0, 0], [0.5, 2.0, 3.5])
    assert adaptive_avg_pool2d(x, (None, 2)).shape == (1, 1, 1, 2)
    grad = adaptive_avg_pool2d_grad(np.ones((1, 1, 1, 3)), (1, 1, 1, 5))
    np.testing.assert_array_equal(grad[0, 0, 0], [0.5, 0.5 + 1 / 3, 1 / 3, 1 / 3 + 0.5, 0.5])


# --- NaN and Inf -----------------------------------------------------------------------------


def test_max_pool2d_nan_and_inf():
    x = np.array(
        [
            [1, np.nan, 2, 3],
            [np.nan, 0, np.inf, 1],
            [-np.inf, -np.inf, 5, 6],
            [-np.inf, -np.inf, 7, 8],
        ]
    )[None, None]
    out, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out[0, 0], [[np.nan, np.inf], [-np.inf, 8]])
    # First NaN in the window wins over the later one; an all -inf window picks its first cell.
    np.testing.assert_array_equal(idx[0, 0], [[1, 6], [8, 15]])
    grad = max_pool2d_grad(np.ones((1, 1, 2, 2)), x, 2)
    assert grad[0, 0, 0, 1] == 1 and grad[0, 0, 1, 0] == 0 and grad[0, 0, 2, 0] == 1


def test_avg_pools_propagate_nan_and_inf():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 0, 3] = np.inf
    x[0, 0, 3, 0], x[0, 0, 3, 1] = np.inf, -np.inf
    out = avg_pool2d(x, 2)
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 0, 1] == np.inf
    assert np.isnan(out[0, 0, 1, 0]) and out[0, 0, 1, 1] == 0
    adaptive = adaptive_avg_pool2d(x, 2)
    np.testing.assert_array_equal(adaptive, out)
    grad = avg_pool2d_grad(np.array([[[[np.nan, 1.0], [np.inf, 1.0]]]]), (1, 1, 4, 4), 2)
    assert np.isnan(grad[0, 0, :2, :2]).all() and np.isinf(grad[0, 0, 2:, :2]).all()
    assert (grad[0, 0, :, 2:] == 0.25).all()


# --- layout, dtype, threads, empty batch ----------------------------------------------------


def test_non_contiguous_input_matches_contiguous_copy():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 2, 9, 10))
    views = [base[:, :, ::2, 1::2], base.transpose(0, 1, 3, 2), base[::-1, :, :, ::-1]]
    for view in views:
        copy = np.ascontiguousarray(view)
        assert not view.flags.c_contiguous
        for got, expected in zip(
            max_pool2d(view, 3, 2, 1, return_indices=True),
            max_pool2d(copy, 3, 2, 1, return_indices=True),
            strict=True,
        ):
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(avg_pool2d(view, 2, 1, 1), avg_pool2d(copy, 2, 1, 1))
        np.testing.assert_array_equal(adaptive_avg_pool2d(view, 3), adaptive_avg_pool2d(copy, 3))
        g = max_pool2d(copy, 2, 1)
        g_view = np.asfortranarray(g)
        np.testing.assert_array_equal(
            max_pool2d_grad(g_view, view, 2, 1), max_pool2d_grad(g, copy, 2, 1)
        )
        a = avg_pool2d(copy, 3, 2)
        np.testing.assert_array_equal(
            avg_pool2d_grad(a[:, ::-1], copy.shape, 3, 2)[:, ::-1],
            avg_pool2d_grad(np.ascontiguousarray(a[:, ::-1]), copy.shape, 3, 2)[:, ::-1],
        )
        ad = adaptive_avg_pool2d(copy, 4)
        np.testing.assert_array_equal(
            adaptive_avg_pool2d_grad(np.asfortranarray(ad), copy.shape),
            adaptive_avg_pool2d_grad(ad, copy.shape),
        )


def test_integer_and_bool_inputs_become_float64():
    x = np.arange(16).reshape(1, 1, 4, 4)
    out = max_pool2d(x, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0, 0], [[5, 7], [13, 15]])
    assert avg_pool2d(x > 7, 2).dtype == np.float64
    assert adaptive_avg_pool2d(x.astype(np.int32), 1)[0, 0, 0, 0] == 7.5
    mixed = max_pool2d_grad(np.ones((1, 1, 2, 2), np.float32), x.astype(np.float32), 2)
    assert mixed.dtype == np.float32
    assert max_pool2d_grad(np.ones((1, 1, 2, 2), np.float32), x, 2).dtype == np.float64


def test_bit_identical_across_thread_counts(thread_counts):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 11, 12))
    runs = []
    previous = numba.get_num_threads()
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            mp, idx = max_pool2d(x, 3, 1, 1, 2, return_indices=True)
            ap = avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
            ad = adaptive_avg_pool2d(x, (5, 7))
            runs.append(
                [
                    mp,
                    idx,
                    ap,
                    ad,
                    max_pool2d_grad(np.cos(mp), x, 3, 1, 1, 2),
                    avg_pool2d_grad(np.cos(ap), x.shape, 3, 2, 1, True, False),
                    adaptive_avg_pool2d_grad(np.cos(ad), x.shape),
                ]
            )
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*runs, strict=True):
        assert one.tobytes() == two.tobytes()


def test_empty_batch_and_channels():
    for shape in [(0, 2, 6, 5), (2, 0, 6, 5)]:
        x = np.empty(shape, dtype=np.float32)
        out, idx = max_pool2d(x, 2, return_indices=True)
        assert out.shape == idx.shape == (*shape[:2], 3, 2) and out.dtype == np.float32
        assert avg_pool2d(x, 3, 1, 1).shape == (*shape[:2], 6, 5)
        assert adaptive_avg_pool2d(x, (2, None)).shape == (*shape[:2], 2, 5)
        grad = max_pool2d_grad(np.empty((*shape[:2], 3, 2), np.float32), x, 2)
        assert grad.shape == shape and grad.dtype == np.float32
        assert avg_pool2d_grad(np.empty((*shape[:2], 3, 2)), shape, 2).shape == shape
        assert adaptive_avg_pool2d_grad(np.empty((*shape[:2], 4, 4)), shape).shape == shape


# --- malformed calls -------------------------------------------------------------------------

_X = np.zeros((1, 1, 4, 4))

MALFORMED = [
    (
        lambda: max_pool2d(np.zeros((4, 4)), 2),
        ValueError,
        r"^x must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), got 2-D shape \(4, 4\)$",
    ),
    (lambda: max_pool2d(_X.astype(complex), 2), TypeError, r"x has unsupported dtype complex"),
    (lambda: max_pool2d(_X, 0), ValueError, r"kernel_size must be >= 1, got 0"),
    (lambda: max_pool2d(_X, 2.0), TypeError, r"kernel_size must be an integer, got 2\.0"),
    (lambda: max_pool2d(_X, True), TypeError, r"kernel_size must be an integer, got True"),
    (
        lambda: max_pool2d(_X, (2, 2, 2)),
        ValueError,
        r"^kernel_size must be an int or a tuple of one or two ints, got \(2, 2, 2\)$",
    ),
    (lambda: max_pool2d(_X, 2, stride=0), ValueError, r"stride must be >= 1, got 0"),
    (lambda: max_pool2d(_X, 2, stride=float("nan")), TypeError, r"stride must be .*nan"),
    (lambda: max_pool2d(_X, 2, padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (lambda: max_pool2d(_X, 2, padding=2), ValueError, r"padding=2 is too large.*\(1, 1\)"),
    (lambda: max_pool2d(_X, 3, dilation=0), ValueError, r"dilation must be >= 1, got 0"),
    (lambda: max_pool2d(_X, 3, dilation=3), ValueError, r"x has spatial size \(H, W\)=\(4, 4\)"),
    (lambda: max_pool2d(_X, 5), ValueError, r"x has spatial size .* output would be \(0, 0\)"),
    (lambda: max_pool2d(_X, 2, ceil_mode="yes"), TypeError, r"ceil_mode must be True or False"),
    (lambda: max_pool2d(_X, 2, return_indices=1), TypeError, r"return_indices must be True or"),
    (
        lambda: max_pool2d_grad(np.zeros((1, 1, 3, 3)), _X, 2),
        ValueError,
        r"grad_output has shape \(1, 1, 3, 3\); expected \(1, 1, 2, 2\)",
    ),
    (lambda: avg_pool2d(_X, 3, padding=2), ValueError, r"padding=2 is too large.*half of kernel"),
    (lambda: avg_pool2d(_X, 2, divisor_override=0), ValueError, r"divisor_override.*got 0"),
    (lambda: avg_pool2d(_X, 2, divisor_override=1.5), TypeError, r"divisor_override.*1\.5"),
    (lambda: avg_pool2d(_X, 2, count_include_pad=1), TypeError, r"count_include_pad must be"),
    (
        lambda: avg_pool2d_grad(np.zeros((1, 1, 2, 2)), (4, 4), 2),
        ValueError,
        r"^input_shape must be a tuple of 4 \(N, C, H, W\) or 3 \(C, H, W\) .*got \(4, 4\)$",
    ),
    (
        lambda: avg_pool2d_grad(np.zeros((1, 1, 2, 2)), (1, 1, -4, 4), 2),
        ValueError,
        r"input_shape must be >= 0, got -4",
    ),
    (
        lambda: avg_pool2d_grad(np.zeros((1, 1, 2, 3)), (1, 1, 4, 4), 2),
        ValueError,
        r"grad_output has shape \(1, 1, 2, 3\); expected \(1, 1, 2, 2\)",
    ),
    (lambda: adaptive_avg_pool2d(_X, 0), ValueError, r"output_size must be >= 1, got 0"),
    (lambda: adaptive_avg_pool2d(_X, (2, -1)), ValueError, r"output_size must be >= 1, got -1"),
    (lambda: adaptive_avg_pool2d(_X, (1, 2, 3)), ValueError, r"output_size must be an int or"),
    (lambda: adaptive_avg_pool2d(np.zeros((1, 1, 0, 4)), 2), ValueError, r"x has spatial size"),
    (
        lambda: adaptive_avg_pool2d_grad(np.zeros((2, 1, 2, 2)), (1, 1, 4, 4)),
        ValueError,
        r"grad_output has shape \(2, 1, 2, 2\)",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), MALFORMED)
def test_malformed_calls_raise_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
