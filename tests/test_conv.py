"""conv2d and its gradients against SciPy-built references and finite differences."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import signal

from numbaconv.ops.conv import conv2d, conv2d_grad_bias, conv2d_grad_input, conv2d_grad_weight

from . import naive

# The 10x20 top-left block of train/3/12.png (chapter13.md §2.6); rows 0-4 are zero.
BOOK_BLOCK = np.zeros((10, 20))
BOOK_BLOCK[5] = [0, 0, 0, 12, 99, 91, 142, 155, 246, 182, 155, 155, 155, 155, 131, 52, 0, 0, 0, 0]
BOOK_BLOCK[6] = [0, 0, 0, 138] + [254] * 11 + [252, 210, 122, 33, 0]
BOOK_BLOCK[7] = [0, 0, 0, 220, 254, 254, 254, 235, 189, 189, 189, 189, 150, 189, 205, 254, 254,
                 254, 75, 0]  # fmt: skip
BOOK_BLOCK[8] = [0, 0, 0, 35, 74, 35, 35, 25, 0, 0, 0, 0, 0, 0, 13, 224, 254, 254, 153, 0]
BOOK_BLOCK[9] = [0] * 14 + [90, 254, 254, 247, 53, 0]

TOP_EDGE = np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], dtype=np.float32)
LEFT_EDGE = np.array([[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]], dtype=np.float32)
DIAG1_EDGE = np.array([[0, -1, 1], [-1, 1, 0], [1, 0, 0]], dtype=np.float32)
DIAG2_EDGE = np.array([[1, -1, 0], [0, 1, -1], [0, 0, 1]], dtype=np.float32)


@st.composite
def conv_configs(draw, max_batch=2):
    groups = draw(st.integers(1, 3))
    cpg = draw(st.integers(1, 2))
    opg = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if draw(st.booleans()):
        sh = sw = 1
        padding = draw(st.sampled_from(["same", "valid"]))
    else:
        sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return dict(
        x_shape=(draw(st.integers(0, max_batch)), groups * cpg, h, w),
        w_shape=(groups * opg, cpg, kh, kw),
        stride=(sh, sw),
        padding=padding,
        dilation=(dh, dw),
        groups=groups,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31)),
    )


def _naive_padding(cfg):
    """(top, bottom, left, right) padding as PyTorch applies it."""
    pad = cfg["padding"]
    if pad == "valid":
        return (0, 0, 0, 0)
    if pad == "same":
        (kh, kw), (dh, dw) = cfg["w_shape"][2:], cfg["dilation"]
        th, tw = dh * (kh - 1), dw * (kw - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    return (pad[0], pad[0], pad[1], pad[1])


def _fits(cfg):
    top, bottom, left, right = _naive_padding(cfg)
    _, _, h, w = cfg["x_shape"]
    _, _, kh, kw = cfg["w_shape"]
    dh, dw = cfg["dilation"]
    return h + top + bottom >= dh * (kh - 1) + 1 and w + left + right >= dw * (kw - 1) + 1


def _arrays(cfg, dtype=np.float64):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["x_shape"]).astype(dtype)
    w = rng.standard_normal(cfg["w_shape"]).astype(dtype)
    b = rng.standard_normal(cfg["w_shape"][0]).astype(dtype) if cfg["bias"] else None
    return x, w, b


def _hyper(cfg):
    return dict(
        stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"]
    )


def _reference(cfg, x, w, b):
    return naive.conv2d(x, w, b, cfg["stride"], _naive_padding(cfg), cfg["dilation"], cfg["groups"])


@settings(max_examples=80, deadline=None)
@given(conv_configs())
def test_forward_matches_scipy_reference_float64(cfg):
    assume(_fits(cfg))
    x, w, b = _arrays(cfg)
    got = conv2d(x, w, b, **_hyper(cfg))
    ref = _reference(cfg, x, w, b) if x.shape[0] else None
    assert got.dtype == np.float64
    if ref is None:
        assert got.shape[:2] == (0, w.shape[0])
    else:
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(conv_configs())
def test_forward_float32_close_to_float64_reference(cfg):
    assume(_fits(cfg) and cfg["x_shape"][0] > 0)
    x, w, b = _arrays(cfg, np.float32)
    got = conv2d(x, w, b, **_hyper(cfg))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(cfg, x, w, b), rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(conv_configs(max_batch=1))
def test_gradients_match_finite_differences(cfg):
    assume(_fits(cfg) and cfg["x_shape"][0] > 0)
    x, w, b = _arrays(cfg)
    hyper = _hyper(cfg)
    gy = np.random.default_rng(cfg["seed"] + 1).standard_normal(conv2d(x, w, b, **hyper).shape)

    def loss_x(xx):
        return float((conv2d(xx, w, b, **hyper) * gy).sum())

    def loss_w(ww):
        return float((conv2d(x, ww, b, **hyper) * gy).sum())

    gx = conv2d_grad_input(x.shape, w, gy, **hyper)
    gw = conv2d_grad_weight(x, w.shape, gy, **hyper)
    np.testing.assert_allclose(gx, naive.numeric_grad(loss_x, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, naive.numeric_grad(loss_w, w), rtol=1e-6, atol=1e-7)
    if b is not None:

        def loss_b(bb):
            return float((conv2d(x, w, bb, **hyper) * gy).sum())

        gb = conv2d_grad_bias(gy)
        np.testing.assert_allclose(gb, naive.numeric_grad(loss_b, b), rtol=1e-6, atol=1e-7)


def test_stride1_identities_with_scipy():
    """grad_input is a full convolve2d of grad_output with the kernel; grad_weight is a valid
    correlate2d of the input with grad_output."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    gy = rng.standard_normal((2, 4, 5, 5))
    gx = conv2d_grad_input(x.shape, w, gy)
    gw = conv2d_grad_weight(x, w.shape, gy)
    for n in range(2):
        for c in range(3):
            ref = sum(signal.convolve2d(gy[n, o], w[o, c], mode="full") for o in range(4))
            np.testing.assert_allclose(gx[n, c], ref, rtol=1e-10, atol=1e-12)
    for o in range(4):
        for c in range(3):
            ref = sum(signal.correlate2d(x[n, c], gy[n, o], mode="valid") for n in range(2))
            np.testing.assert_allclose(gw[o, c], ref, rtol=1e-10, atol=1e-12)


def test_large_images_cut_into_row_tiles_match_references():
    """One image whose column matrix exceeds the kernel's workspace is processed in tiles of
    output rows; forward and both gradients must not notice."""
    from numbaconv.kernels.cpu.conv import _work_split

    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 64, 40, 40))
    w = rng.standard_normal((2, 64, 3, 3))
    assert _work_split(2, 64 * 9, 38, 38)[1] < 38  # really tiled
    np.testing.assert_allclose(conv2d(x, w), naive.conv2d(x, w), rtol=1e-10, atol=1e-10)
    ref = naive.conv2d(x, w, stride=(2, 2), padding=(1, 1, 1, 1))
    np.testing.assert_allclose(conv2d(x, w, stride=2, padding=1), ref, rtol=1e-10, atol=1e-10)
    # Stride 1, "same" width: each tap's rows are copied as one run, then masked.
    ref = naive.conv2d(x, w, padding=(1, 1, 1, 1))
    np.testing.assert_allclose(conv2d(x, w, padding=1), ref, rtol=1e-10, atol=1e-10)
    gy = rng.standard_normal((2, 2, 38, 38))
    gx = conv2d_grad_input(x.shape, w, gy)
    gw = conv2d_grad_weight(x, w.shape, gy)
    for n, c in [(0, 0), (1, 63), (1, 17)]:
        ref = sum(signal.convolve2d(gy[n, o], w[o, c], mode="full") for o in range(2))
        np.testing.assert_allclose(gx[n, c], ref, rtol=1e-10, atol=1e-10)
    for o, c in [(0, 0), (1, 40)]:
        ref = sum(signal.correlate2d(x[n, c], gy[n, o], mode="valid") for n in range(2))
        np.testing.assert_allclose(gw[o, c], ref, rtol=1e-10, atol=1e-10)
    # The same with padding 1 (the one-run copy and add, padding columns masked): the
    # gradients of a padded convolution are those of the unpadded one on a zero-padded input.
    gy = rng.standard_normal((2, 2, 40, 40))
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    gx = conv2d_grad_input(x.shape, w, gy, padding=1)
    gw = conv2d_grad_weight(x, w.shape, gy, padding=1)
    for n, c in [(0, 0), (1, 63), (1, 17)]:
        ref = sum(signal.convolve2d(gy[n, o], w[o, c], mode="full") for o in range(2))
        np.testing.assert_allclose(gx[n, c], ref[1:-1, 1:-1], rtol=1e-10, atol=1e-10)
    for o, c in [(0, 0), (1, 40)]:
        ref = sum(signal.correlate2d(x_pad[n, c], gy[n, o], mode="valid") for n in range(2))
        np.testing.assert_allclose(gw[o, c], ref, rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(conv_configs(max_batch=1), st.integers(64, 75))
def test_batch_innermost_chunks_match_image_major_path(cfg, n):
    """Chunks of 8+ small images can run with the batch innermost (a different im2col layout):
    forward must match the SciPy-built reference, and all three passes the image-major path
    (checked against finite differences above) run on the same chunks."""
    from numbaconv.kernels.cpu import conv as kernels

    cfg["x_shape"] = (n, *cfg["x_shape"][1:])
    assume(_fits(cfg))
    x, w, b = _arrays(cfg)
    y_ref = _reference(cfg, x, w, b)
    b = np.zeros(w.shape[0]) if b is None else b
    chunk, tile, chosen = kernels._split(x, w.shape, y_ref.shape[2:], cfg["stride"])
    assert tile == y_ref.shape[2]  # small images: whole images per chunk
    gy = np.random.default_rng(cfg["seed"] + 1).standard_normal(y_ref.shape)
    top, _, left, _ = _naive_padding(cfg)
    hp = (*cfg["stride"], top, left, *cfg["dilation"])
    results = {}
    for batch_inner in (True, False):
        y, gx, gw = np.empty_like(y_ref), np.empty_like(x), np.empty_like(w)
        kernels._conv2d_forward(x, w, b, y, hp, cfg["groups"], chunk, tile, batch_inner)
        kernels._conv2d_grad_input(gy, w, gx, hp, cfg["groups"], chunk, tile, batch_inner)
        kernels._conv2d_grad_weight(x, gy, gw, hp, cfg["groups"], chunk, tile, batch_inner)
        results[batch_inner] = (y, gx, gw)
    np.testing.assert_allclose(results[True][0], y_ref, rtol=1e-10, atol=1e-10)
    for inner, major in zip(results[True], results[False], strict=True):
        np.testing.assert_allclose(inner, major, rtol=1e-10, atol=1e-10)
    # The public functions take the path _split chose and agree with both (the forward
    # exactly, unless it takes the direct path, which sums in another order).
    hyper = _hyper(cfg)
    direct = kernels._uses_direct(
        x.shape, w.shape, y_ref.shape[2:], cfg["stride"], cfg["dilation"], cfg["groups"], "forward"
    )
    tol = 1e-10 if direct else 0
    np.testing.assert_allclose(conv2d(x, w, b, **hyper), results[chosen][0], rtol=tol, atol=tol)
    np.testing.assert_allclose(
        conv2d_grad_input(x.shape, w, gy, **hyper), results[chosen][1], rtol=0, atol=0
    )


def test_one_run_taps_choose_the_image_major_layout():
    from numbaconv.kernels.cpu import conv as kernels

    x = np.zeros((64, 3, 32, 32), np.float32)
    # stride 1, "same" width (k3 p1): each tap unfolds as one run, image-major
    assert kernels._split(x, (32, 3, 3, 3), (32, 32), (1, 1))[2] is False
    # stride 2: batch innermost
    assert kernels._split(x, (32, 3, 3, 3), (16, 16), (2, 2))[2] is True
    # stride 1 without padding (narrower output rows): batch innermost
    assert kernels._split(x, (32, 3, 3, 3), (30, 30), (1, 1))[2] is True


def test_stride_that_leaves_input_rows_unused():
    # 8 rows, kernel 3, stride 3: outputs read rows 0..5 only; rows 6-7 get zero gradient.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 1, 8, 8))
    w = rng.standard_normal((2, 1, 3, 3))
    y = conv2d(x, w, stride=3)
    assert y.shape == (1, 2, 2, 2)
    gy = rng.standard_normal(y.shape)
    gx = conv2d_grad_input(x.shape, w, gy, stride=3)
    assert np.all(gx[..., 6:, :] == 0) and np.all(gx[..., :, 6:] == 0)
    numeric = naive.numeric_grad(lambda xx: float((conv2d(xx, w, stride=3) * gy).sum()), x)
    np.testing.assert_allclose(gx, numeric, rtol=1e-6, atol=1e-7)


def test_book_edge_values_762_and_minus_29():
    x = BOOK_BLOCK[None, None].astype(np.float32)
    out = conv2d(x, TOP_EDGE[None, None])
    assert out.shape == (1, 1, 8, 18)
    # window rows 4:7, cols 6:9 and rows 7:10, cols 17:20 start at output (4, 6) and (7, 17)
    assert out[0, 0, 4, 6] == 762
    assert out[0, 0, 7, 17] == -29
    assert out[0, 0, 0, 0] == 0


def test_book_batch_of_four_edge_kernels_shape():
    edge_kernels = np.stack([LEFT_EDGE, TOP_EDGE, DIAG1_EDGE, DIAG2_EDGE])[:, None]
    assert edge_kernels.shape == (4, 1, 3, 3)
    xb = np.random.default_rng(5).random((64, 1, 28, 28), dtype=np.float32)
    features = conv2d(xb, edge_kernels)
    assert features.shape == (64, 4, 26, 26)
    assert features.dtype == np.float32
    ref = signal.correlate2d(xb[17, 0].astype(np.float64), DIAG2_EDGE, mode="valid")
    np.testing.assert_allclose(features[17, 3], ref, rtol=1e-5, atol=1e-5)


def test_same_padding_even_kernel_pads_bottom_right():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 2, 4))
    got = conv2d(x, w, padding="same")
    assert got.shape == (1, 3, 5, 6)
    ref = naive.conv2d(x, w, padding=(0, 1, 1, 2))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_non_contiguous_inputs_equal_contiguous():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 5, 10, 9))
    x = base[::2, 1:4, ::-1, :].transpose(0, 1, 3, 2)  # strided, reversed and transposed
    w = rng.standard_normal((3, 4, 3, 3)).transpose(1, 0, 2, 3)[:, :, ::-1]  # (4, 3, 3, 3)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    got = conv2d(x, w, stride=2, padding=1)
    np.testing.assert_array_equal(
        got, conv2d(np.ascontiguousarray(x), np.ascontiguousarray(w), stride=2, padding=1)
    )
    gy = rng.standard_normal(got.shape).transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(
        conv2d_grad_input(x.shape, w, gy, stride=2, padding=1),
        conv2d_grad_input(x.shape, np.ascontiguousarray(w), np.ascontiguousarray(gy), 2, 1),
    )
    np.testing.assert_array_equal(
        conv2d_grad_weight(x, w.shape, gy, stride=2, padding=1),
        conv2d_grad_weight(np.ascontiguousarray(x), w.shape, np.ascontiguousarray(gy), 2, 1),
    )


def test_nan_and_inf_propagate_like_the_reference():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 1, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 0] = np.inf
    w = rng.standard_normal((2, 1, 3, 3))
    got = conv2d(x, w, padding=1)
    with np.errstate(invalid="ignore"):
        ref = naive.conv2d(x, w, padding=(1, 1, 1, 1))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    assert np.isnan(got).any() and np.isinf(got).any()
    finite = np.isfinite(ref)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-10)


@pytest.mark.parametrize("batch", [4, 70])  # image-major chunks; batch-innermost chunks
def test_results_identical_across_thread_counts(batch, thread_counts):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((batch, 4, 12, 12)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((batch, 6, 6, 6)).astype(np.float32)
    hyper = dict(stride=2, padding=1, groups=2)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            results.append(
                (
                    conv2d(x, w, **hyper),
                    conv2d_grad_input(x.shape, w, gy, **hyper),
                    conv2d_grad_weight(x, w.shape, gy, **hyper),
                    conv2d_grad_bias(gy),
                )
            )
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_dtype_rules():
    x32 = np.ones((1, 1, 4, 4), np.float32)
    w32 = np.ones((1, 1, 2, 2), np.float32)
    assert conv2d(x32, w32).dtype == np.float32
    assert conv2d(x32, w32.astype(np.float64)).dtype == np.float64
    assert conv2d(x32, w32, bias=np.zeros(1)).dtype == np.float64
    got = conv2d(np.arange(16).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2), np.int32))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got[0, 0, 0], [10.0, 14.0, 18.0])


def test_empty_batch():
    w = np.ones((3, 2, 3, 3))
    y = conv2d(np.ones((0, 2, 8, 8)), w, stride=2, padding=1)
    assert y.shape == (0, 3, 4, 4)
    gx = conv2d_grad_input((0, 2, 8, 8), w, y, stride=2, padding=1)
    assert gx.shape == (0, 2, 8, 8)
    gw = conv2d_grad_weight(np.ones((0, 2, 8, 8)), w.shape, y, stride=2, padding=1)
    np.testing.assert_array_equal(gw, np.zeros(w.shape))
    np.testing.assert_array_equal(conv2d_grad_bias(y), np.zeros(3))


X = np.ones((2, 4, 8, 8))
W = np.ones((6, 2, 3, 3))
GY = np.ones((2, 6, 6, 6))

# Each needle is a regular expression matched at the start of the message (re.match): it names
# the argument first, then the value received and what was expected, so a message about another
# argument cannot satisfy it.
UNSUPPORTED = r"has unsupported dtype {}; expected a real numeric array"
BAD_CALLS = [
    (
        r"x " + UNSUPPORTED.format("complex128"),
        TypeError,
        lambda: conv2d(X.astype(np.complex128), W, groups=2),
    ),
    (
        r"x " + UNSUPPORTED.format("object"),
        TypeError,
        lambda: conv2d(X.astype(object), W, groups=2),
    ),
    (
        r"x has dtype float16; expected float32 or float64",
        TypeError,
        lambda: conv2d(X.astype(np.float16), W, groups=2),
    ),
    (r"x " + UNSUPPORTED.format("<U1"), TypeError, lambda: conv2d(np.array(["a"]), W)),
    (
        r"weight " + UNSUPPORTED.format("complex64"),
        TypeError,
        lambda: conv2d(X, W.astype(np.complex64), groups=2),
    ),
    (
        r"x must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), got 2-D shape \(8, 8\)",
        ValueError,
        lambda: conv2d(X[0, 0], W, groups=2),
    ),
    (
        r"weight must be 4-D with layout \(O, C/groups, KH, KW\), got 3-D shape \(2, 3, 3\)",
        ValueError,
        lambda: conv2d(X, W[0], groups=2),
    ),
    (
        r"bias has shape \(5,\); expected \(6,\)",
        ValueError,
        lambda: conv2d(X, W, bias=np.ones(5), groups=2),
    ),
    (
        r"bias must be 1-D with layout \(O,\), got 2-D shape \(6, 1\)",
        ValueError,
        lambda: conv2d(X, W, bias=np.ones((6, 1)), groups=2),
    ),
    (
        r"input channels \(4\) must be divisible by groups \(3\)",
        ValueError,
        lambda: conv2d(X, W, groups=3),
    ),
    (r"groups must be >= 1, got 0$", ValueError, lambda: conv2d(X, W, groups=0)),
    (r"groups must be an integer, got 2\.0$", TypeError, lambda: conv2d(X, W, groups=2.0)),
    (
        r"weight has shape \(6, 2, 3, 3\), so it expects 2 input channels with groups=1; "
        r"the input has 4 channels",
        ValueError,
        lambda: conv2d(X, W, groups=1),
    ),
    (r"stride must be >= 1, got 0$", ValueError, lambda: conv2d(X, W, stride=0, groups=2)),
    (
        r"stride must be >= 1, got -2 \(in stride=\(1, -2\)\)$",
        ValueError,
        lambda: conv2d(X, W, stride=(1, -2), groups=2),
    ),
    (
        r"stride must be an integer, got 1\.5$",
        TypeError,
        lambda: conv2d(X, W, stride=1.5, groups=2),
    ),
    (
        r"stride must be an integer, got nan$",
        TypeError,
        lambda: conv2d(X, W, stride=float("nan"), groups=2),
    ),
    (
        r"stride must be an int or a tuple of one or two ints, got \(1, 2, 3\)$",
        ValueError,
        lambda: conv2d(X, W, stride=(1, 2, 3), groups=2),
    ),
    (r"dilation must be >= 1, got 0$", ValueError, lambda: conv2d(X, W, dilation=0, groups=2)),
    (
        r"dilation must be an integer, got True$",
        TypeError,
        lambda: conv2d(X, W, dilation=True, groups=2),
    ),
    (r"padding must be >= 0, got -1$", ValueError, lambda: conv2d(X, W, padding=-1, groups=2)),
    (
        r"padding must be one of \('valid', 'same'\), got 'full'$",
        ValueError,
        lambda: conv2d(X, W, padding="full", groups=2),
    ),
    (
        r"padding='same' is not supported for strided convolutions, got stride=\(2, 2\)",
        ValueError,
        lambda: conv2d(X, W, padding="same", stride=2, groups=2),
    ),
    (
        r"padding must be an integer, got None$",
        TypeError,
        lambda: conv2d(X, W, padding=None, groups=2),
    ),
    (
        r"kernel height 9 with dilation 1 spans 9 pixels, more than the padded input height 8",
        ValueError,
        lambda: conv2d(X, np.ones((6, 2, 9, 3)), groups=2),
    ),
    (
        r"kernel width 3 with dilation 5 spans 11 pixels, more than the padded input width 8",
        ValueError,
        lambda: conv2d(X, W, dilation=(1, 5), groups=2),
    ),
    (
        r"input must have at least one channel, row and column, got shape \(2, 4, 0, 8\)",
        ValueError,
        lambda: conv2d(np.ones((2, 4, 0, 8)), W, groups=2),
    ),
    (
        r"weight must have at least one output channel and a kernel of at least 1x1, "
        r"got shape \(0, 2, 3, 3\)",
        ValueError,
        lambda: conv2d(X, np.ones((0, 2, 3, 3)), groups=2),
    ),
    (
        r"input_shape must be a tuple of 4 \(N, C, H, W\) or 3 \(C, H, W\) non-negative ints, "
        r"got \(4, 8\)",
        ValueError,
        lambda: conv2d_grad_input((4, 8), W, GY, groups=2),
    ),
    (
        r"input_shape must be an integer, got 8\.0 \(in input_shape=\(2, 4, 8\.0, 8\)\)$",
        TypeError,
        lambda: conv2d_grad_input((2, 4, 8.0, 8), W, GY, groups=2),
    ),
    (
        r"input_shape must be >= 0, got -8 \(in input_shape=\(2, 4, -8, 8\)\)$",
        ValueError,
        lambda: conv2d_grad_input((2, 4, -8, 8), W, GY, groups=2),
    ),
    (
        r"grad_output has shape \(2, 6, 5, 6\); expected \(2, 6, 6, 6\)",
        ValueError,
        lambda: conv2d_grad_input(X.shape, W, GY[:, :, :5], groups=2),
    ),
    (
        r"grad_output has shape \(2, 6, 6, 6\); expected \(2, 6, 3, 3\)",
        ValueError,
        lambda: conv2d_grad_input(X.shape, W, GY, stride=2, groups=2),
    ),
    (
        r"grad_output has shape \(1, 6, 6, 6\); expected \(2, 6, 6, 6\)",
        ValueError,
        lambda: conv2d_grad_weight(X, W.shape, GY[:1], groups=2),
    ),
    (
        r"weight_shape must be a tuple of 4 ints",
        ValueError,
        lambda: conv2d_grad_weight(X, (6, 2, 3), GY, groups=2),
    ),
    (
        r"grad_output must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), got 2-D shape \(6, 6\)",
        ValueError,
        lambda: conv2d_grad_bias(GY[0, 0]),
    ),
    (
        r"grad_output " + UNSUPPORTED.format("complex128"),
        TypeError,
        lambda: conv2d_grad_bias(GY.astype(np.complex128)),
    ),
]


@pytest.mark.parametrize(
    "needle,exc,call", BAD_CALLS, ids=[f"{i}-{b[0].split()[0]}" for i, b in enumerate(BAD_CALLS)]
)
def test_malformed_calls_raise_clear_errors(needle, exc, call):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    assert re.match(needle, message), f"{message!r} does not start with {needle!r}"


def test_memoised_geometry_still_validates_every_call():
    """The geometry of plain-int calls is memoised: a good call must not let a bad one that
    compares equal (True == 1, 2.0 == 2) through, and a bad call raises every time."""
    x = np.ones((1, 1, 5, 5), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    expected = conv2d(x, w, stride=1, padding=1)
    np.testing.assert_array_equal(conv2d(x, w, stride=(1, 1), padding=1), expected)
    for stride in (True, (True, 1), 1.0):
        with pytest.raises(TypeError, match=r"^stride must be an integer"):
            conv2d(x, w, stride=stride, padding=1)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"^stride must be >= 1, got 0$"):
            conv2d(x, w, stride=0, padding=1)
    with pytest.raises(TypeError, match=r"^padding must be an integer"):
        conv2d_grad_weight(x, w.shape, expected, stride=1, padding=np.float32(1))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 600), k=st.integers(1, 600), side=st.integers(1, 40))
def test_chunks_of_whole_images_are_even(n, k, side):
    """Whole-image chunks: within the workspace, at most ``_MIN_CHUNKS`` images short of an
    even split (no lone last image, as 64 images at 9 a chunk once gave), covering the batch."""
    from numbaconv.kernels.cpu import conv as cpu_conv

    assume(k * side * side <= cpu_conv._WORKSPACE_ELEMENTS)
    chunk, tile = cpu_conv._work_split(n, k, side, side)
    assert tile == side and chunk >= 1
    assert chunk * k * side * side <= max(cpu_conv._WORKSPACE_ELEMENTS, k * side * side)
    n_chunks = -(-n // chunk)
    if n:
        assert n - (n_chunks - 1) * chunk > chunk - n_chunks  # the last chunk is not short
    assert cpu_conv._work_split(64, 27, 32, 32) == (8, 32)
