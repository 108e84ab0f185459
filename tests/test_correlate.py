"""correlate2d / convolve2d against scipy.signal, hand-computed values and the book's numbers."""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.ops.correlate import convolve2d, correlate2d

# The SciPy reference (and an intended float32 overflow) warn on the casts under test.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*encountered in cast:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning"),
]

FUNCTIONS = {"correlate2d": correlate2d, "convolve2d": convolve2d}
MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "wrap", "symm")
DTYPES = ("float32", "float64", "int32", "int64", "uint8")


def _random_array(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    low, high = (0, 256) if dtype == np.uint8 else (-1000, 1001)
    return rng.integers(low, high, size=shape).astype(dtype)


def _scale(in1, in2, fillvalue):
    """An upper bound on the magnitude of any partial sum, for absolute tolerances."""
    try:
        fill = abs(complex(np.asarray(fillvalue, dtype=np.complex128).reshape(-1)[0]))
    except (TypeError, ValueError, IndexError):
        fill = 0.0
    magnitude1 = np.abs(in1).astype(np.float64).max(initial=0.0)
    largest = max(magnitude1, fill if np.isfinite(fill) else 0)
    return largest * np.abs(in2).astype(np.float64).sum() + 1.0


def assert_matches_scipy(function, in1, in2, mode, boundary, fillvalue, method="auto", rtol=None):
    """Same exception class as SciPy, or same shape, dtype and values (to ``rtol`` of the
    largest partial sum: 1e-5 for single precision, 1e-10 for double, unless given)."""
    try:
        expected = getattr(scipy.signal, function)(in1, in2, mode, boundary, fillvalue)
    except Exception as exc:
        with pytest.raises(type(exc)):
            FUNCTIONS[function](in1, in2, mode, boundary, fillvalue, method)
        return
    got = FUNCTIONS[function](in1, in2, mode, boundary, fillvalue, method)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if expected.dtype.kind in "iu":
        np.testing.assert_array_equal(got, expected)
    else:
        if rtol is None:
            rtol = 1e-5 if expected.dtype in (np.float32, np.complex64) else 1e-10
        np.testing.assert_allclose(
            got, expected, rtol=rtol, atol=rtol * _scale(in1, in2, fillvalue)
        )


def _fill_strategy():
    return st.one_of(
        st.integers(-5, 300), st.floats(-10, 10, allow_nan=False, allow_infinity=False)
    )


@settings(max_examples=60, deadline=None)
@given(
    function=st.sampled_from(sorted(FUNCTIONS)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    shape1=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    shape2=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
    fillvalue=_fill_strategy(),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_scipy(function, mode, boundary, shape1, shape2, dtypes, fillvalue, seed):
    rng = np.random.default_rng(seed)
    in1 = _random_array(rng, shape1, dtypes[0])
    in2 = _random_array(rng, shape2, dtypes[1])
    assert_matches_scipy(function, in1, in2, mode, boundary, fillvalue)


@settings(max_examples=50, deadline=None)
@given(
    function=st.sampled_from(sorted(FUNCTIONS)),
    mode=st.sampled_from(("full", "same")),
    boundary=st.sampled_from(("wrap", "symm")),
    shape1=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    extra=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_larger_than_image_repeats_the_boundary(
    function, mode, boundary, shape1, extra, seed
):
    # Windows reach several image sizes past the edge: reflection/wrap must repeat.
    rng = np.random.default_rng(seed)
    in1 = rng.standard_normal(shape1)
    in2 = rng.standard_normal((shape1[0] + extra[0], shape1[1] + extra[1]))
    assert_matches_scipy(function, in1, in2, mode, boundary, 0)


def test_symm_and_wrap_extend_a_single_row_by_hand():
    image = np.array([[1.0, 2.0]])
    ones = np.ones((1, 5))
    # symm extends 1 2 periodically as ... 2 1 | 1 2 | 2 1 1 2 ...; wrap as ... 1 2 | 1 2 | 1 2 ...
    # Column 0 of 'same' sums positions -2..2: symm 2+1+1+2+2, wrap 1+2+1+2+1.
    assert correlate2d(image, ones, "same", "symm")[0, 0] == 8.0
    assert correlate2d(image, ones, "same", "wrap")[0, 0] == 7.0


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize(
    ("alias", "name"), [("pad", "fill"), ("circular", "wrap"), ("symmetric", "symm")]
)
def test_boundary_aliases(function, alias, name):
    rng = np.random.default_rng(3)
    in1, in2 = rng.standard_normal((5, 4)), rng.standard_normal((3, 2))
    got = FUNCTIONS[function](in1, in2, "same", alias, 2.5)
    np.testing.assert_array_equal(got, FUNCTIONS[function](in1, in2, "same", name, 2.5))
    assert_matches_scipy(function, in1, in2, "same", alias, 2.5)


# --------------------------------------------------------------------------- book numbers

BOOK_BLOCK_ROWS_5_TO_9 = [
    [0, 0, 0, 12, 99, 91, 142, 155, 246, 182, 155, 155, 155, 155, 131, 52, 0, 0, 0, 0],
    [0, 0, 0, 138, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 252, 210, 122, 33, 0],
    [0, 0, 0, 220, 254, 254, 254, 235, 189, 189, 189, 189, 150, 189, 205, 254, 254, 254, 75, 0],
    [0, 0, 0, 35, 74, 35, 35, 25, 0, 0, 0, 0, 0, 0, 13, 224, 254, 254, 153, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 90, 254, 254, 247, 53, 0],
]
TOP_EDGE = np.array([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def _book_block(dtype):
    block = np.zeros((10, 20), dtype=dtype)
    block[5:] = BOOK_BLOCK_ROWS_5_TO_9
    return block


@pytest.mark.parametrize(
    ("block_dtype", "kernel_dtype", "out_dtype"),
    [
        ("uint8", "float64", "float64"),
        ("float32", "float32", "float32"),
        ("int64", "int64", "int64"),
    ],
)
def test_book_top_edge_values(block_dtype, kernel_dtype, out_dtype):
    block = _book_block(block_dtype)
    out = correlate2d(block, TOP_EDGE.astype(kernel_dtype), "valid")
    assert out.shape == (8, 18)
    assert out.dtype == out_dtype
    assert out[4, 6] == 762  # window rows 4:7, cols 6:9 (chapter 13, section 1.1)
    assert out[7, 17] == -29  # window rows 7:10, cols 17:20
    assert out[0, 0] == 0  # the all-white top-left corner
    # By hand: (row 6 - row 4) over cols 6..8 is 3*254 = 762; (row 9 - row 7) over
    # cols 17..19 is (247 + 53 + 0) - (254 + 75 + 0) = -29.
    expected = scipy.signal.correlate2d(block, TOP_EDGE.astype(kernel_dtype), "valid")
    np.testing.assert_array_equal(out, expected)


# --------------------------------------------------------------------------- convolve vs correlate


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", ("full", "valid"))
def test_convolve_is_correlate_with_reversed_kernel(mode, boundary):
    rng = np.random.default_rng(5)
    in1, in2 = rng.standard_normal((7, 9)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(
        convolve2d(in1, in2, mode, boundary, 1.5),
        correlate2d(in1, in2[::-1, ::-1], mode, boundary, 1.5),
        rtol=1e-12,
        atol=1e-12,
    )


def test_same_mode_centring_of_an_even_kernel_by_hand():
    impulse = np.zeros((4, 4))
    impulse[1, 1] = 1.0
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    # SciPy's 'same' window starts at -((k-1)//2) = 0 when correlating and at
    # -(k//2) = -1 when convolving, so an impulse spreads down-right when
    # convolving and up-left when correlating.
    conv = convolve2d(impulse, kernel, "same")
    corr = correlate2d(impulse, kernel, "same")
    np.testing.assert_array_equal(conv[1:3, 1:3], kernel)
    np.testing.assert_array_equal(corr[0:2, 0:2], kernel[::-1, ::-1])
    assert np.count_nonzero(conv) == 4
    assert np.count_nonzero(corr) == 4
    np.testing.assert_array_equal(conv, scipy.signal.convolve2d(impulse, kernel, "same"))
    np.testing.assert_array_equal(corr, scipy.signal.correlate2d(impulse, kernel, "same"))


def test_valid_mode_swaps_a_larger_second_input():
    rng = np.random.default_rng(6)
    small, big = rng.standard_normal((2, 3)), rng.standard_normal((5, 6))
    corr = correlate2d(small, big, "valid")
    assert corr.shape == (4, 4)
    np.testing.assert_array_equal(corr, correlate2d(big, small, "valid")[::-1, ::-1])
    np.testing.assert_allclose(corr, scipy.signal.correlate2d(small, big, "valid"), rtol=1e-12)
    conv = convolve2d(small, big, "valid")
    np.testing.assert_array_equal(conv, convolve2d(big, small, "valid"))
    np.testing.assert_allclose(conv, scipy.signal.convolve2d(small, big, "valid"), rtol=1e-12)


# --------------------------------------------------------------------------- dtypes

ALL_REAL = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
            "float32", "float64", "bool")  # fmt: skip


@pytest.mark.parametrize(("dtype1", "dtype2"), list(itertools.product(ALL_REAL, ALL_REAL)))
def test_result_dtype_and_values_like_scipy(dtype1, dtype2):
    rng = np.random.default_rng(7)
    in1 = rng.integers(0, 2, (4, 5)).astype(dtype1)
    in2 = rng.integers(0, 2, (3, 2)).astype(dtype2)
    assert_matches_scipy("correlate2d", in1, in2, "full", "fill", 1)


def test_integer_arithmetic_wraps_like_scipy():
    # 9 * (-100)**2 = 90000 = 351*256 + 144, and 144 is -112 as int8.
    minus_hundred = np.full((3, 3), -100, dtype=np.int8)
    out = correlate2d(minus_hundred, minus_hundred, "valid")
    assert out.dtype == np.int8
    assert out[0, 0] == -112
    assert_matches_scipy("correlate2d", minus_hundred, minus_hundred, "full", "symm", 0)
    big = np.full((2, 2), 200, dtype=np.uint8)
    assert_matches_scipy("convolve2d", big, big, "full", "fill", 3)
    # Beyond 2**31 too: 4 * 50000**2 = 10**10 = 2 * 2**32 + 1410065408, which is int32 1410065408.
    wide = np.full((2, 2), 50000, dtype=np.int32)
    assert correlate2d(wide, wide, "valid")[0, 0] == 1410065408
    assert_matches_scipy("correlate2d", wide, wide, "full", "fill", 0)


FILL_VALUES = [
    1.5, -2.7, 300, 2**40, True, "3", None, [[2]], [np.float64(2.5)],
    np.float64(1.5), np.float32(-1.5), np.int64(300), np.complex128(1),
    # Arrays, unlike scalars, must cast safely to the output dtype.
    np.array([[4.0]]), np.array(3), np.array([3.5], np.float32), np.array(np.nan),
    np.array(True), np.array(2.0, dtype=object), np.array(1 + 1j),
]  # fmt: skip


@pytest.mark.parametrize("fillvalue", FILL_VALUES)
def test_fillvalue_conversion_like_scipy(fillvalue):
    rng = np.random.default_rng(8)
    ints, floats = rng.integers(0, 9, (4, 3)), rng.standard_normal((4, 3))
    for in1 in (ints, ints.astype(np.uint8), floats, floats.astype(np.float32)):
        assert_matches_scipy("correlate2d", in1, in1[:2, :2], "full", "fill", fillvalue)


@pytest.mark.parametrize("fillvalue", [1e300, np.float64(-1e300), np.array(1e300)])
def test_huge_fillvalue_overflows_float32_like_scipy(fillvalue):
    # (For integer outputs such a fill is out of range; the float64 kernel cannot
    # reproduce SciPy's wrapped integer products there, so that case is not claimed.)
    floats = np.random.default_rng(12).standard_normal((4, 3))
    for in1 in (floats, floats.astype(np.float32)):
        assert_matches_scipy("correlate2d", in1, in1[:2, :2], "same", "fill", fillvalue)


def test_fillvalue_is_ignored_unless_boundary_is_fill():
    rng = np.random.default_rng(9)
    in1, in2 = rng.standard_normal((4, 4)), rng.standard_normal((2, 3))
    for bad_fill in (1 + 2j, "x", [1, 2]):
        got = correlate2d(in1, in2, "same", "wrap", bad_fill)
        np.testing.assert_array_equal(got, correlate2d(in1, in2, "same", "wrap"))
        assert_matches_scipy("correlate2d", in1, in2, "same", "wrap", bad_fill)


# --------------------------------------------------------------------------- layouts, NaN, threads


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_non_contiguous_inputs_equal_contiguous_copies(function):
    rng = np.random.default_rng(10)
    base1 = rng.standard_normal((12, 11))
    base2 = rng.integers(-4, 5, (6, 7))
    views = [
        (base1[::2, 1::3], base2[::-1, ::2]),
        (base1.T, base2.T[:3]),
        (base1[2:9, ::-1], np.asfortranarray(base2[1:4, 2:6])),
    ]
    for view1, view2 in views:
        assert not (view1.flags.c_contiguous and view2.flags.c_contiguous)
        for mode, boundary in itertools.product(MODES, BOUNDARIES):
            if mode == "valid" and not all(a >= b for a, b in zip(view1.shape, view2.shape)):
                continue
            f = FUNCTIONS[function]
            got = f(view1, view2, mode, boundary, 0.5)
            expected = f(
                np.ascontiguousarray(view1), np.ascontiguousarray(view2), mode, boundary, 0.5
            )
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_nan_and_inf_propagate_like_scipy(function, mode, boundary):
    in1 = np.arange(30.0).reshape(5, 6)
    in1[1, 2] = np.nan
    in1[3, 4] = np.inf
    in1[4, 0] = -np.inf
    in2 = np.array([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]])
    expected = getattr(scipy.signal, function)(in1, in2, mode, boundary)
    got = FUNCTIONS[function](in1, in2, mode, boundary)
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_zero_fill_times_infinite_weight_is_nan_like_scipy():
    # SciPy multiplies the fill value by every weight, so 0 * inf poisons the border.
    in1 = np.ones((3, 3))
    in2 = np.array([[np.inf, 1.0]])
    expected = scipy.signal.correlate2d(in1, in2, "full", "fill", 0)
    got = correlate2d(in1, in2, "full", "fill", 0)
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])
    nan_fill = correlate2d(in1, np.ones((2, 2)), "full", "fill", np.nan)
    np.testing.assert_array_equal(
        np.isnan(nan_fill),
        np.isnan(scipy.signal.correlate2d(in1, np.ones((2, 2)), fillvalue=np.nan)),
    )


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_bit_identical_across_thread_counts(function, dtype, thread_counts):
    rng = np.random.default_rng(11)
    in1 = rng.standard_normal((67, 53)).astype(dtype)
    # General path (5 x 4) and the fused 3 x 3 and 5 x 5 paths.
    kernels = [rng.standard_normal(shape).astype(dtype) for shape in ((5, 4), (3, 3), (5, 5))]
    previous = numba.get_num_threads()
    try:
        results = {}
        for threads in thread_counts:
            numba.set_num_threads(threads)
            results[threads] = [
                FUNCTIONS[function](in1, in2, mode, boundary, 0.25)
                for in2 in kernels
                for mode, boundary in itertools.product(MODES, BOUNDARIES)
            ]
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(results[1], results[2]):
        assert one.tobytes() == two.tobytes()


# --------------------------------------------------------------------------- empty inputs

EMPTY_SHAPES = [(0, 3), (3, 0), (0, 0), (3, 3), (0, 2), (2, 0), (2, 2), (1, 4)]


def _scipy_would_crash(mode, boundary, image, kernel, out):
    # SciPy divides by the image size when it wraps/reflects an empty image: whenever
    # the output is non-empty and the kernel has rows ('valid' never gets there).
    return (
        mode != "valid" and boundary != "fill" and image.size == 0 and kernel.shape[0] > 0
        and out.size > 0
    )  # fmt: skip


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_empty_inputs_like_scipy(mode, boundary):
    compared = 0
    for shape1, shape2 in itertools.product(EMPTY_SHAPES, EMPTY_SHAPES):
        if 0 not in shape1 + shape2:
            continue
        in1 = np.arange(np.prod(shape1), dtype=float).reshape(shape1) + 1
        in2 = np.arange(np.prod(shape2), dtype=float).reshape(shape2) + 2
        for function in sorted(FUNCTIONS):
            try:
                got = FUNCTIONS[function](in1, in2, mode, boundary, 1.5)
            except ValueError as exc:
                if "is empty" in str(exc):  # our refusal where SciPy would crash
                    assert boundary != "fill" and in1.size == 0 and in2.size > 0
                    continue
                got = None
            if got is not None and _scipy_would_crash(mode, boundary, in1, in2, got):
                assert in2.size == 0 and not got.any()  # an empty sum of products
                continue
            assert_matches_scipy(function, in1, in2, mode, boundary, 1.5)
            compared += 1
    assert compared >= 40


def test_fill_boundary_on_an_empty_image_sums_the_fill():
    out = correlate2d(np.zeros((0, 3)), np.ones((2, 2)), "full", "fill", 2.0)
    assert out.shape == (1, 4)
    np.testing.assert_array_equal(out, np.full((1, 4), 8.0))
    np.testing.assert_array_equal(
        out, scipy.signal.correlate2d(np.zeros((0, 3)), np.ones((2, 2)), "full", "fill", 2.0)
    )


def test_wrap_of_an_empty_image_is_refused():
    # SciPy crashes here (integer division by zero), so there is nothing to compare with.
    with pytest.raises(ValueError, match="in1"):
        correlate2d(np.zeros((0, 3)), np.ones((2, 2)), "full", "wrap")


# --------------------------------------------------------------------------- bad calls

GOOD = np.ones((4, 4))
KERNEL = np.ones((2, 2))
BAD_CALLS = [
    # (in1, in2, keyword arguments, the argument name our message must contain)
    (np.ones(4), KERNEL, {}, "in1"),
    (GOOD, np.ones((1, 2, 2)), {}, "in2"),
    ([[1.0, 2.0], [3.0]], KERNEL, {}, "in1"),
    (np.ones((3, 5)), np.ones((5, 3)), {"mode": "valid"}, "in1"),
    (GOOD, KERNEL, {"mode": "VALID"}, "mode"),
    (GOOD, KERNEL, {"mode": 0}, "mode"),
    (GOOD, KERNEL, {"mode": ["full"]}, "mode"),
    (GOOD, KERNEL, {"boundary": "zero"}, "boundary"),
    (GOOD, KERNEL, {"boundary": "reflect"}, "boundary"),
    (GOOD, KERNEL, {"boundary": ["fill"]}, "boundary"),
    (GOOD, KERNEL, {"fillvalue": 1 + 2j}, "fillvalue"),
    (GOOD.astype(np.uint8), KERNEL.astype(np.uint8), {"fillvalue": 300}, "fillvalue"),
    (GOOD.astype(np.int64), KERNEL.astype(np.int64), {"fillvalue": np.nan}, "fillvalue"),
    (GOOD, KERNEL, {"fillvalue": [1.0, 2.0]}, "fillvalue"),
    (GOOD, KERNEL, {"fillvalue": []}, "fillvalue"),
    (GOOD, KERNEL, {"fillvalue": "a"}, "fillvalue"),
    (GOOD, KERNEL, {"fillvalue": object()}, "fillvalue"),
    (GOOD > 0, KERNEL > 0, {}, "in1"),
    (GOOD.astype(np.float16), KERNEL.astype(np.float16), {}, "in1"),
    (GOOD.astype(object), KERNEL, {}, "in1"),
    (np.full((4, 4), "a"), KERNEL, {}, "in1"),
    (GOOD.astype("datetime64[s]"), KERNEL.astype("datetime64[s]"), {}, "in[12]"),
    (GOOD.astype("timedelta64[s]"), KERNEL, {}, "in1"),
    (GOOD, KERNEL.astype("datetime64[s]"), {}, "in2"),
    (np.zeros((0, 0)), np.zeros((0, 0)), {"mode": "full"}, "mode"),
    # Swapped in 'valid' mode: the message still names the argument as passed.
    (np.ones((2, 2), np.float16), np.ones((3, 3), np.float16), {"mode": "valid"}, "in1"),
]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize(("in1", "in2", "kwargs", "argument"), BAD_CALLS)
def test_bad_calls_raise_like_scipy(function, in1, in2, kwargs, argument):
    with pytest.raises((ValueError, TypeError)) as scipy_error:
        getattr(scipy.signal, function)(in1, in2, **kwargs)
    with pytest.raises(scipy_error.type, match=argument):
        FUNCTIONS[function](in1, in2, **kwargs)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize(
    ("in1", "in2", "argument"),
    [
        (GOOD.astype(np.longdouble), KERNEL, "in1"),
        (GOOD, KERNEL.astype(np.clongdouble), "in2"),
        (KERNEL.astype(np.longdouble), GOOD, "in1"),  # swapped in 'valid' mode
    ],
)
@pytest.mark.parametrize("mode", ("full", "valid"))
def test_unsupported_dtypes_scipy_accepts_raise_type_error(function, in1, in2, argument, mode):
    getattr(scipy.signal, function)(in1, in2, mode)  # SciPy computes these; numbaconv does not
    with pytest.raises(TypeError, match=f"^{argument} "):
        FUNCTIONS[function](in1, in2, mode)


# --------------------------------------------------------------------------- fused 3x3 / 5x5 path


@pytest.mark.parametrize("dtype", ("float32", "float64", "complex64", "complex128"))
@pytest.mark.parametrize("k", (3, 5))
def test_fused_square_kernels_match_scipy(k, dtype):
    # 3 x 3 and 5 x 5 kernels take a fused pass over the interior rows; the rows near the top
    # and bottom and the columns near the edges take the general path: all must agree.
    rng = np.random.default_rng(13)
    in1 = rng.standard_normal((19, 23))
    in2 = rng.standard_normal((k, k))
    if dtype.startswith("complex"):
        in1 = in1 + 1j * rng.standard_normal(in1.shape)
        in2 = in2 + 1j * rng.standard_normal(in2.shape)
    in1, in2 = in1.astype(dtype), in2.astype(dtype)
    for function, mode, boundary in itertools.product(sorted(FUNCTIONS), MODES, BOUNDARIES):
        assert_matches_scipy(function, in1, in2, mode, boundary, 0.5, method="direct")


@pytest.mark.parametrize("k", (3, 5))
def test_fused_square_kernels_propagate_nan_and_inf_like_scipy(k):
    in1 = np.arange(120.0).reshape(10, 12)
    in1[5, 6] = np.nan
    in1[2, 9] = np.inf
    in2 = np.ones((k, k))
    in2[0, 0] = 0.0  # 0 * inf is NaN in SciPy's sums too
    for mode, boundary in itertools.product(MODES, BOUNDARIES):
        expected = scipy.signal.correlate2d(in1, in2, mode, boundary)
        got = correlate2d(in1, in2, mode, boundary, method="direct")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12)
