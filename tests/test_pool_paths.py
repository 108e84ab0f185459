"""The fast pooling paths (issue 11) against tests/naive_pool.py, at the path selector's edges.

Max pooling takes a branch-free path for windows wholly inside the input, a constant-size copy
of it for 2x2 stride-2 windows, and a write-once backward for windows that cannot overlap;
windows near padding or past a ceil_mode edge take the bounds-tested rule. The path must never
change a result: values, indices (first maximum, first NaN) and gradients equal the reference
exactly, with NaN, -inf, +inf and ties in the data. A global average sums whole planes in
float32 chunks, bounded in error; results are bit-identical across thread counts.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.kernels.common import pool as common
from numbaconv.ops.pool import adaptive_avg_pool2d, max_pool2d, max_pool2d_grad
from tests import naive_pool as naive

SETTINGS = settings(max_examples=60, deadline=None)


def _special_data(rng, shape, kind):
    """Ties (small integers), or normal data sprinkled with NaN, +inf and -inf."""
    if kind == "ties":
        return rng.integers(-1, 2, size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    specials = rng.choice([np.nan, np.inf, -np.inf, 0.0], size=shape, p=[0.08, 0.04, 0.08, 0.8])
    return np.where(specials != 0.0, specials, x)


@st.composite
def edge_configs(draw):
    """Windows that fit or just miss the input: no padding (all windows inside, or a ragged
    ceil_mode edge), stride equal to, below or above the kernel, and padded cases whose
    interior is empty, one output wide, or most of the plane."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    two = draw(st.booleans())
    if two:
        kernel = (2, 2)
    stride = kernel if two or draw(st.booleans()) else (
        draw(st.integers(1, 4)), draw(st.integers(1, 4))
    )  # fmt: skip
    dilation = (1, 1) if draw(st.booleans()) else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (0, 0)
    if not two and draw(st.booleans()):
        padding = tuple(
            draw(st.integers(0, ((k - 1) * d + 1) // 2)) for k, d in zip(kernel, dilation)
        )
    spatial = tuple(
        draw(st.integers(max(1, (k - 1) * d + 1 - 2 * p), 9))
        for k, d, p in zip(kernel, dilation, padding)
    )
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial),
        args=(kernel, stride, padding, dilation, draw(st.booleans())),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@SETTINGS
@given(cfg=edge_configs(), kind=st.sampled_from(["special", "ties"]))
def test_max_pool_paths_match_naive_with_nan_inf_and_ties(cfg, kind):
    rng = np.random.default_rng(cfg["seed"])
    x = _special_data(rng, cfg["shape"], kind)
    args = cfg["args"]
    expected, expected_idx = naive.max_pool2d(x, *args)
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        out, idx = max_pool2d(xd, *args, return_indices=True)
        np.testing.assert_array_equal(out, expected.astype(dtype))
        np.testing.assert_array_equal(idx, expected_idx)
        # Without return_indices the values-only path runs: same values.
        assert max_pool2d(xd, *args).tobytes() == out.tobytes()
        grad_output = rng.standard_normal(out.shape).astype(dtype)
        grad = max_pool2d_grad(grad_output, xd, *args)
        expected_grad = naive.max_pool2d_grad(grad_output, xd, *args)
        if dtype == np.float64:  # the same additions in the same (row-major output) order
            np.testing.assert_array_equal(grad, expected_grad)
        else:  # the reference adds overlapping windows' shares in float64
            np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", [(6, 8), (7, 9), (2, 2), (3, 2)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_two_by_two_with_ragged_edges(size, ceil_mode):
    rng = np.random.default_rng(sum(size))
    x = _special_data(rng, (2, 3, *size), "special").astype(np.float32)
    args = ((2, 2), (2, 2), (0, 0), (1, 1), ceil_mode)
    out, idx = max_pool2d(x, 2, ceil_mode=ceil_mode, return_indices=True)
    expected, expected_idx = naive.max_pool2d(x, *args)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(idx, expected_idx)
    grad_output = rng.standard_normal(out.shape).astype(np.float32)
    np.testing.assert_array_equal(
        max_pool2d_grad(grad_output, x, 2, ceil_mode=ceil_mode),
        naive.max_pool2d_grad(grad_output, x, *args).astype(np.float32),
    )


def test_two_by_two_hand_values_nan_ties_and_minus_inf():
    x = np.array(
        [
            [5, 5, -np.inf, -np.inf, 1, np.nan],
            [5, 1, -np.inf, -np.inf, np.nan, 2],
        ],
        dtype=np.float32,
    )[None, None]
    out, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out[0, 0, 0], [5, -np.inf, np.nan])
    # Ties: the first 5; all -inf: the first cell; the first NaN in row-major order (row 0).
    np.testing.assert_array_equal(idx[0, 0, 0], [0, 2, 5])
    grad = max_pool2d_grad(np.array([[[[1, 2, 3]]]], np.float32), x, 2)
    expected = np.zeros((2, 6), np.float32)
    expected[0, 0], expected[0, 2], expected[0, 5] = 1, 2, 3
    np.testing.assert_array_equal(grad[0, 0], expected)


def test_interior_matches_brute_force():
    for out_size, stride, padding, kernel, dilation, size in itertools.product(
        range(0, 6), range(1, 4), range(0, 3), range(1, 4), range(1, 3), range(1, 8)
    ):
        inside = [
            o
            for o in range(out_size)
            if o * stride - padding >= 0 and o * stride - padding + (kernel - 1) * dilation < size
        ]
        lo, hi = common.interior(out_size, stride, padding, kernel, dilation, size)
        assert 0 <= lo <= hi <= max(out_size, 0)
        # The interior is contiguous, so [lo, hi) lists it exactly.
        assert list(range(lo, hi)) == inside


def test_inner_window_argmax_equals_bounds_tested_rule():
    rng = np.random.default_rng(5)
    x = _special_data(rng, (1, 2, 5, 6), "special")
    for c, hstart, wstart, kh, kw, dh, dw in itertools.product(
        range(2), range(2), range(2), range(1, 3), range(1, 3), range(1, 3), range(1, 3)
    ):
        if hstart + (kh - 1) * dh >= 5 or wstart + (kw - 1) * dw >= 6:
            continue
        got = common.inner_window_argmax(x, 0, c, hstart, wstart, kh, kw, dh, dw)
        want = common.window_argmax(x, 0, c, hstart, wstart, kh, kw, dh, dw)
        assert got[1] == want[1]
        np.testing.assert_array_equal(got[0], want[0])


def test_global_average_float32_error_is_bounded_and_propagates_nan_inf():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 3, 150, 170)) + 1.0).astype(np.float32)  # 25,500 per plane
    out = adaptive_avg_pool2d(x, 1)
    reference = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    assert out.dtype == np.float32 and out.shape == (2, 3, 1, 1)
    # Float32 partial sums of at most 1024 elements: a few float32 ulps of the mean at most.
    np.testing.assert_allclose(out, reference, rtol=4e-7)
    y = np.ones((1, 3, 40, 40), np.float32)
    y[0, 0, 5, 5], y[0, 1, 39, 39], y[0, 2, 0, 0], y[0, 2, 20, 0] = np.nan, np.inf, np.inf, -np.inf
    means = adaptive_avg_pool2d(y, 1)[0, :, 0, 0]
    assert np.isnan(means[0]) and means[1] == np.inf and np.isnan(means[2])


def test_fast_paths_bit_identical_across_thread_counts():
    available = numba.config.NUMBA_NUM_THREADS
    if available < 2:
        pytest.skip("needs 2 Numba threads to compare with 1")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 7, 14, 15)).astype(np.float32)
    runs = []
    previous = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results = []
            for args in [(2,), (2, 2, 0, 1, True), (3, 3), (3, 2, 1)]:
                out, idx = max_pool2d(x, *args, return_indices=True)
                results += [out, idx, max_pool2d(x, *args), max_pool2d_grad(np.cos(out), x, *args)]
            results += [adaptive_avg_pool2d(x, 1), adaptive_avg_pool2d(x, (3, 1))]
            runs.append(results)
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*runs, strict=True):
        assert one.tobytes() == two.tobytes()
