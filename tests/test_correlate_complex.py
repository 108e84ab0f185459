"""correlate2d / convolve2d on complex inputs (and mixes with real ones) against scipy.signal."""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.ops.correlate import convolve2d, correlate2d
from tests.test_correlate import BOUNDARIES, FUNCTIONS, MODES, assert_matches_scipy

pytestmark = pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")

COMPLEX = ("complex64", "complex128")
ANY = (*COMPLEX, "float32", "float64", "int16", "uint8")


def _random(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 50, size=shape).astype(dtype)


@settings(max_examples=80, deadline=None)
@given(
    function=st.sampled_from(sorted(FUNCTIONS)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    shape1=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    shape2=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    dtypes=st.tuples(st.sampled_from(COMPLEX), st.sampled_from(ANY)),
    first_is_complex=st.booleans(),
    fillvalue=st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_scipy_on_random_complex_inputs(
    function, mode, boundary, shape1, shape2, dtypes, first_is_complex, fillvalue, seed
):
    rng = np.random.default_rng(seed)
    dtype1, dtype2 = dtypes if first_is_complex else dtypes[::-1]
    in1, in2 = _random(rng, shape1, dtype1), _random(rng, shape2, dtype2)
    assert_matches_scipy(function, in1, in2, mode, boundary, fillvalue, method="direct")


@pytest.mark.parametrize(("dtype1", "dtype2"), list(itertools.product(ANY, ANY)))
def test_result_dtype_like_scipy(dtype1, dtype2):
    rng = np.random.default_rng(1)
    in1, in2 = _random(rng, (5, 4), dtype1), _random(rng, (2, 3), dtype2)
    for function in sorted(FUNCTIONS):
        assert_matches_scipy(function, in1, in2, "same", "symm", 0)


def test_conjugation_rule_by_hand():
    # SciPy correlates with conj(in2): 1 * conj(2j) = -2j, 2j * conj(3j) = 6, 3j * conj(4) = 12j.
    assert correlate2d([[1]], [[2j]])[0, 0] == -2j
    assert correlate2d([[2j]], [[3j]])[0, 0] == 6
    assert correlate2d([[3j]], [[4]])[0, 0] == 12j
    # A convolution conjugates nothing: 2j * 3j = -6.
    assert convolve2d([[2j]], [[3j]])[0, 0] == -6
    # Two taps: out[0, 1] = in1[0, 0] * conj(in2[0, 0]) + in1[0, 1] * conj(in2[0, 1]).
    got = correlate2d([[1j, 2]], [[1 + 1j, 3j]], "valid")
    assert got.shape == (1, 1)
    assert got[0, 0] == 1j * (1 - 1j) + 2 * (-3j)


def test_valid_swap_reverses_without_conjugating():
    # in2 larger: SciPy correlates in2 with conj(in1) and reverses the result (no conjugate).
    rng = np.random.default_rng(2)
    small, big = _random(rng, (2, 3), "complex128"), _random(rng, (4, 5), "complex128")
    got = correlate2d(small, big, "valid")
    # The same sums as correlating big with conj(small), reversed on both axes.
    np.testing.assert_array_equal(got, correlate2d(big, small, "valid")[::-1, ::-1])
    assert not np.allclose(got, got.conj())  # the rule is visible on these inputs
    np.testing.assert_allclose(got, scipy.signal.correlate2d(small, big, "valid"), rtol=1e-12)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize("mode", MODES)
def test_complex_fillvalue_fills_real_and_imaginary_parts(function, mode):
    rng = np.random.default_rng(3)
    in1, in2 = _random(rng, (6, 5), "complex128"), _random(rng, (3, 4), "float64")
    fill = 2.5 - 1.5j
    got = FUNCTIONS[function](in1, in2, mode, "fill", fill)
    # Linear in (image, fill): the parts computed separately add up.
    real = FUNCTIONS[function](in1.real, in2, mode, "fill", fill.real)
    imag = FUNCTIONS[function](in1.imag, in2, mode, "fill", fill.imag)
    np.testing.assert_allclose(got, real + 1j * imag, rtol=1e-12, atol=1e-12)
    assert_matches_scipy(function, in1, in2, mode, "fill", fill)


def test_complex_fillvalue_with_a_real_result_is_refused_in_scipy_words():
    with pytest.raises(ValueError, match=r"^could not cast `fillvalue` directly to the output "):
        convolve2d([[1]], [[1, 2]], fillvalue=1j)
    with pytest.raises(ValueError, match=r"^`fillvalue` must be scalar or an array with one "):
        convolve2d([[1]], [[1, 2]], fillvalue=[1, 2])
    # numbaconv's detail follows SciPy's words: the value received and what was expected.
    with pytest.raises(ValueError, match=r"got 2 elements"):
        correlate2d([[1j]], [[1, 2]], fillvalue=[1, 2])


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_nan_and_inf_in_complex_inputs_propagate_like_scipy(boundary):
    in1 = (np.arange(30.0) + 1j * np.arange(30.0)[::-1]).reshape(5, 6)
    in1[1, 2] = complex(np.nan, 1)
    in1[3, 4] = complex(1, np.inf)
    in2 = np.array([[1.0 + 1j, 0.0, -1.0], [0.0, 2.0j, 0.5]])
    for function in sorted(FUNCTIONS):
        expected = getattr(scipy.signal, function)(in1, in2, "same", boundary)
        got = FUNCTIONS[function](in1, in2, "same", boundary)
        assert np.isnan(expected).any()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(np.isfinite(got), finite)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_results_bit_identical_across_thread_counts(dtype):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least 2 Numba threads (NUMBA_NUM_THREADS)")
    rng = np.random.default_rng(4)
    in1, in2 = _random(rng, (37, 29), dtype), _random(rng, (5, 4), dtype)
    previous = numba.get_num_threads()
    results = {}
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results[threads] = [
                f(in1, in2, mode, boundary, 0.5 + 1j, method="direct")
                for f in (correlate2d, convolve2d)
                for mode, boundary in itertools.product(MODES, BOUNDARIES)
            ]
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(results[1], results[2]):
        assert one.tobytes() == two.tobytes()


def test_non_contiguous_complex_views_equal_contiguous_copies():
    rng = np.random.default_rng(5)
    base1, base2 = _random(rng, (12, 11), "complex128"), _random(rng, (6, 7), "complex64")
    view1, view2 = base1[::2, 1::3], base2.T[::-1, :3]
    for function in FUNCTIONS.values():
        got = function(view1, view2, "full", "wrap")
        expected = function(
            np.ascontiguousarray(view1), np.ascontiguousarray(view2), "full", "wrap"
        )
        np.testing.assert_array_equal(got, expected)
