"""Every conv2d CPU path (Winograd, im2col) against tests/naive.py, on and around the
selector's thresholds and the ragged edges of tiles and work units."""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.kernels.cpu import conv as cpu_conv
from numbaconv.kernels.cpu import winograd
from numbaconv.ops.conv import conv2d, conv2d_grad_input, conv2d_grad_weight

from . import naive

MIN_C = cpu_conv.WINOGRAD_MIN_CHANNELS


def _arrays(n, c, o, h, w, k, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c, k, k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, wt, b


def _references(x, w, b, gy, pad):
    """Forward, input and weight gradients in float64 from the SciPy-built naive conv:
    gradients by the identities ``gx = conv(gy, flipped W^T, k-1-p)`` and
    ``gw[o, c] = conv(x_pad[c], gy[o])`` (stride 1)."""
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    k = w.shape[2]
    y = naive.conv2d(x64, w64, b.astype(np.float64), padding=(pad,) * 4)
    flipped = w64[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    gx = naive.conv2d(gy64, flipped, padding=(k - 1 - pad,) * 4)
    x_pad = np.pad(x64, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    gw = naive.conv2d(x_pad.transpose(1, 0, 2, 3), gy64.transpose(1, 0, 2, 3))
    return y, gx, gw.transpose(1, 0, 2, 3)


def _check_all_passes(n, c, o, h, w, pad, dtype, seed):
    x, wt, b = _arrays(n, c, o, h, w, 3, dtype, seed)
    y = conv2d(x, wt, b, padding=pad)
    gy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    gx = conv2d_grad_input(x.shape, wt, gy, padding=pad)
    gw = conv2d_grad_weight(x, wt.shape, gy, padding=pad)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    for got, ref in zip((y, gx, gw), _references(x, wt, b, gy, pad)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref, **tol)


def test_selector_thresholds():
    assert cpu_conv._uses_winograd((MIN_C, MIN_C, 3, 3), (1, 1), (1, 1), 1)
    assert not cpu_conv._uses_winograd((MIN_C, MIN_C - 1, 3, 3), (1, 1), (1, 1), 1)
    assert not cpu_conv._uses_winograd((MIN_C - 1, MIN_C, 3, 3), (1, 1), (1, 1), 1)
    assert not cpu_conv._uses_winograd((MIN_C, MIN_C, 3, 3), (2, 2), (1, 1), 1)
    assert not cpu_conv._uses_winograd((MIN_C, MIN_C, 3, 3), (1, 1), (2, 1), 1)
    assert not cpu_conv._uses_winograd((2 * MIN_C, MIN_C, 3, 3), (1, 1), (1, 1), 2)
    assert not cpu_conv._uses_winograd((MIN_C, MIN_C, 3, 5), (1, 1), (1, 1), 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("channels", [(MIN_C, MIN_C), (MIN_C - 1, MIN_C), (MIN_C, MIN_C - 1)])
def test_both_sides_of_the_channel_threshold_match_references(dtype, channels):
    c, o = channels
    _check_all_passes(2, c, o, 7, 6, 1, dtype, seed=c * 7 + o)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(MIN_C, MIN_C + 3),
    o=st.integers(MIN_C, MIN_C + 3),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    pad=st.integers(0, 2),
    seed=st.integers(0, 2**31),
)
def test_winograd_odd_sizes_and_paddings_float64(n, c, o, h, w, pad, seed):
    """Odd output sizes cut the last tile row/column; every padding from valid to full."""
    if h + 2 * pad < 3 or w + 2 * pad < 3:
        return
    _check_all_passes(n, c, o, h, w, pad, np.float64, seed)


@pytest.mark.parametrize("budget_rows", [1, 3])
def test_work_units_with_ragged_last_block(monkeypatch, budget_rows):
    """Units of one or three tile rows (budgets shrunk to force them) over 11 tile rows:
    several units per image, the last one short."""
    c, h, w = MIN_C + 1, 21, 13
    per_row = 16 * (MIN_C + 1) * ((w + 1) // 2)
    monkeypatch.setattr(winograd, "_V_ELEMENTS", budget_rows * per_row)
    monkeypatch.setattr(winograd, "_GW_ELEMENTS", budget_rows * per_row)
    assert winograd.tile_rows(c, h, w) == budget_rows
    _check_all_passes(2, c, MIN_C + 1, h, w, 1, np.float64, seed=3)


def test_non_finite_values_propagate_as_the_reference():
    """NaN or Inf anywhere (input, weights, grad_output) falls back to the exact path."""
    x, wt, b = _arrays(1, MIN_C, MIN_C, 6, 6, 3, np.float64, 5)
    x[0, 3, 2, 2] = np.nan
    x[0, 5, 4, 0] = np.inf
    with np.errstate(invalid="ignore"):
        ref = naive.conv2d(x, wt, b, padding=(1, 1, 1, 1))
        got = conv2d(x, wt, b, padding=1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    finite = np.isfinite(ref)
    assert (~finite).any() and finite.any()
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-10)
    x, wt, b = _arrays(1, MIN_C, MIN_C, 6, 6, 3, np.float64, 6)
    wt[2, 1, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):
        ref = naive.conv2d(x, wt, b, padding=(1, 1, 1, 1))
    got = conv2d(x, wt, b, padding=1)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    gy = np.ones((1, MIN_C, 6, 6))
    gy[0, 0, 0, 0] = np.inf
    x = np.abs(x)  # one sign: the reference sums give +inf (or NaN from inf * padding)
    gw = conv2d_grad_weight(x, wt.shape, gy, padding=1)
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    with np.errstate(invalid="ignore"):
        ref = naive.conv2d(x_pad.transpose(1, 0, 2, 3), gy.transpose(1, 0, 2, 3))
    ref = ref.transpose(1, 0, 2, 3)
    assert np.isinf(ref).any() and np.isnan(ref).any()
    np.testing.assert_array_equal(np.isinf(gw), np.isinf(ref))
    np.testing.assert_array_equal(np.isnan(gw), np.isnan(ref))


def test_float32_error_not_worse_than_im2col():
    """Winograd's float32 error on a 64-channel layer, against float64, stays within 2x
    the im2col path's (same inputs; the im2col result taken with the selector bypassed)."""
    x, wt, b = _arrays(2, 64, 64, 20, 20, 3, np.float32, 11)
    ref = naive.conv2d(x.astype(np.float64), wt.astype(np.float64), b.astype(np.float64),
                       padding=(1, 1, 1, 1))  # fmt: skip
    got = conv2d(x, wt, b, padding=1)
    direct = np.empty_like(got)
    chunk, tile, inner = cpu_conv._split(x, wt.shape, got.shape[2:], (1, 1))
    cpu_conv._conv2d_forward(x, wt, b, direct, (1, 1, 1, 1, 1, 1), 1, chunk, tile, inner)
    err_w = np.abs(got - ref).max() / np.abs(ref).max()
    err_d = np.abs(direct - ref).max() / np.abs(ref).max()
    assert err_w < 1e-5 and err_w < 2 * err_d + 1e-7, (err_w, err_d)


def test_winograd_results_identical_across_thread_counts():
    x, wt, b = _arrays(3, MIN_C, MIN_C + 2, 30, 9, 3, np.float32, 12)
    gy = np.random.default_rng(13).standard_normal((3, MIN_C + 2, 30, 9)).astype(np.float32)
    _assert_identical_across_thread_counts(
        lambda: (
            conv2d(x, wt, b, padding=1),
            conv2d_grad_input(x.shape, wt, gy, padding=1),
            conv2d_grad_weight(x, wt.shape, gy, padding=1),
        )
    )


def _assert_identical_across_thread_counts(compute):
    """``compute()`` (a tuple of arrays) run on 1, 2 and 4 threads (as many of those as
    NUMBA_NUM_THREADS allows) gives bit-identical results."""
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS),
                               min(4, numba.config.NUMBA_NUM_THREADS)}):  # fmt: skip
            numba.set_num_threads(threads)
            results.append(compute())
    finally:
        numba.set_num_threads(before)
    if len(results) < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    for other in results[1:]:
        for a, b2 in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b2)


# --- the direct path for one input channel (conv_direct.py) -------------------------------


@pytest.fixture
def direct_on_small_inputs(monkeypatch):
    """The direct path for the small inputs of these tests (it starts at
    ``DIRECT_MIN_ELEMENTS``, tested in the selector test)."""
    monkeypatch.setattr(cpu_conv, "DIRECT_MIN_ELEMENTS", 1)


@pytest.mark.parametrize("which", ["forward", "grad_weight"])
def test_direct_input_size_threshold(which):
    least = cpu_conv.DIRECT_MIN_ELEMENTS
    c = cpu_conv.DIRECT_MAX_CHANNELS[which]
    w_shape, s2, one = (8, c, 5, 5), (2, 2), (1, 1)
    batch = -(-least // (c * 28 * 28))  # the smallest batch of c x 28 x 28 images that reaches it
    assert cpu_conv._uses_direct((batch, c, 28, 28), w_shape, (14, 14), s2, one, 1, which)
    assert not cpu_conv._uses_direct((batch - 1, c, 28, 28), w_shape, (14, 14), s2, one, 1, which)
    assert not cpu_conv._uses_direct((64, 1, 28, 28), (8, 1, 5, 5), (14, 14), s2, one, 1, which)


@pytest.mark.usefixtures("direct_on_small_inputs")
@pytest.mark.parametrize("which", ["forward", "grad_weight"])
def test_direct_selector_thresholds(which):
    plane, c = cpu_conv.DIRECT_MAX_PLANE, cpu_conv.DIRECT_MAX_CHANNELS[which]
    one, s2 = (1, 1), (2, 2)

    def uses(x_shape, w_shape, out_hw, dilation=one, groups=1):
        return cpu_conv._uses_direct(x_shape, w_shape, out_hw, s2, dilation, groups, which)

    assert uses((8, 1, 28, 28), (8, 1, 5, 5), (14, 14))
    assert uses((8, c, 28, 28), (8, c, 5, 5), (14, 14))
    assert not uses((8, c + 1, 28, 28), (8, c + 1, 5, 5), (14, 14))
    assert not uses((8, 2, 28, 28), (8, 1, 5, 5), (14, 14), groups=2)
    # The output plane OH x OW, on both sides of its bound.
    assert uses((2, 1, 128, 132), (2, 1, 3, 3), (64, plane // 64))
    assert not uses((2, 1, 130, 132), (2, 1, 3, 3), (65, 64))


def _patches(x, kernel, stride, padding, dilation):
    """``(N, C*KH*KW, OH, OW)``: the input under every tap, from the naive conv with unit
    weights (so the weight gradient is ``einsum(gy, patches)``, the conv being linear in w)."""
    taps = x.shape[1] * kernel[0] * kernel[1]
    unit = np.eye(taps).reshape(taps, x.shape[1], *kernel)
    with np.errstate(invalid="ignore"):
        return naive.conv2d(x, unit, stride=stride, padding=padding, dilation=dilation)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 5),  # batch: fewer images than chunks, and ragged chunks
    st.integers(1, cpu_conv.DIRECT_MAX_CHANNELS["grad_weight"]),
    st.integers(1, 9),  # output channels: blocks of four and a ragged rest
    st.tuples(st.integers(1, 13), st.integers(1, 13)),
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.integers(1, 2), st.integers(1, 2)),
    st.integers(0, 2**16),
)
def test_direct_path_matches_naive_reference(n, c, o, hw, k, stride, pad, dil, seed):
    spans = [s + 2 * p - d * (kk - 1) - 1 for s, p, d, kk in zip(hw, pad, dil, k)]
    if min(spans) < 0:
        return  # no output: the ops refuse it (tested elsewhere)
    out_hw = tuple(span // s + 1 for span, s in zip(spans, stride))
    with pytest.MonkeyPatch.context() as patch:  # no function-scoped fixture under hypothesis
        patch.setattr(cpu_conv, "DIRECT_MIN_ELEMENTS", 1)
        _check_direct_against_naive(n, c, o, hw, k, stride, pad, dil, seed, out_hw)


def _check_direct_against_naive(n, c, o, hw, k, stride, pad, dil, seed, out_hw):
    shapes = ((n, c, *hw), (o, c, *k), out_hw, stride, dil, 1)
    assert cpu_conv._uses_direct(*shapes, "grad_weight")
    assert cpu_conv._uses_direct(*shapes, "forward") == (c == 1)  # else checks im2col
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *hw))
    wt = rng.standard_normal((o, c, *k))
    b = rng.standard_normal(o)
    gy = rng.standard_normal((n, o, *out_hw))
    hyper = dict(stride=stride, padding=pad, dilation=dil)
    naive_pad = (pad[0], pad[0], pad[1], pad[1])
    ref = naive.conv2d(x, wt, b, stride=stride, padding=naive_pad, dilation=dil)
    np.testing.assert_allclose(conv2d(x, wt, b, **hyper), ref, rtol=1e-10, atol=1e-10)
    patches = _patches(x, k, stride, naive_pad, dil)
    gw_ref = np.einsum("nohw,nthw->ot", gy, patches).reshape(wt.shape)
    gw = conv2d_grad_weight(x, wt.shape, gy, **hyper)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-10, atol=1e-10)
    # float32 too, against the float64 reference
    gw32 = conv2d_grad_weight(x.astype(np.float32), wt.shape, gy.astype(np.float32), **hyper)
    y32 = conv2d(x.astype(np.float32), wt.astype(np.float32), b.astype(np.float32), **hyper)
    assert gw32.dtype == y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw32, gw_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.usefixtures("direct_on_small_inputs")
def test_direct_path_non_finite_values_as_the_reference():
    """Forward: NaN/Inf reach exactly the outputs that read them. Weight gradient: an Inf in
    a pixel that the stride leaves unused must not spread (the direct kernel's junk columns
    would multiply it by zero), and one that is used gives the reference's Inf/NaN."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, 1, 9, 9))
    x[1, 0, 3, 4] = np.nan
    x[2, 0, 0, 1] = np.inf
    wt = rng.standard_normal((5, 1, 3, 3))
    with np.errstate(invalid="ignore"):
        ref = naive.conv2d(x, wt, stride=(2, 2), padding=(1, 1, 1, 1))
        got = conv2d(x, wt, stride=2, padding=1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    finite = np.isfinite(ref)
    assert (~finite).any() and finite.any()
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-10)
    # 10 columns, k3 s2 p0: column 9 is never read.
    x = np.abs(rng.standard_normal((2, 1, 7, 10)))
    x[1, 0, 2, 9] = np.inf
    gy = np.abs(rng.standard_normal((2, 5, 3, 4)))
    gw = conv2d_grad_weight(x, wt.shape, gy, stride=2)
    patches = _patches(x, (3, 3), (2, 2), (0, 0, 0, 0), (1, 1))
    assert np.isfinite(patches).all()
    ref = np.einsum("nohw,nthw->ot", gy, patches).reshape(wt.shape)
    np.testing.assert_allclose(gw, ref, rtol=1e-10)
    # A pixel that the taps read (with padding 1, row and column 2 sit on the stride).
    # The patches by slicing here (the SciPy-built reference multiplies inf by zero taps).
    x[0, 0, 2, 2] = np.inf
    gy = np.ones((2, 5, 4, 5))
    gw = conv2d_grad_weight(x, wt.shape, gy, stride=2, padding=1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    taps = [xp[:, 0, i : i + 7 : 2, j : j + 9 : 2] for i in range(3) for j in range(3)]
    ref = np.einsum("nohw,nthw->ot", gy, np.stack(taps, axis=1)).reshape(wt.shape)
    assert np.isinf(ref).any() and np.isfinite(ref).any()
    np.testing.assert_array_equal(np.isinf(gw), np.isinf(ref))
    np.testing.assert_array_equal(np.isnan(gw), np.isnan(ref))


@pytest.mark.usefixtures("direct_on_small_inputs")
def test_direct_results_identical_across_thread_counts():
    rng = np.random.default_rng(22)
    x = rng.standard_normal((37, 1, 28, 28)).astype(np.float32)  # 16 ragged chunks
    wt = rng.standard_normal((7, 1, 5, 5)).astype(np.float32)
    gy = rng.standard_normal((37, 7, 14, 14)).astype(np.float32)
    for which in ("forward", "grad_weight"):
        assert cpu_conv._uses_direct(x.shape, wt.shape, (14, 14), (2, 2), (1, 1), 1, which)
    _assert_identical_across_thread_counts(
        lambda: (
            conv2d(x, wt, stride=2, padding=2),
            conv2d_grad_weight(x, wt.shape, gy, stride=2, padding=2),
        )
    )


def test_single_threaded_blas_limits_scipys_blas_and_restores_it():
    """Numba's np.dot calls SciPy's BLAS: that library runs on one thread inside the block and
    gets its own count back afterwards, even when the block raises."""
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_info, threadpool_limits

    from numbaconv.kernels.cpu._blas import single_threaded_blas

    def scipy_blas_threads():
        return [
            i["num_threads"]
            for i in threadpool_info()
            if any(f"{os.sep}{d}{os.sep}" in i["filepath"] for d in ("scipy", "scipy.libs"))
        ]

    with threadpool_limits(limits=2, user_api="blas"):
        before = scipy_blas_threads()
        if not before or max(before) < 2:
            pytest.skip("SciPy's BLAS is not a separate multi-threaded library here")
        with pytest.raises(RuntimeError, match=r"^inside$"):
            with single_threaded_blas():
                assert scipy_blas_threads() == [1] * len(before)
                raise RuntimeError("inside")
        assert scipy_blas_threads() == before


def test_im2col_chunking_thresholds():
    """Batch-innermost chunks: at least four per batch, eight for the forward of layers with
    K = C·KH·KW >= ``_DEEP_K`` (the selector's edge: K = 126 and 135 with 3x3 kernels)."""
    shallow, deep = (6, 14, 3, 3), (6, 15, 3, 3)
    assert 14 * 9 < cpu_conv._DEEP_K <= 15 * 9
    x = np.empty((64, 15, 7, 7))
    assert cpu_conv._split(x, shallow, (4, 4), (2, 2), forward=True) == (16, 4, True)
    assert cpu_conv._split(x, deep, (4, 4), (2, 2), forward=True) == (8, 4, True)
    assert cpu_conv._split(x, deep, (4, 4), (2, 2)) == (16, 4, True)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 21),
    c=st.sampled_from([14, 15]),  # K = 126 and 135: either side of _DEEP_K
    o=st.integers(1, 6),
    hw=st.integers(3, 8),
    seed=st.integers(0, 2**16),
)
def test_im2col_chunks_either_side_of_the_deep_threshold(n, c, o, hw, seed):
    """Forward against the naive conv with ragged chunks (n not a multiple of the chunk), on
    both sides of the deep-forward threshold, bit-identical across thread counts."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    wt = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    ref = naive.conv2d(x, wt, b, stride=(2, 2), padding=(1, 1, 1, 1))
    got = conv2d(x, wt, b, stride=2, padding=1)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    _assert_identical_across_thread_counts(lambda: (conv2d(x, wt, b, stride=2, padding=1),))
