"""correlate2d / convolve2d ``method=``: the FFT (overlap-save) path against scipy.signal, the
'auto' choice, and bit-identical results for 1, 2 and 4 threads."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numbaconv.ops import _correlate_fft
from numbaconv.ops.correlate import correlate2d
from tests.test_correlate import BOUNDARIES, FUNCTIONS, MODES, assert_matches_scipy

pytestmark = pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")

# The tolerances, relative to the largest partial sum.
RTOL = {"float32": 1e-4, "complex64": 1e-4, "float64": 1e-10, "complex128": 1e-10}


def _random(rng, shape, dtype):
    dtype = np.dtype(dtype)
    values = rng.standard_normal(shape)
    if dtype.kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", sorted(RTOL))
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_fft_matches_scipy_on_every_mode_and_boundary(function, mode, boundary, dtype):
    rng = np.random.default_rng(0)
    # 150 x 140 with a 13 x 11 kernel: several tiles per axis, the last ones ragged.
    in1, in2 = _random(rng, (150, 140), dtype), _random(rng, (13, 11), dtype)
    fill = 0.75 - 0.5j if np.dtype(dtype).kind == "c" else 0.75
    assert_matches_scipy(function, in1, in2, mode, boundary, fill, method="fft", rtol=RTOL[dtype])


@settings(max_examples=40, deadline=None)
@given(
    function=st.sampled_from(sorted(FUNCTIONS)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    shape1=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    shape2=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    dtype=st.sampled_from(sorted(RTOL)),
    seed=st.integers(0, 2**32 - 1),
)
def test_fft_matches_scipy_on_random_shapes(function, mode, boundary, shape1, shape2, dtype, seed):
    # Shapes around the tile lengths (64, 128, ... and 8 kernel lengths), kernels larger than
    # the image (windows extended several times), single-tile and ragged multi-tile axes.
    rng = np.random.default_rng(seed)
    in1, in2 = _random(rng, shape1, dtype), _random(rng, shape2, dtype)
    assert_matches_scipy(function, in1, in2, mode, boundary, 1.5, method="fft", rtol=RTOL[dtype])


def test_fft_of_integer_inputs_rounds_to_scipy_integers():
    rng = np.random.default_rng(1)
    in1 = rng.integers(-50, 50, (40, 37)).astype(np.int32)
    in2 = rng.integers(-5, 5, (9, 8)).astype(np.int16)
    for function in sorted(FUNCTIONS):
        assert_matches_scipy(function, in1, in2, "same", "symm", 3, method="fft")


def test_direct_and_fft_agree_and_auto_takes_one_of_them():
    rng = np.random.default_rng(2)
    image, kernel = _random(rng, (300, 300), "float64"), _random(rng, (25, 25), "float64")
    direct = correlate2d(image, kernel, "same", "symm", method="direct")
    fft = correlate2d(image, kernel, "same", "symm", method="fft")
    auto = correlate2d(image, kernel, "same", "symm")
    assert _correlate_fft.prefer_fft((300, 300), (25, 25), np.float64)
    assert auto.tobytes() == fft.tobytes()
    np.testing.assert_allclose(fft, direct, rtol=0, atol=1e-10 * np.abs(kernel).sum() * 5)
    small = correlate2d(image, kernel[:3, :3], "same", "symm")
    assert not _correlate_fft.prefer_fft((300, 300), (3, 3), np.float64)
    assert small.tobytes() == correlate2d(image, kernel[:3, :3], "same", "symm", "direct").tobytes()


def test_auto_depends_on_shapes_and_dtype_only():
    # Integer results stay exact (direct); small kernels direct; large kernels FFT.
    assert not _correlate_fft.prefer_fft((2048, 2048), (25, 25), np.int64)
    assert not _correlate_fft.prefer_fft((2048, 2048), (3, 3), np.float32)
    assert not _correlate_fft.prefer_fft((2048, 2048), (5, 5), np.float32)
    assert _correlate_fft.prefer_fft((2048, 2048), (25, 25), np.float32)
    assert _correlate_fft.prefer_fft((2048, 2048), (25, 25), np.complex128)
    assert not _correlate_fft.prefer_fft((0, 5), (25, 25), np.float64)


def test_nan_stays_where_scipy_has_it_with_direct_and_spreads_with_fft():
    image = np.ones((64, 64))
    image[10, 10] = np.nan
    kernel = np.ones((3, 3))
    direct = correlate2d(image, kernel, "same", method="direct")
    assert np.isnan(direct).sum() == 9
    assert np.isnan(correlate2d(image, kernel, "same", method="fft")).sum() >= 9


@pytest.mark.parametrize("method", ["FFT", "overlap-add", 0, ["fft"]])
def test_unknown_method_is_refused(method):
    error = TypeError if isinstance(method, list) else ValueError
    for function in FUNCTIONS.values():
        with pytest.raises(error, match=r"^Acceptable method flags are .* got method="):
            function(np.ones((4, 4)), np.ones((2, 2)), method=method)


_THREADS_SCRIPT = """
import hashlib, itertools, sys
import numba, numpy as np
from numbaconv.ops.correlate import convolve2d, correlate2d
rng = np.random.default_rng(3)
cases = []
for dtype in ("float32", "float64", "complex128"):
    image = rng.standard_normal((150, 170)).astype(dtype)
    kernel = rng.standard_normal((15, 12)).astype(dtype)
    cases.append((image, kernel))
for threads in (1, 2, 4):
    numba.set_num_threads(threads)
    digest = hashlib.sha256()
    for (image, kernel), f, method, mode, boundary in itertools.product(
        cases, (correlate2d, convolve2d), ("direct", "fft", "auto"),
        ("full", "same", "valid"), ("fill", "wrap", "symm"),
    ):
        digest.update(f(image, kernel, mode, boundary, 0.5, method).tobytes())
    print(threads, digest.hexdigest())
"""


def test_bit_identical_across_1_2_and_4_threads():
    # Its own process: the thread pool size (NUMBA_NUM_THREADS) is fixed at numba's import.
    root = pathlib.Path(__file__).resolve().parents[1]
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, NUMBA_NUM_THREADS="4", PYTHONPATH=path)
    run = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT], env=env, cwd=root, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0::2] == ["1", "2", "4"]
    assert len(set(lines[1::2])) == 1, run.stdout


@pytest.mark.parametrize("kernel_size", [1, 2, 17, 33, 64])
def test_tile_lengths_leave_seven_eighths_of_a_tile_for_outputs(kernel_size):
    length = _correlate_fft.tile_length(kernel_size, 10_000)
    assert length >= 64 and (length & (length - 1)) == 0
    assert length - kernel_size + 1 >= 7 / 8 * length - 1
    # A short axis is one transform over its whole extended length.
    assert _correlate_fft.tile_length(kernel_size, kernel_size + 5) <= 2 * (kernel_size + 5)
