"""The CUDA backend against the CPU backend: same results, same errors, device results.

Runs on a GPU, or in the CUDA simulator in its own process::

    NUMBA_ENABLE_CUDASIM=1 NUMBACONV_CUDA_THREADS=7 python -m pytest tests/test_cuda_parity.py

(the variable must be set before numba is imported). Skipped as a whole where CUDA is unusable.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from numbaconv import _backend

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0") and not _backend.cuda_available():
    # The simulator is always usable where numba-cuda imports: skipping here would hide a break.
    pytest.fail(
        f"NUMBA_ENABLE_CUDASIM is set but CUDA is not usable: {_backend._cuda_problem()}",
        pytrace=False,
    )
if not _backend.cuda_available():
    pytest.skip(
        f"CUDA is not usable here ({_backend._cuda_problem()}); run this module with "
        "NUMBA_ENABLE_CUDASIM=1 or on a GPU",
        allow_module_level=True,
    )

from numba import cuda

from numbaconv import config
from numbaconv.ops.conv import (
    conv2d,
    conv2d_grad_bias,
    conv2d_grad_input,
    conv2d_grad_weight,
)
from numbaconv.ops.correlate import convolve2d, correlate2d
from numbaconv.ops.norm import batch_norm, batch_norm_grad
from numbaconv.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_grad,
    avg_pool2d,
    avg_pool2d_grad,
    max_pool2d,
    max_pool2d_grad,
)

from . import cuda_cases

SIMULATING = bool(cuda.config.ENABLE_CUDASIM)
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def _on_device(value):
    return _backend.to_device(value) if isinstance(value, np.ndarray) else value


def _assert_device_result(got, like: np.ndarray):
    assert _backend.is_device_array(got) and not isinstance(got, np.ndarray), type(got)
    assert tuple(got.shape) == like.shape
    assert got.dtype == like.dtype


def _assert_close(got: np.ndarray, expected: np.ndarray, dtype):
    if expected.dtype.kind in "iu":  # max-pool indices: exact
        np.testing.assert_array_equal(got, expected)
        return
    # Scale the absolute tolerance so that outputs that cancel to ~0 compare sensibly.
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    rtol = RTOL[dtype]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def _flatten(result) -> list:
    """The arrays of a result: one array, or (nested) tuples or lists of them."""
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _flatten(item)]
    return [result]


def _assert_same_results(got, expected, dtype):
    if expected is None:  # an in-place op (optimizer steps): its arguments are compared
        assert got is None
        return
    got, expected = _flatten(got), _flatten(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        _assert_device_result(g, e)
        _assert_close(_backend.to_host(g), e, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", cuda_cases.CASES, ids=[c.id for c in cuda_cases.CASES])
def test_device_result_equals_host_result(case, dtype):
    fn = case.function()
    args, kwargs = case.build(dtype, seed=len(case.id))
    # Device copies first: the host call may update arguments in place (running statistics).
    device_args = [_on_device(a) for a in args]
    device_kwargs = {k: _on_device(v) for k, v in kwargs.items()}
    expected = fn(*args, **kwargs)
    got = fn(*device_args, **device_kwargs)
    _assert_same_results(got, expected, dtype)
    # Arguments end equal too: inputs untouched on both sides, in-place updates alike.
    for host, device in zip([*args, *kwargs.values()], [*device_args, *device_kwargs.values()]):
        if isinstance(host, np.ndarray):
            _assert_close(_backend.to_host(device), host, dtype)


def test_every_public_op_has_a_parity_case():
    import numbaconv.ops as ops

    names = list(ops.__all__)
    covered = {case.op for case in cuda_cases.CASES}
    missing = sorted(set(names) - covered)
    assert not missing, f"public ops without a CUDA parity case in tests/cuda_cases.py: {missing}"
    assert set(cuda_cases.PUBLIC_OPS) <= covered


def _strided_device(host: np.ndarray, rng) -> tuple[object, np.ndarray]:
    """A non-contiguous device view with the values of ``host`` and a host copy of it."""
    big = rng.standard_normal((host.shape[0] + 1, *(2 * s for s in host.shape[1:])))
    big = big.astype(host.dtype)
    index = (slice(1, None), *(slice(None, None, 2) for _ in host.shape[1:]))
    big[index] = host
    view = _backend.to_device(big)[index]
    assert not view.is_c_contiguous()
    return view, host


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_non_contiguous_device_inputs(dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
    w = rng.standard_normal((4, 2, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    hyper = dict(stride=(2, 1), padding=1, groups=2)
    gy = rng.standard_normal(conv2d(x, w, **hyper).shape).astype(dtype)
    xd, _ = _strided_device(x, rng)
    wd, _ = _strided_device(w, rng)
    gyd, _ = _strided_device(gy, rng)
    bd = _backend.to_device(np.repeat(b, 2))[::2]
    pairs = [
        (conv2d(xd, wd, bd, **hyper), conv2d(x, w, b, **hyper)),
        (conv2d_grad_input(x.shape, wd, gyd, **hyper), conv2d_grad_input(x.shape, w, gy, **hyper)),
        (conv2d_grad_weight(xd, w.shape, gyd, **hyper),
         conv2d_grad_weight(x, w.shape, gy, **hyper)),
        (conv2d_grad_bias(gyd), conv2d_grad_bias(gy)),
    ]  # fmt: skip
    for got, expected in pairs:
        _assert_device_result(got, expected)
        _assert_close(_backend.to_host(got), expected, dtype)


def test_mixed_dtypes_convert_on_the_device():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3))
    expected = conv2d(x, w, padding=1)
    assert expected.dtype == np.float64
    got = conv2d(_backend.to_device(x), _backend.to_device(w), padding=1)
    _assert_device_result(got, expected)
    _assert_close(_backend.to_host(got), expected, np.float64)


def test_device_inputs_are_not_modified():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((2, 2, 3, 3))
    xd, wd = _backend.to_device(x), _backend.to_device(w)
    conv2d(xd, wd, padding="same")
    np.testing.assert_array_equal(_backend.to_host(xd), x)
    np.testing.assert_array_equal(_backend.to_host(wd), w)


def test_empty_batch_on_device():
    w = np.ones((3, 2, 3, 3))
    x = np.ones((0, 2, 8, 8))
    y = conv2d(_backend.to_device(x), _backend.to_device(w), stride=2, padding=1)
    _assert_device_result(y, np.empty((0, 3, 4, 4)))
    gx = conv2d_grad_input(x.shape, _backend.to_device(w), y, stride=2, padding=1)
    _assert_device_result(gx, np.empty(x.shape))
    gw = conv2d_grad_weight(_backend.to_device(x), w.shape, y, stride=2, padding=1)
    np.testing.assert_array_equal(_backend.to_host(gw), np.zeros(w.shape))
    np.testing.assert_array_equal(_backend.to_host(conv2d_grad_bias(y)), np.zeros(3))


def test_nan_and_inf_propagate_as_on_the_host():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((1, 1, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 0] = np.inf
    w = rng.standard_normal((2, 1, 3, 3))
    expected = conv2d(x, w, padding=1)
    got = _backend.to_host(conv2d(_backend.to_device(x), _backend.to_device(w), padding=1))
    assert np.isnan(expected).any() and np.isinf(expected).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    _assert_close(got[finite], expected[finite], np.float64)


def test_results_identical_across_launch_configurations(monkeypatch):
    """One thread owns one element, so the block size and grid size cannot change a bit."""
    import numbaconv.kernels.cuda as kernels_cuda

    rng = np.random.default_rng(15)
    x = _backend.to_device(rng.standard_normal((2, 4, 7, 7)).astype(np.float32))
    w = _backend.to_device(rng.standard_normal((6, 2, 3, 3)).astype(np.float32))
    gy = _backend.to_device(rng.standard_normal((2, 6, 4, 4)).astype(np.float32))
    hyper = dict(stride=2, padding=1, groups=2)
    results = []
    for threads, max_blocks in ((7, 3), (32, 1), (5, 1000)):
        monkeypatch.setattr(config, "CUDA_THREADS", threads)
        monkeypatch.setattr(kernels_cuda, "_max_blocks_cache", max_blocks)
        results.append(
            [
                _backend.to_host(r)
                for r in (
                    conv2d(x, w, **hyper),
                    conv2d_grad_input((2, 4, 7, 7), w, gy, **hyper),
                    conv2d_grad_weight(x, (6, 2, 3, 3), gy, **hyper),
                    conv2d_grad_bias(gy),
                )
            ]
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_mixing_host_and_device_arrays_is_a_type_error():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal((1, 3, 3, 3))
    dev = _backend.to_device
    calls = [
        ("bias", lambda: conv2d(dev(x), dev(w), bias=np.zeros(3))),
        ("x", lambda: conv2d(x, dev(w))),
        ("grad_output", lambda: conv2d_grad_input(x.shape, dev(w), gy)),
        ("grad_output", lambda: conv2d_grad_weight(dev(x), w.shape, gy)),
    ]
    for needle, call in calls:
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert needle in message and "host (NumPy) array" in message
        assert "CUDA device array" in message


X = np.ones((2, 4, 8, 8))
W = np.ones((6, 2, 3, 3))
GY = np.ones((2, 6, 6, 6))

# Each call takes ``put`` (identity for the host, to_device for the device) and must raise the
# same exception with the same message on both paths.
BAD_CALLS = [
    lambda put: conv2d(put(X[0, 0]), put(W), groups=2),
    lambda put: conv2d(put(X), put(W[0]), groups=2),
    lambda put: conv2d(put(X), put(W), bias=put(np.ones(5)), groups=2),
    lambda put: conv2d(put(X), put(W), bias=put(np.ones((6, 1))), groups=2),
    lambda put: conv2d(put(X), put(W), groups=3),
    lambda put: conv2d(put(X), put(W), groups=0),
    lambda put: conv2d(put(X), put(W), groups=2.0),
    lambda put: conv2d(put(X), put(W), groups=1),
    lambda put: conv2d(put(X), put(W), stride=0, groups=2),
    lambda put: conv2d(put(X), put(W), stride=(1, 2, 3), groups=2),
    lambda put: conv2d(put(X), put(W), dilation=True, groups=2),
    lambda put: conv2d(put(X), put(W), padding=-1, groups=2),
    lambda put: conv2d(put(X), put(W), padding="full", groups=2),
    lambda put: conv2d(put(X), put(W), padding="same", stride=2, groups=2),
    lambda put: conv2d(put(X), put(np.ones((6, 2, 9, 3))), groups=2),
    lambda put: conv2d(put(np.ones((2, 4, 0, 8))), put(W), groups=2),
    lambda put: conv2d_grad_input((2, 4, 8), put(W), put(GY), groups=2),
    lambda put: conv2d_grad_input((2, 4, 8.0, 8), put(W), put(GY), groups=2),
    lambda put: conv2d_grad_input(X.shape, put(W), put(GY[:, :, :5]), groups=2),
    lambda put: conv2d_grad_input(X.shape, put(W), put(GY), stride=2, groups=2),
    lambda put: conv2d_grad_weight(put(X), W.shape, put(GY[:1]), groups=2),
    lambda put: conv2d_grad_weight(put(X), (6, 2, 3), put(GY), groups=2),
    lambda put: conv2d_grad_bias(put(GY[0, 0])),
]


def _raised(call):
    try:
        call()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError("no error raised")


@pytest.mark.parametrize("index", range(len(BAD_CALLS)))
def test_bad_inputs_raise_the_same_errors_on_device(index):
    host = _raised(lambda: BAD_CALLS[index](lambda a: a))
    device = _raised(lambda: BAD_CALLS[index](_backend.to_device))
    assert device == host


@pytest.mark.parametrize(
    "dtype,needle",
    [(np.int32, "integer or bool dtype int32"), (np.bool_, "integer or bool dtype bool"),
     (np.float16, "dtype float16"), (np.complex128, "dtype complex128")],
)  # fmt: skip
def test_device_arrays_of_other_dtypes_are_refused(dtype, needle):
    wd = _backend.to_device(np.ones((2, 1, 3, 3), dtype))
    with pytest.raises(TypeError) as info:
        conv2d(_backend.to_device(np.ones((1, 1, 5, 5))), wd)
    message = str(info.value)
    assert message.startswith("weight is a CUDA device array") and needle in message
    assert "float32 or float64" in message and "cast it" in message


@pytest.mark.needs_gpu
@pytest.mark.skipif(SIMULATING, reason="the simulator's arrays have no __cuda_array_interface__")
def test_foreign_cuda_array_interface_objects_run_without_copies():
    class Foreign:
        """Stands in for a CuPy array or a PyTorch CUDA tensor."""

        def __init__(self, device_array):
            self._owner = device_array
            self.__cuda_array_interface__ = device_array.__cuda_array_interface__

    rng = np.random.default_rng(17)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    xd = _backend.to_device(x)
    got = conv2d(Foreign(xd), Foreign(_backend.to_device(w)))
    _assert_device_result(got, conv2d(x, w))
    _assert_close(_backend.to_host(got), conv2d(x, w), np.float32)
    view = _backend.as_device_array(Foreign(xd))
    assert view.__cuda_array_interface__["data"][0] == xd.__cuda_array_interface__["data"][0]


# --- pooling, correlate2d/convolve2d and batch norm ---------------------------------------------


@pytest.mark.parametrize("module", ["pool", "correlate", "norm"])
def test_cuda_launchers_mirror_the_cpu_launchers(module):
    import importlib
    import inspect

    def launchers(mod):
        return {
            name: inspect.signature(fn)
            for name, fn in vars(mod).items()
            if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == mod.__name__
        }

    cpu = importlib.import_module(f"numbaconv.kernels.cpu.{module}")
    gpu = importlib.import_module(f"numbaconv.kernels.cuda.{module}")
    assert getattr(_backend.CUDA.kernels, module) is gpu
    assert launchers(cpu) and launchers(gpu) == launchers(cpu)


def _pool_calls(x, gy_max, gy_avg, gy_adaptive):
    shape = tuple(x.shape)
    return [
        max_pool2d(x, 3, stride=2, padding=1, return_indices=True),
        max_pool2d_grad(gy_max, x, 3, stride=2, padding=1),
        avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
        avg_pool2d_grad(gy_avg, shape, 2, stride=1, padding=1),
        adaptive_avg_pool2d(x, (3, 2)),
        adaptive_avg_pool2d_grad(gy_adaptive, shape),
    ]


def _pool_inputs(rng, dtype):
    x = rng.integers(-2, 3, size=(2, 3, 6, 5)).astype(dtype)  # ties: first-maximum rule
    gy_max = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
    gy_avg = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    gy_adaptive = rng.standard_normal((2, 3, 3, 2)).astype(dtype)
    return x, gy_max, gy_avg, gy_adaptive


def _bn_calls(x, rm, rv, w, b, gy):
    y, (mean, invstd) = batch_norm(x, rm, rv, w, b, training=True, return_stats=True)
    return [
        y,
        mean,
        invstd,
        batch_norm(x, rm, rv, w, b),
        *batch_norm_grad(gy, x, mean, invstd, w, training=True),
        *batch_norm_grad(gy, x, mean, invstd, w, training=False),
    ]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_non_contiguous_device_inputs_of_pool_correlate_and_batch_norm(dtype):
    rng = np.random.default_rng(21)
    host = _pool_inputs(rng, dtype)
    device = [_strided_device(a, rng)[0] for a in host]
    for got, expected in zip(_flatten(_pool_calls(*device)), _flatten(_pool_calls(*host))):
        _assert_device_result(got, expected)
        _assert_close(_backend.to_host(got), expected, dtype)

    in1 = rng.standard_normal((5, 4)).astype(dtype)
    in2 = rng.standard_normal((3, 3)).astype(dtype)
    in1_view = _backend.to_device(in1.T.copy()).T  # a transposed (Fortran-ordered) view
    in2_view = _backend.to_device(np.repeat(in2, 2, axis=1))[:, ::2]
    for function in (correlate2d, convolve2d):
        for mode, boundary in (("full", "wrap"), ("same", "symm"), ("valid", "fill")):
            got = function(in1_view, in2_view, mode, boundary)
            expected = function(in1, in2, mode, boundary)
            _assert_device_result(got, expected)
            _assert_close(_backend.to_host(got), expected, dtype)

    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    rm, w, b = (rng.standard_normal(3).astype(dtype) for _ in range(3))
    rv = (rng.random(3) + 0.5).astype(dtype)
    # Strided running statistics on the device are updated in place, as on the host.
    rm_big, rv_big = _backend.to_device(np.repeat(rm, 2)), _backend.to_device(np.repeat(rv, 2))
    rm_view, rv_view = rm_big[::2], rv_big[::2]
    rm_before, rv_before = rm.copy(), rv.copy()
    device = [_strided_device(x, rng)[0], rm_view, rv_view, _backend.to_device(w),
              _backend.to_device(np.repeat(b, 2))[::2], _strided_device(gy, rng)[0]]  # fmt: skip
    got = _bn_calls(*device)
    expected = _bn_calls(x, rm, rv, w, b, gy)
    for g, e in zip(got, expected):
        _assert_device_result(g, e)
        _assert_close(_backend.to_host(g), e, dtype)
    _assert_close(_backend.to_host(rm_big)[::2], rm, dtype)
    _assert_close(_backend.to_host(rv_big)[::2], rv, dtype)
    # Training moved the statistics; the elements between the views' did not move.
    assert not np.allclose(rv, rv_before) and not np.allclose(rm, rm_before)
    np.testing.assert_array_equal(_backend.to_host(rm_big)[1::2], rm_before)
    np.testing.assert_array_equal(_backend.to_host(rv_big)[1::2], rv_before)


def test_running_statistics_are_updated_on_the_device():
    rng = np.random.default_rng(22)
    x = rng.standard_normal((3, 2, 4, 4)) * 3 + 1
    rm, rv = np.zeros(2), np.ones(2)
    rmd, rvd = _backend.to_device(rm), _backend.to_device(rv)
    batch_norm(_backend.to_device(x), rmd, rvd, training=True, momentum=0.5)
    # By hand: running = 0.5*running + 0.5*batch, with the unbiased variance.
    values = x.transpose(1, 0, 2, 3).reshape(2, -1)
    np.testing.assert_allclose(_backend.to_host(rmd), 0.5 * values.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(
        _backend.to_host(rvd), 0.5 + 0.5 * values.var(axis=1, ddof=1), rtol=1e-12
    )
    np.testing.assert_array_equal(rm, np.zeros(2))  # the host arrays were not involved
    # Eval mode reads them and leaves them alone.
    before = _backend.to_host(rmd)
    batch_norm(_backend.to_device(x), rmd, rvd)
    np.testing.assert_array_equal(_backend.to_host(rmd), before)


def test_pool_correlate_and_batch_norm_identical_across_launch_configurations(monkeypatch):
    """One thread owns one output; batch-norm blocks have a fixed width: no bit can change."""
    import numbaconv.kernels.cuda as kernels_cuda
    from numbaconv.kernels.cuda import launch

    rng = np.random.default_rng(23)
    pool_inputs = [_backend.to_device(a) for a in _pool_inputs(rng, np.float32)]
    in1 = _backend.to_device(rng.standard_normal((6, 5)).astype(np.float32))
    in2 = _backend.to_device(rng.standard_normal((3, 4)).astype(np.float32))
    x = rng.standard_normal((3, 5, 7, 8)).astype(np.float32)  # 168 values per channel
    bn_host = (x, np.zeros(5, np.float32), np.ones(5, np.float32),
               rng.standard_normal(5).astype(np.float32),
               rng.standard_normal(5).astype(np.float32),
               rng.standard_normal(x.shape).astype(np.float32))  # fmt: skip
    results = []
    for threads, max_blocks in ((7, 3), (32, 1), (5, 1000)):
        monkeypatch.setattr(config, "CUDA_THREADS", threads)
        monkeypatch.setattr(kernels_cuda, "_max_blocks_cache", max_blocks)
        monkeypatch.setattr(launch, "SIMULATOR_ELEMENTWISE", (threads, max_blocks))  # pooling
        # Fresh running statistics each round: training updates them in place.
        bn_inputs = [_backend.to_device(a) for a in bn_host]
        arrays = [
            *_flatten(_pool_calls(*pool_inputs)),
            correlate2d(in1, in2, "full", "symm"),
            convolve2d(in1, in2, "same", "wrap"),
            *_bn_calls(*bn_inputs),
            *bn_inputs[1:3],
        ]
        results.append([_backend.to_host(r) for r in arrays])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_empty_inputs_on_device():
    dev = _backend.to_device
    x = np.ones((0, 2, 6, 5))
    out, idx = max_pool2d(dev(x), 2, return_indices=True)
    _assert_device_result(out, np.empty((0, 2, 3, 2)))
    _assert_device_result(idx, np.empty((0, 2, 3, 2), np.int64))
    _assert_device_result(max_pool2d_grad(out, dev(x), 2), x)
    _assert_device_result(avg_pool2d(dev(x), 3, 1, 1), x)
    _assert_device_result(avg_pool2d_grad(dev(x), x.shape, 3, 1, 1), x)
    _assert_device_result(adaptive_avg_pool2d(dev(x), (2, None)), np.empty((0, 2, 2, 5)))
    _assert_device_result(adaptive_avg_pool2d_grad(dev(np.ones((0, 2, 4, 4))), x.shape), x)
    y = batch_norm(dev(x), dev(np.zeros(2)), dev(np.ones(2)))
    _assert_device_result(y, x)
    gi, gw, gb = batch_norm_grad(dev(x), dev(x), dev(np.zeros(2)), dev(np.ones(2)))
    _assert_device_result(gi, x)
    np.testing.assert_array_equal(_backend.to_host(gw), np.zeros(2))
    np.testing.assert_array_equal(_backend.to_host(gb), np.zeros(2))
    # correlate2d: an empty kernel is an empty sum; a zero-length axis gives an empty result.
    full = correlate2d(dev(np.ones((3, 4))), dev(np.ones((0, 2))))
    _assert_device_result(full, correlate2d(np.ones((3, 4)), np.ones((0, 2))))
    np.testing.assert_array_equal(
        _backend.to_host(full), correlate2d(np.ones((3, 4)), np.ones((0, 2)))
    )
    filled = convolve2d(dev(np.zeros((0, 3))), dev(np.ones((2, 2))), "full", "fill", 2.0)
    np.testing.assert_array_equal(_backend.to_host(filled), np.full((1, 4), 8.0))


# inf + -inf in the simulator's NumPy scalars warns; the NaN it gives is the point.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_pool_correlate_and_batch_norm_nan_and_inf_as_on_the_host():
    rng = np.random.default_rng(24)
    x = rng.standard_normal((1, 2, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 4, 1] = np.inf
    x[0, 1, 0, 0] = -np.inf
    dev = _backend.to_device
    gy = rng.standard_normal((1, 2, 3, 3))
    pairs = [
        (max_pool2d(dev(x), 2, return_indices=True), max_pool2d(x, 2, return_indices=True)),
        (max_pool2d_grad(dev(gy), dev(x), 2), max_pool2d_grad(gy, x, 2)),
        (avg_pool2d(dev(x), 3, 1, 1), avg_pool2d(x, 3, 1, 1)),
        (adaptive_avg_pool2d(dev(x), 4), adaptive_avg_pool2d(x, 4)),
        (correlate2d(dev(x[0, 0]), dev(x[0, 1, :3, :3]), "same", "symm"),
         correlate2d(x[0, 0], x[0, 1, :3, :3], "same", "symm")),
        (batch_norm(dev(x), None, None, training=True), batch_norm(x, None, None, training=True)),
    ]  # fmt: skip
    for got, expected in pairs:
        for g, e in zip(_flatten(got), _flatten(expected)):
            g = _backend.to_host(g)
            np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
            np.testing.assert_array_equal(np.isposinf(g), np.isposinf(e))
            np.testing.assert_array_equal(np.isneginf(g), np.isneginf(e))
            finite = np.isfinite(e)
            _assert_close(g[finite], e[finite], np.float64)
    assert np.isnan(_backend.to_host(max_pool2d(dev(x), 2))).any()


def test_mixing_host_and_device_arrays_in_the_new_ops_is_a_type_error():
    rng = np.random.default_rng(25)
    x = rng.standard_normal((1, 2, 4, 4))
    dev = _backend.to_device
    calls = [
        ("x", lambda: max_pool2d_grad(dev(np.ones((1, 2, 2, 2))), x, 2)),
        ("grad_output", lambda: max_pool2d_grad(np.ones((1, 2, 2, 2)), dev(x), 2)),
        ("in2", lambda: correlate2d(dev(x[0, 0]), np.ones((2, 2)))),
        ("in1", lambda: convolve2d(x[0, 0], dev(np.ones((2, 2))))),
        # x on the device, running statistics on the host: they could not be updated in place.
        ("running_mean", lambda: batch_norm(dev(x), np.zeros(2), np.ones(2), training=True)),
        ("running_var", lambda: batch_norm(dev(x), dev(np.zeros(2)), np.ones(2))),
        ("weight", lambda: batch_norm(dev(x), None, None, weight=np.ones(2), training=True)),
        ("invstd", lambda: batch_norm_grad(dev(x), dev(x), dev(np.zeros(2)), np.ones(2))),
    ]
    for needle, call in calls:
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert f"{needle} is a host (NumPy) array" in message, message
        assert "CUDA device array" in message


def test_device_fillvalue_and_non_float_device_inputs_are_refused():
    dev = _backend.to_device
    with pytest.raises(TypeError, match=r"^fillvalue must be a host scalar, got CUDA device"):
        correlate2d(dev(np.ones((3, 3))), dev(np.ones((2, 2))), fillvalue=dev(np.ones(1)))
    with pytest.raises(TypeError) as info:
        convolve2d(dev(np.ones((3, 3))), dev(np.ones((2, 2), np.int32)))
    message = str(info.value)
    assert message.startswith(
        "in2 is a CUDA device array of dtype int32; device arrays must be float32, float64, "
        "complex64 or complex128"
    )
    for call in (lambda: max_pool2d(dev(np.ones((1, 1, 4, 4), np.int64)), 2),
                 lambda: batch_norm(dev(np.ones((1, 1, 4, 4), np.float16)), None, None,
                                    training=True)):  # fmt: skip
        with pytest.raises(TypeError, match=r"^x is a CUDA device array of .*float32 or float64"):
            call()


X4 = np.ones((2, 4, 6, 6))
RM, RV = np.zeros(4), np.ones(4)
A2, K2 = np.ones((4, 4)), np.ones((2, 2))

# As BAD_CALLS, for pooling, correlate2d/convolve2d and batch norm: same error on both paths.
BAD_CALLS_NEW_OPS = [
    lambda put: max_pool2d(put(X4[0, 0]), 2),
    lambda put: max_pool2d(put(X4), 0),
    lambda put: max_pool2d(put(X4), 2.0),
    lambda put: max_pool2d(put(X4), 2, padding=2),
    lambda put: max_pool2d(put(X4), 3, dilation=3),
    lambda put: max_pool2d(put(X4), 7),
    lambda put: max_pool2d(put(X4), 2, ceil_mode="yes"),
    lambda put: max_pool2d(put(X4), 2, return_indices=1),
    lambda put: max_pool2d_grad(put(np.ones((2, 4, 4, 3))), put(X4), 2),
    lambda put: avg_pool2d(put(X4), 3, padding=2),
    lambda put: avg_pool2d(put(X4), 2, divisor_override=0),
    lambda put: avg_pool2d(put(X4), 2, count_include_pad=1),
    lambda put: avg_pool2d_grad(put(np.ones((2, 4, 3, 3))), (2, 4, 6), 2),
    lambda put: avg_pool2d_grad(put(np.ones((2, 4, 3, 4))), X4.shape, 2),
    lambda put: adaptive_avg_pool2d(put(X4), 0),
    lambda put: adaptive_avg_pool2d(put(X4), (1, 2, 3)),
    lambda put: adaptive_avg_pool2d(put(np.ones((1, 1, 0, 4))), 2),
    lambda put: adaptive_avg_pool2d_grad(put(np.ones((3, 4, 2, 2))), X4.shape),
    lambda put: correlate2d(put(np.ones(4)), put(K2)),
    lambda put: correlate2d(put(A2), put(np.ones((1, 2, 2)))),
    lambda put: correlate2d(put(np.ones((3, 5))), put(np.ones((5, 3))), mode="valid"),
    lambda put: correlate2d(put(A2), put(K2), mode="VALID"),
    lambda put: correlate2d(put(A2), put(K2), mode=["full"]),
    lambda put: convolve2d(put(A2), put(K2), boundary="reflect"),
    lambda put: convolve2d(put(A2), put(K2), boundary="zero"),
    lambda put: convolve2d(put(A2), put(K2), fillvalue=1 + 2j),
    lambda put: convolve2d(put(A2), put(K2), fillvalue=[1.0, 2.0]),
    lambda put: convolve2d(put(A2), put(K2), fillvalue="a"),
    lambda put: correlate2d(put(np.zeros((0, 3))), put(K2), "full", "wrap"),
    lambda put: correlate2d(put(np.zeros((0, 0))), put(np.zeros((0, 0))), "full"),
    lambda put: batch_norm(put(X4[0]), put(RM), put(RV), training=True),
    lambda put: batch_norm(put(X4), put(np.zeros(5)), put(RV), training=True),
    lambda put: batch_norm(put(X4), put(RM), put(np.ones((4, 1))), training=True),
    lambda put: batch_norm(put(X4), put(RM.astype(np.float32)), put(RV), training=True),
    lambda put: batch_norm(put(X4), put(RM), None, training=True),
    lambda put: batch_norm(put(X4), None, None),
    lambda put: batch_norm(put(X4), put(RM), put(RV), weight=put(np.ones(3))),
    lambda put: batch_norm(put(X4), put(RM), put(RV), bias=put(np.ones((1, 4)))),
    lambda put: batch_norm(put(X4), put(RM), put(RV), momentum=1.5),
    lambda put: batch_norm(put(X4), put(RM), put(RV), eps=0.0),
    lambda put: batch_norm(put(X4), put(RM), put(RV), training=1),
    lambda put: batch_norm(put(np.ones((1, 4, 1, 1))), None, None, training=True),
    lambda put: batch_norm_grad(put(X4[:, :, :5]), put(X4), put(RM), put(RV)),
    lambda put: batch_norm_grad(put(X4), put(X4[0]), put(RM), put(RV)),
    lambda put: batch_norm_grad(put(X4), put(X4), put(np.zeros(3)), put(RV)),
    lambda put: batch_norm_grad(put(X4), put(X4), put(RM), put(RV), put(np.ones(5))),
    lambda put: batch_norm_grad(put(X4), put(X4), put(RM), put(RV), training=None),
]


@pytest.mark.parametrize("index", range(len(BAD_CALLS_NEW_OPS)))
def test_bad_inputs_to_the_new_ops_raise_the_same_errors_on_device(index):
    host = _raised(lambda: BAD_CALLS_NEW_OPS[index](lambda a: a))
    device = _raised(lambda: BAD_CALLS_NEW_OPS[index](_backend.to_device))
    assert device == host
