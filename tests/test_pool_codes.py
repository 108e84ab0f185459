"""Max pooling for training (numbaconv.ops.max_pool_codes): the forward's window codes and the
gradient from them, against tests/naive_pool.py and the bounds-tested window rule.

The codes path must never change a result: values equal the reference bit for bit, each code
points at the first maximum (the first NaN when there is one) and the gradient equals the
reference exactly (windows are disjoint: nothing is added). Windows other than the disjoint
2x2 ones give no codes, and the autograd Function falls back to recomputing from x.
"""

from __future__ import annotations

import itertools
import math
import re
import struct

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv import Tensor
from numbaconv.kernels.common import pool as common
from numbaconv.nn import functional as F
from numbaconv.ops.max_pool_codes import max_pool2d_grad_codes, max_pool2d_with_codes
from numbaconv.ops.pool import max_pool2d, max_pool2d_grad
from tests import naive_pool as naive

SETTINGS = settings(max_examples=60, deadline=None)
DISJOINT_2X2 = ((2, 2), (2, 2), (0, 0), (1, 1), False)


def _data(rng, shape, kind):
    """Ties (small integers), or normal data sprinkled with NaN, +inf, -inf and signed zeros."""
    if kind == "ties":
        return rng.integers(-1, 2, size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    specials = rng.choice([np.nan, np.inf, -np.inf, -0.0, 1.0], size=shape,
                          p=[0.08, 0.04, 0.08, 0.05, 0.75])  # fmt: skip
    return np.where(specials != 1.0, specials, x)


def _codes_of(indices, width):
    """Window positions (2 * row + column) from flat h * W + w indices of 2x2 stride-2 windows."""
    oh = np.arange(indices.shape[2])[:, None]
    ow = np.arange(indices.shape[3])[None, :]
    return 2 * (indices // width - 2 * oh) + (indices % width - 2 * ow)


@SETTINGS
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9)),
    kind=st.sampled_from(["special", "ties"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_codes_path_matches_naive_on_odd_sizes_nan_inf_and_ties(shape, kind, seed):
    rng = np.random.default_rng(seed)
    x = _data(rng, shape, kind)
    expected, expected_idx = naive.max_pool2d(x, *DISJOINT_2X2)
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        out, codes = max_pool2d_with_codes(xd, 2)
        assert out.dtype == dtype and codes.dtype == np.uint8
        assert out.tobytes() == max_pool2d(xd, 2).tobytes()  # bit for bit, NaN and -0.0 too
        np.testing.assert_array_equal(out, expected.astype(dtype))
        np.testing.assert_array_equal(codes, _codes_of(expected_idx, shape[3]))
        grad_output = rng.standard_normal(out.shape).astype(dtype)
        grad = max_pool2d_grad_codes(grad_output, codes, xd.shape)
        assert grad.dtype == dtype
        # Disjoint windows: each element gets one window's gradient or 0, exactly.
        np.testing.assert_array_equal(grad, naive.max_pool2d_grad(grad_output, xd, *DISJOINT_2X2))
        assert grad.tobytes() == max_pool2d_grad(grad_output, xd, 2).tobytes()


@SETTINGS
@given(
    kernel=st.sampled_from([1, 2, 3, (2, 1), (2, 3)]),
    stride=st.sampled_from([None, 1, 2, 3, (2, 1)]),
    padding=st.sampled_from([0, 1]),
    dilation=st.sampled_from([1, 2]),
    ceil_mode=st.booleans(),
    size=st.tuples(st.integers(3, 7), st.integers(3, 7)),
)
def test_other_windows_get_no_codes_and_the_same_values(
    kernel, stride, padding, dilation, ceil_mode, size
):
    kernel_pair = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = _data(np.random.default_rng(sum(size)), (1, 2, *size), "special").astype(np.float32)
    args = (kernel, stride, padding, dilation, ceil_mode)
    try:
        expected = max_pool2d(x, *args)
    except ValueError as exc:  # too much padding, or no output: refused alike
        with pytest.raises(ValueError, match=f"^{re.escape(str(exc))}$"):
            max_pool2d_with_codes(x, *args)
        return
    out, codes = max_pool2d_with_codes(x, *args)
    assert out.tobytes() == expected.tobytes()
    stride_pair = kernel_pair if stride is None else stride
    stride_pair = (stride_pair, stride_pair) if isinstance(stride_pair, int) else stride_pair
    ragged = ceil_mode and (size[0] % 2 or size[1] % 2)
    disjoint = (kernel_pair == (2, 2) and stride_pair == (2, 2) and padding == 0
                and dilation == 1 and not ragged)  # fmt: skip
    assert (codes is not None) == disjoint


def test_first_max_2x2_equals_the_scan_rule_on_every_special_value():
    values = [math.nan, -math.inf, -1.0, -0.0, 0.0, 1.0, math.inf]

    def bits(value):
        return "nan" if value != value else struct.pack("<d", value)

    for a, b, c, d in itertools.product(values, repeat=4):
        x = np.array([[[[a, b], [c, d]]]])
        want_value, want_index = common.window_argmax(x, 0, 0, 0, 0, 2, 2, 1, 1)
        got_value, got_code = common.first_max_2x2(a, b, c, d)
        assert got_code == want_index, (a, b, c, d)
        assert bits(got_value) == bits(want_value), (a, b, c, d)


def test_hand_values_nan_ties_and_minus_inf():
    x = np.array(
        [[5, 5, -np.inf, -np.inf, 1, np.nan, 7], [5, 1, -np.inf, -np.inf, np.nan, 2, 9]],
        dtype=np.float32,
    )[None, None]
    out, codes = max_pool2d_with_codes(x, 2)
    np.testing.assert_array_equal(out[0, 0, 0], [5, -np.inf, np.nan])
    # Ties: the first 5; all -inf: the first cell; the first NaN in row-major order (row 0).
    np.testing.assert_array_equal(codes[0, 0, 0], [0, 0, 1])
    grad = max_pool2d_grad_codes(np.array([[[[1, 2, 3]]]], np.float32), codes, x.shape)
    expected = np.zeros((2, 7), np.float32)  # the last column is in no window: 0
    expected[0, 0], expected[0, 2], expected[0, 5] = 1, 2, 3
    np.testing.assert_array_equal(grad[0, 0], expected)


def test_codes_out_of_range_send_no_gradient_and_unbatched_inputs_work():
    grad = max_pool2d_grad_codes(
        np.ones((1, 1, 2), np.float32), np.array([[[3, 200]]], np.uint8), (1, 3, 4)
    )
    np.testing.assert_array_equal(grad[0], [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    x = np.arange(24.0).reshape(2, 3, 4)
    out, codes = max_pool2d_with_codes(x, 2)
    assert out.shape == codes.shape == (2, 1, 2)
    np.testing.assert_array_equal(codes, 3)


def test_bad_codes_and_gradients_are_refused():
    x_shape = (1, 2, 4, 4)
    codes = np.zeros((1, 2, 2, 2), np.uint8)
    grad_output = np.ones((1, 2, 2, 2), np.float32)
    with pytest.raises(TypeError, match=r"^codes must be the uint8 array .* got dtype int64"):
        max_pool2d_grad_codes(grad_output, codes.astype(np.int64), x_shape)
    with pytest.raises(ValueError, match=r"^codes has shape \(1, 2, 2, 1\); expected"):
        max_pool2d_grad_codes(grad_output, codes[..., :1], x_shape)
    with pytest.raises(
        ValueError, match=r"^grad_output has shape \(2, 2, 2\); expected \(1, 2, 2, 2\)"
    ):
        max_pool2d_grad_codes(grad_output[0], codes, x_shape)
    with pytest.raises(ValueError, match=r"^input_shape must be a tuple"):
        max_pool2d_grad_codes(grad_output, codes, (2, 4, 4, 1, 1))


@pytest.mark.parametrize(
    "args", [(2,), (2, 2, 0, 1, True), (3, 2, 1), ((2, 2), 1)], ids=["2x2", "ceil", "3x3", "s1"]
)
def test_autograd_gradient_equals_the_reference(args):
    rng = np.random.default_rng(4)
    x = _data(rng, (2, 3, 7, 6), "ties").astype(np.float32)
    grad_output_shape = max_pool2d(x, *args).shape
    grad_output = rng.standard_normal(grad_output_shape).astype(np.float32)
    xt = Tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, *args)
    out.backward(grad_output)
    assert out.data.tobytes() == max_pool2d(x, *args).tobytes()
    expected = naive.max_pool2d_grad(grad_output, x, *naive_args(args))
    np.testing.assert_allclose(np.asarray(xt.grad), expected, rtol=1e-6, atol=1e-6)


def naive_args(args):
    """``max_pool2d``'s positional arguments as naive_pool's (kernel, stride, padding,
    dilation, ceil_mode) pairs."""
    kernel, stride, padding, dilation, ceil_mode = (*args, *(None, None, 0, 1, False)[len(args) :])
    pair = lambda value: (value, value) if isinstance(value, int) else tuple(value)  # noqa: E731
    kernel = pair(kernel)
    return (
        kernel,
        kernel if stride is None else pair(stride),
        pair(padding),
        pair(dilation),
        ceil_mode,
    )


def test_codes_kernels_bit_identical_across_thread_counts(thread_counts):
    rng = np.random.default_rng(9)
    # Planes of 15x17 (ragged) and of 4x4 (many planes per parallel chunk).
    inputs = [
        _data(rng, (5, 7, 15, 17), "special").astype(np.float32),
        _data(rng, (64, 20, 4, 4), "ties"),
    ]
    runs = []
    previous = numba.get_num_threads()
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            results = []
            for x in inputs:
                out, codes = max_pool2d_with_codes(x, 2)
                grad_output = np.random.default_rng(1).standard_normal(out.shape).astype(x.dtype)
                results += [out, codes, max_pool2d_grad_codes(grad_output, codes, x.shape)]
            runs.append(results)
    finally:
        numba.set_num_threads(previous)
    for run in runs[1:]:
        for one, other in zip(runs[0], run, strict=True):
            assert one.tobytes() == other.tobytes()


def test_autograd_runs_the_codes_pair_for_2x2_only_when_training(monkeypatch):
    from numbaconv import no_grad
    from numbaconv.ops import max_pool_codes

    calls = []
    for name in ("max_pool2d_with_codes", "max_pool2d_grad_codes"):
        original = getattr(max_pool_codes, name)
        monkeypatch.setattr(
            max_pool_codes,
            name,
            lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k),
        )
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 8)).astype(np.float32)
    with no_grad():
        out = F.max_pool2d(Tensor(x, requires_grad=True), 2)
    assert calls == [] and out.data.tobytes() == max_pool2d(x, 2).tobytes()
    xt = Tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).backward(np.ones((2, 3, 3, 4), np.float32))
    assert calls == ["max_pool2d_with_codes", "max_pool2d_grad_codes"]
    np.testing.assert_array_equal(np.asarray(xt.grad), max_pool2d_grad(np.ones((2, 3, 3, 4)), x, 2))
