"""relu and relu_grad (numbaconv.ops.activation) against NumPy references written here."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numbaconv import _backend
from numbaconv.kernels.cpu import activation as cpu_activation
from numbaconv.ops.activation import relu, relu_grad

DTYPES = [np.float32, np.float64]
BLOCK = cpu_activation.BLOCK


def relu_reference(x):
    # torch.relu: x where x > 0, NaN kept, everything else +0.0.
    x = np.asarray(x)
    keep = (x > 0) | np.isnan(x)
    return np.where(keep, x, np.zeros((), x.dtype))


def relu_grad_reference(grad, y):
    # threshold_backward(grad, y, 0): grad where y > 0, else exactly 0 (even for Inf/NaN grad).
    grad, y = np.asarray(grad), np.asarray(y)
    dtype = np.result_type(grad, y)
    return np.where(y > 0, grad, np.zeros((), grad.dtype)).astype(dtype)


def assert_bitwise_equal(got, expected):
    assert got.shape == expected.shape and got.dtype == expected.dtype
    # tobytes tells +0.0 from -0.0 and compares NaN payloads, which assert_array_equal doesn't.
    assert got.tobytes() == expected.tobytes()


# --- hand-computed values and special values ------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_hand_computed_values(dtype):
    x = np.array([-2.0, -0.5, 0.0, 0.25, 3.0], dtype)
    y = relu(x)
    assert_bitwise_equal(y, np.array([0.0, 0.0, 0.0, 0.25, 3.0], dtype))
    grad = np.array([10.0, 20.0, 30.0, 40.0, 50.0], dtype)
    assert_bitwise_equal(relu_grad(grad, y), np.array([0.0, 0.0, 0.0, 40.0, 50.0], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inf_and_signed_zero(dtype):
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, -1e-30, 1e-30], dtype)
    y = relu(x)
    assert np.isnan(y[0]) and np.isnan(y[1])
    np.testing.assert_array_equal(y[2:], np.array([np.inf, 0, 0, 0, 0, 1e-30], dtype))
    # -0.0 gives +0.0, as np.maximum(x, 0) (the earlier numbaconv ReLU) does.
    assert not np.signbit(y[4]) and not np.signbit(y[5])
    assert not np.signbit(np.maximum(x[4], dtype(0)))
    assert_bitwise_equal(y, relu_reference(x))

    grad = np.array([1.0, 2.0, 3.0, np.inf, np.nan, -np.inf, np.nan, 5.0], dtype)
    # Where y is NaN or 0 the gradient is exactly 0 even for Inf/NaN grad; y = inf passes it.
    expected = np.array([0, 0, 3, 0, 0, 0, 0, 5], dtype)
    assert_bitwise_equal(relu_grad(grad, y), expected)
    assert_bitwise_equal(relu_grad(grad, y), relu_grad_reference(grad, y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values_in_the_vectorised_body(dtype):
    # Long enough that the specials land in SIMD iterations, not only in a scalar remainder.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3 * BLOCK + 5).astype(dtype)
    x[::7] = -0.0
    x[3::11] = np.nan
    x[5::13] = np.inf
    x[6::17] = -np.inf
    y = relu(x)
    assert_bitwise_equal(y, relu_reference(x))
    grad = rng.standard_normal(x.size).astype(dtype)
    grad[::5] = np.nan
    grad[1::9] = np.inf
    assert_bitwise_equal(relu_grad(grad, y), relu_grad_reference(grad, y))


# --- shapes, dtypes, layouts ------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 40000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sizes_around_the_block(size, dtype):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    y = relu(x)
    assert_bitwise_equal(y, relu_reference(x))
    assert_bitwise_equal(relu_grad(grad, y), relu_grad_reference(grad, y))


@settings(max_examples=50, deadline=None)
@given(
    x=hnp.arrays(
        st.sampled_from(DTYPES),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
        # Special values drawn often: plain floats rarely hit NaN or a signed zero.
        elements=st.one_of(
            st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]),
            st.floats(allow_nan=False, allow_infinity=False, width=32),
        ),
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_shape_matches_the_reference(x, seed):
    y = relu(x)
    assert_bitwise_equal(y, relu_reference(x))
    grad = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    assert_bitwise_equal(relu_grad(grad, y), relu_grad_reference(grad, y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_dimensional(dtype):
    for value, expected in ((dtype(-3.5), 0.0), (dtype(2.5), 2.5)):
        y = relu(np.array(value))
        assert y.shape == () and y.dtype == dtype and y == expected
        g = relu_grad(np.array(dtype(7.0)), y)
        assert g.shape == () and g.dtype == dtype and g == (7.0 if expected > 0 else 0.0)
    # A Python float is a 0-d float64 array.
    assert relu(-1.5).shape == () and relu(1.5) == 1.5 and relu(1.5).dtype == np.float64


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4, 4), (3, 4, 0)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_arrays_skip_the_kernels(shape, dtype, monkeypatch):
    def fail(*args):
        raise AssertionError("a kernel was called for an empty array")

    monkeypatch.setattr(cpu_activation, "relu_forward", fail)
    monkeypatch.setattr(cpu_activation, "relu_backward", fail)
    x = np.empty(shape, dtype)
    y = relu(x)
    assert y.shape == shape and y.dtype == dtype
    g = relu_grad(x, y)
    assert g.shape == shape and g.dtype == dtype


def test_integer_and_bool_inputs_are_cast_to_float64():
    x = np.array([[-3, 0, 4], [7, -1, 2]], dtype=np.int32)
    y = relu(x)
    assert_bitwise_equal(y, np.array([[0.0, 0, 4], [7, 0, 2]]))
    assert_bitwise_equal(relu(np.array([True, False])), np.array([1.0, 0.0]))
    assert_bitwise_equal(relu([[-1, 2]]), np.array([[0.0, 2.0]]))
    g = relu_grad(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64), y)
    assert_bitwise_equal(g, np.array([[0.0, 0, 3], [4, 0, 6]]))


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32)])
def test_relu_grad_result_dtype(dtypes):
    grad_dtype, y_dtype = dtypes
    grad = np.array([1.5, -2.5, 3.25], grad_dtype)
    y = np.array([0.0, 1.0, 2.0], y_dtype)
    g = relu_grad(grad, y)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [0.0, -2.5, 3.25])
    assert relu_grad(grad.astype(np.float32), y.astype(np.float32)).dtype == np.float32


NON_CONTIGUOUS_VIEWS = {
    "slices": lambda a: a[:, ::2, 1:, ::3],
    "transpose": lambda a: a.transpose(3, 1, 0, 2),
    "reversed": lambda a: a[::-1, :, ::-2],
    "last-axis-index": lambda a: a[..., 3],
}


@pytest.mark.parametrize("view", NON_CONTIGUOUS_VIEWS.values(), ids=NON_CONTIGUOUS_VIEWS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(view, dtype):
    rng = np.random.default_rng(3)
    x = view(rng.standard_normal((4, 6, 5, 8)).astype(dtype))
    grad = view(rng.standard_normal((4, 6, 5, 8)).astype(dtype))
    assert not x.flags.c_contiguous and not grad.flags.c_contiguous
    x_copy, grad_copy = np.ascontiguousarray(x), np.ascontiguousarray(grad)
    y = relu(x)
    assert y.flags.c_contiguous
    assert_bitwise_equal(y, relu(x_copy))
    assert_bitwise_equal(y, relu_reference(x_copy))
    expected = relu_grad_reference(grad_copy, y)
    assert_bitwise_equal(relu_grad(grad, y), expected)
    assert_bitwise_equal(relu_grad(grad_copy, y), expected)
    # The forward output given as a non-contiguous view with the same values.
    y_view = np.repeat(y, 2, axis=0)[::2]
    assert not y_view.flags.c_contiguous
    assert_bitwise_equal(relu_grad(grad, y_view), expected)


def test_inputs_are_not_modified_and_results_are_new_arrays():
    x = np.array([-1.0, 2.0, np.nan])
    x_before = x.copy()
    y = relu(x)
    assert y is not x and not np.shares_memory(x, y)
    np.testing.assert_array_equal(x, x_before)
    y_before = y.copy()
    grad = np.ones(3)
    g = relu_grad(grad, y)
    assert not np.shares_memory(g, grad) and not np.shares_memory(g, y)
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(grad, np.ones(3))


def test_read_only_inputs_are_accepted():
    x = np.array([-1.0, 2.0])
    x.flags.writeable = False
    y = relu(x)
    y.flags.writeable = False
    np.testing.assert_array_equal(relu_grad(x, y), [0.0, 2.0])


# --- gradient --------------------------------------------------------------------------------


def test_relu_grad_matches_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 4))
    # Keep every element at least 0.05 from the kink at 0, where ReLU is not differentiable.
    x = np.where(np.abs(x) < 0.05, np.copysign(0.05, x) + x, x)
    grad = rng.standard_normal(x.shape)
    step = 1e-6
    # The loss L = sum(grad * relu(x)); dL/dx_i by central differences, one element at a time.
    numeric = grad * (relu(x + step) - relu(x - step)) / (2 * step)
    analytic = relu_grad(grad, relu(x))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-8, atol=1e-10)
    # Elementwise loss, so perturbing all elements at once equals one at a time; check one
    # element explicitly to make that assumption visible.
    e = np.zeros_like(x)
    e[1, 2, 3, 1] = step
    loss = lambda v: float(np.sum(grad * relu(v)))  # noqa: E731
    assert abs((loss(x + e) - loss(x - e)) / (2 * step) - analytic[1, 2, 3, 1]) < 1e-7


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_identical_across_thread_counts(dtype, thread_counts):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(2 * BLOCK + 123).astype(dtype)
    x[::9] = np.nan
    grad = rng.standard_normal(x.size).astype(dtype)
    runs = []
    previous = numba.get_num_threads()
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            y = relu(x)
            runs.append((y, relu_grad(grad, y)))
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*runs, strict=True):
        assert one.tobytes() == two.tobytes()


# --- bad inputs ------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"grad_output has shape \(2, 3\); expected \(3, 2\)"):
        relu_grad(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(\); expected \(1,\)"):
        relu_grad(np.float64(1.0), np.ones(1))


@pytest.mark.parametrize(
    "bad, match",
    [
        ("abc", "x has unsupported dtype <U3"),
        (np.array([1 + 2j, 3j]), "x has unsupported dtype complex128"),
        (np.array([1.0], np.float16), "x has dtype float16; expected float32 or float64"),
        (np.array([None, 1.0], dtype=object), "x has unsupported dtype object"),
    ],
)
def test_bad_dtypes_raise_type_error(bad, match):
    with pytest.raises(TypeError, match=match):
        relu(bad)
    with pytest.raises(TypeError, match=match.replace("x has", "grad_output has")):
        relu_grad(bad, np.ones(np.shape(bad)))
    with pytest.raises(TypeError, match=match.replace("x has", "output has")):
        relu_grad(np.ones(np.shape(bad)), bad)


def test_ragged_input_raises_type_error():
    with pytest.raises(TypeError, match="x must be array-like"):
        relu([[1.0, 2.0], [3.0]])


# --- CUDA device arrays (a GPU, or NUMBA_ENABLE_CUDASIM=1 set before this process starts) -----

needs_cuda = pytest.mark.skipif(
    not _backend.cuda_available(),
    reason="CUDA is not usable here; run with NUMBA_ENABLE_CUDASIM=1 or on a GPU",
)


@needs_cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_device_special_values_match_the_host_bitwise(dtype):
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, -1.5, 2.5, 1e-30, -3.0], dtype)
    grad = np.array([1.0, np.inf, np.nan, np.inf, np.nan, 2.0, -4.0, 5.0, np.nan], dtype)
    y = relu(_backend.to_device(x))
    assert _backend.is_device_array(y) and not isinstance(y, np.ndarray)
    assert_bitwise_equal(_backend.to_host(y), relu(x))
    g = relu_grad(_backend.to_device(grad), y)
    assert_bitwise_equal(_backend.to_host(g), relu_grad(grad, relu(x)))


@needs_cuda
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3)])
def test_device_zero_dimensional_and_empty(shape):
    x = np.full(shape, -2.0)
    y = relu(_backend.to_device(x))
    assert _backend.is_device_array(y) and tuple(y.shape) == shape
    np.testing.assert_array_equal(_backend.to_host(y), np.zeros(shape))
    g = relu_grad(_backend.to_device(np.ones(shape)), y)
    assert tuple(g.shape) == shape
    np.testing.assert_array_equal(_backend.to_host(g), np.zeros(shape))


@needs_cuda
def test_device_non_contiguous_and_mixed_dtypes():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 6, 8)).astype(np.float32)
    grad = rng.standard_normal((3, 4, 6, 8))
    view = NON_CONTIGUOUS_VIEWS["slices"]
    y = relu(view(_backend.to_device(x)))
    assert_bitwise_equal(_backend.to_host(y), relu(view(x)))
    g = relu_grad(view(_backend.to_device(grad)), y)
    assert g.dtype == np.float64
    assert_bitwise_equal(_backend.to_host(g), relu_grad(view(grad), relu(view(x))))


@needs_cuda
def test_device_and_host_arrays_mixed_raise():
    with pytest.raises(TypeError, match=r"grad_output is a host .* output is a CUDA device array"):
        relu_grad(np.ones(3), _backend.to_device(np.ones(3)))
