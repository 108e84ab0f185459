"""numbaconv.dask on a real dask.distributed LocalCluster (2 worker processes x 1 thread).

References: scipy.signal (filters), numbaconv.correlate2d on the whole array (bit for bit),
numbaconv.ops on the whole batch (conv2d, pooling) and an in-process forward pass with
SciPy's softmax (predict).
"""

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="numbaconv.dask needs the 'dask' extra")
pytest.importorskip("distributed", reason="numbaconv.dask needs the 'dask' extra")

import dask  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import signal, special  # noqa: E402

import numbaconv  # noqa: E402
from numbaconv import dask as nd  # noqa: E402
from numbaconv import models, nn, ops  # noqa: E402
from numbaconv._batch_predict import prepare, probabilities  # noqa: E402
from numbaconv.autograd import Tensor, no_grad  # noqa: E402
from numbaconv.dask.filters import _extend  # noqa: E402
from numbaconv.kernels.cpu.correlate import (  # noqa: E402
    BOUNDARY_FILL,
    BOUNDARY_SYMM,
    BOUNDARY_WRAP,
)

pytestmark = pytest.mark.usefixtures("dask_client")  # every compute runs on the cluster

MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "symm", "wrap")
FUNCTIONS = (
    (nd.correlate2d, numbaconv.correlate2d, signal.correlate2d),
    (nd.convolve2d, numbaconv.convolve2d, signal.convolve2d),
)


def _boom(block):
    raise RuntimeError("a task ran")


def poisoned(shape, dtype=np.float64, chunks=2):
    """A Dask array whose every task fails: an error other than this proves nothing ran."""
    return da.zeros(shape, dtype, chunks=chunks).map_blocks(_boom, dtype=dtype)


# ------------------------------------------------------------------ boundaries


@pytest.mark.parametrize(
    ("boundary", "code"),
    [("symm", BOUNDARY_SYMM), ("wrap", BOUNDARY_WRAP), ("fill", BOUNDARY_FILL)],
)
@pytest.mark.parametrize(("lo", "hi"), [(1, 2), (3, 0), (0, 4), (9, 12)])
@pytest.mark.parametrize("axis", [0, 1])
def test_dask_boundaries_extend_as_scipy_does(boundary, code, lo, hi, axis):
    # SciPy's own extension, read back through a 'full' correlation with a unit impulse:
    # out[m] = ext[m - lo] for m in [0, n + lo + hi). (9, 12) reaches past the image.
    x = np.arange(20.0).reshape(4, 5) + 1
    impulse = np.zeros((lo + hi + 1, 1))
    impulse[hi, 0] = 1
    if axis == 1:
        impulse = impulse.T
    expected = signal.correlate2d(x, impulse, "full", boundary, fillvalue=0)
    if axis == 0:
        expected = expected[:, : x.shape[1]]
    else:
        expected = expected[: x.shape[0]]
    got = _extend(da.from_array(x, chunks=2), axis, lo, hi, code).compute(scheduler="sync")
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------ SciPy parity


def _check(lazy, refs, scipy_refs):
    for got, expected, want in zip(dask.compute(*lazy), refs, scipy_refs, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        # Bit for bit with numbaconv on the whole image; SciPy to rounding.
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kernel_shape", "chunks"),
    [((3, 3), (4, 3)), ((4, 2), (4, 3)), ((2, 5), (3, 8)), ((3, 4), (9, 8))],
    ids=["odd", "even", "row-strips", "one-chunk"],  # one-chunk axes: no extension copied
)
def test_every_mode_and_boundary_matches_scipy(kernel_shape, chunks):
    rng = np.random.default_rng(1)
    x, kernel = rng.standard_normal((9, 8)), rng.standard_normal(kernel_shape)
    image = da.from_array(x, chunks=chunks)
    lazy, refs, scipy_refs = [], [], []
    for fn, ref, scipy_fn in FUNCTIONS:
        for mode in MODES:
            for boundary in BOUNDARIES:
                lazy.append(fn(image, kernel, mode, boundary, fillvalue=-1.75))
                refs.append(ref(x, kernel, mode, boundary, fillvalue=-1.75))
                scipy_refs.append(scipy_fn(x, kernel, mode, boundary, fillvalue=-1.75))
    _check(lazy, refs, scipy_refs)  # one round trip to the cluster


@settings(max_examples=10, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    kernel_shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    chunks=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    fillvalue=st.sampled_from([0.0, 1.5]),
    seed=st.integers(0, 2**16),
)
def test_filters_match_scipy_on_random_chunkings(
    shape, kernel_shape, chunks, mode, boundary, fillvalue, seed
):
    rng = np.random.default_rng(seed)
    x, kernel = rng.standard_normal(shape), rng.standard_normal(kernel_shape)
    image = da.from_array(x, chunks=chunks)
    lazy, refs, scipy_refs = [], [], []
    for fn, ref, scipy_fn in FUNCTIONS:
        try:
            scipy_refs.append(scipy_fn(x, kernel, mode, boundary, fillvalue))
        except ValueError:  # 'valid' with neither input the larger: refused alike, early
            with pytest.raises(ValueError, match="one must be at least as large"):
                fn(image, kernel, mode, boundary, fillvalue)
            continue
        refs.append(ref(x, kernel, mode, boundary, fillvalue))
        lazy.append(fn(image, kernel, mode, boundary, fillvalue))
    _check(lazy, refs, scipy_refs)


@pytest.mark.parametrize(
    ("shape", "kernel_shape", "rows", "dtype"),
    [
        ((41, 23), (5, 5), 7, np.float32),  # the fused 5 x 5 pass inside, seams of 4 rows
        ((2, 26, 19), (4, 3), 5, np.float64),  # a stack; even kernel, the last strip short
        ((17, 12), (3, 3), 2, np.complex128),  # strips smaller than the kernel are merged
    ],
)
def test_row_strips_equal_the_whole_plane_bit_for_bit(shape, kernel_shape, rows, dtype):
    # Whole rows per chunk take the path without overlap copies: interior, seam and edge
    # rows are computed in separate pieces, each as the whole-plane call computes it.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    if x.dtype.kind == "c":
        x, kernel = x + 1j * rng.standard_normal(shape), kernel - 0.5j
    image = da.from_array(x, chunks=(*shape[:-2], rows, shape[-1]))
    cases = [(m, b) for m in MODES for b in BOUNDARIES]
    for fn, ref, scipy_fn in FUNCTIONS:
        lazy = [fn(image, kernel, mode, boundary, fillvalue=0.75) for mode, boundary in cases]
        assert all(r.name.startswith("correlate2d-strips-") for r in lazy)
        for (mode, boundary), got in zip(cases, dask.compute(*lazy), strict=True):
            for plane in np.ndindex(shape[:-2]):
                expected = ref(x[plane], kernel, mode, boundary, fillvalue=0.75)
                assert got[plane].dtype == expected.dtype
                if x.dtype.kind == "c":  # a worker's kernel may come from Numba's cache
                    np.testing.assert_allclose(got[plane], expected, rtol=1e-14, atol=1e-14)
                else:
                    np.testing.assert_array_equal(got[plane], expected)
                want = scipy_fn(x[plane], kernel, mode, boundary, fillvalue=0.75)
                np.testing.assert_allclose(got[plane], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fn,ref,scipy_fn", FUNCTIONS)
def test_stacks_of_planes_with_chunks_smaller_than_the_kernel(fn, ref, scipy_fn):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 13, 10)).astype(np.float32)
    kernel = rng.standard_normal((5, 4)).astype(np.float32)
    image = da.from_array(x, chunks=(1, 3, 3, 3))  # 3x3 chunks, 5x4 kernel
    cases = [("same", "symm"), ("full", "wrap"), ("valid", "fill"), ("same", "fill")]
    lazy = [fn(image, kernel, mode, boundary, 0.5) for mode, boundary in cases]
    for (mode, boundary), got in zip(cases, dask.compute(*lazy)):
        assert got.dtype == np.float32
        for i, j in np.ndindex(2, 3):
            np.testing.assert_array_equal(got[i, j], ref(x[i, j], kernel, mode, boundary, 0.5))
            want = scipy_fn(x[i, j].astype(np.float64), kernel, mode, boundary, 0.5)
            np.testing.assert_allclose(got[i, j], want, rtol=1e-4, atol=1e-4)


def test_complex_inputs_match_scipy_on_every_mode_and_boundary():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 11)) + 1j * rng.standard_normal((9, 11))
    kernel = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex64)
    cases = [(m, b) for m in ("full", "same", "valid") for b in ("fill", "wrap", "symm")]
    image = da.from_array(x, chunks=4)
    lazy = [nd.correlate2d(image, kernel, m, b, 0.5 - 1j) for m, b in cases]
    lazy += [nd.convolve2d(image, kernel, m, b, 0.5 - 1j) for m, b in cases]
    got = dask.compute(*lazy)
    refs = [(signal.correlate2d, c) for c in cases] + [(signal.convolve2d, c) for c in cases]
    for result, (scipy_fn, (mode, boundary)) in zip(got, refs):
        want = scipy_fn(x, kernel.astype(np.complex128), mode, boundary, 0.5 - 1j)
        assert result.dtype == want.dtype == np.complex128
        np.testing.assert_allclose(result, want, rtol=1e-12, atol=1e-12)


def test_integer_inputs_give_scipys_integer_result():
    rng = np.random.default_rng(4)
    x = rng.integers(-50, 50, (9, 12)).astype(np.int16)
    kernel = rng.integers(-3, 4, (3, 2)).astype(np.int8)
    got = nd.correlate2d(da.from_array(x, chunks=4), kernel, "same", "symm").compute()
    want = signal.correlate2d(x, kernel, "same", "symm")
    assert got.dtype == want.dtype == np.int16
    np.testing.assert_array_equal(got, want)


def test_valid_mode_with_the_larger_kernel_swaps_as_scipy():
    rng = np.random.default_rng(5)
    x, kernel = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))
    got = nd.correlate2d(da.from_array(x, chunks=1), kernel, "valid").compute()
    np.testing.assert_allclose(got, signal.correlate2d(x, kernel, "valid"), rtol=1e-12)


@pytest.mark.parametrize(
    ("image", "kernel", "options", "error", "needle"),
    [
        (poisoned((8,)), np.ones((3, 3)), {}, ValueError, r"image of shape \(H, W\)"),
        (
            poisoned((8, 8)),
            np.ones((3, 3), np.longdouble),
            {},
            TypeError,
            "^kernel has dtype float128",
        ),
        (poisoned((8, 8)), np.ones((3, 3, 3)), {}, ValueError, "a 2-D kernel"),
        (poisoned((8, 8)), np.ones((3, 3)), {"mode": "middle"}, ValueError, "^mode must be"),
        (poisoned((8, 8)), np.ones((3, 3)), {"boundary": "reflect"}, ValueError, "^boundary"),
        (poisoned((8, 8)), da.ones((3, 3)), {}, TypeError, "^kernel must be a NumPy array"),
        (np.ones((8, 8)), np.ones((3, 3)), {}, TypeError, "^image must be a dask array"),
        (poisoned((8, 8)), np.ones((3, 3)), {"fillvalue": 1j}, ValueError, "could not cast"),
    ],
)
@pytest.mark.parametrize("fn", [nd.correlate2d, nd.convolve2d])
def test_bad_filter_input_fails_before_any_task(fn, image, kernel, options, error, needle):
    with pytest.raises(error, match=needle):
        fn(image, kernel, **options)


# ------------------------------------------------------------------ batches


def test_conv2d_and_pooling_equal_the_in_process_ops():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((11, 4, 9, 10)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    batch = da.from_array(x, chunks=(3, 2, 5, 10))  # the non-batch axes are rechunked whole
    lazy = (
        nd.conv2d(batch, w, b, stride=2, padding=1, dilation=(1, 2), groups=2),
        nd.max_pool2d(batch, 3, stride=2, padding=1, ceil_mode=True),
        nd.avg_pool2d(batch, 2, count_include_pad=False, padding=1),
    )
    want = (
        ops.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2), groups=2),
        ops.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
        ops.avg_pool2d(x, 2, count_include_pad=False, padding=1),
    )
    for lazy_result, got, expected in zip(lazy, dask.compute(*lazy), want):
        assert lazy_result.chunks[0] == batch.chunks[0]
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda x: nd.conv2d(x, np.ones((2, 5, 3, 3), np.float32)), ValueError, "channel"),
        (lambda x: nd.conv2d(x, da.ones((2, 3, 3, 3))), TypeError, "^weight must be a NumPy"),
        (lambda x: nd.conv2d(x[0], np.ones((2, 3, 3, 3))), ValueError, r"^x must have shape"),
        (lambda x: nd.max_pool2d(x, 0), ValueError, "kernel_size"),
        (lambda x: nd.avg_pool2d(x, 2, stride=2.5), TypeError, "stride"),
    ],
)
def test_bad_batch_input_fails_before_any_task(call, error, needle):
    with pytest.raises(error, match=needle):
        call(poisoned((4, 3, 8, 8), np.float32))


# ------------------------------------------------------------------ predict


def _reference_probabilities(model, images, normalize=None):
    """The model on the whole batch at once, softmax by SciPy."""
    x = prepare(images, normalize)
    model.eval()
    with no_grad():
        logits = np.asarray(model(Tensor(x)).data, np.float64)
    return special.softmax(logits, axis=1)


def test_predict_equals_the_in_process_forward_pass():
    images = np.random.default_rng(7).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    model = models.simple_cnn_3v7(seed=1)
    classes, probs = nd.predict(model, da.from_array(images, chunks=10), batch_size=5)
    got_classes, got_probs = dask.compute(classes, probs)
    assert got_probs.dtype == np.float32 and got_probs.shape == (40, 2)
    assert got_classes.dtype == np.int64
    # The same batches of 5 in-process: equal bit for bit.
    np.testing.assert_array_equal(got_probs, probabilities(model, images, batch_size=5))
    want = _reference_probabilities(model, images)
    np.testing.assert_allclose(got_probs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got_classes, got_probs.argmax(axis=1))


def test_predict_from_a_model_file_uses_its_normalize(tmp_path):
    from numbaconv.cli.data_source import DataSource
    from numbaconv.cli.model_file import save_model
    from numbaconv.data import Normalize

    model = models.simple_cnn_3v7(seed=2)
    path = tmp_path / "m.npz"
    normalize = Normalize(0.13, 0.31)
    source = DataSource("bundled", "mnist_sample")
    save_model(path, model, "simple_cnn_3v7", False, True, ("3", "7"), normalize, source)
    images = np.random.default_rng(8).random((12, 1, 28, 28), dtype=np.float32)
    _, probs = nd.predict(str(path), da.from_array(images, chunks=6), batch_size=6)
    want = _reference_probabilities(model, images, normalize)
    np.testing.assert_allclose(probs.compute(), want, rtol=1e-5, atol=1e-6)


LOADS = 0  # unpickles of a _CountedModel in this process


class _CountedModel(nn.Sequential):
    def __setstate__(self, state):
        global LOADS
        LOADS += 1
        self.__dict__.update(state)


def _loads():
    return LOADS


def _reset_loads():
    global LOADS
    LOADS = 0


def _worker_settings():
    import os

    import numba

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), numba.config.NUMBA_NUM_THREADS


def test_local_client_workers_share_the_cores_and_keep_glibcs_thresholds(dask_client):
    # 2 cores / 2 workers: one Numba thread each; no MALLOC_TRIM_THRESHOLD_ (Dask's default
    # re-faults every activation buffer of a forward pass).
    cores = os.cpu_count() or 1
    settings = dask_client.run(_worker_settings)
    assert len(settings) == 2
    assert set(settings.values()) == {(None, max(1, cores // 2))}


def test_predict_sends_the_model_to_each_worker_once(dask_client):
    model = models.simple_cnn_3v7(seed=3)
    model.__class__ = _CountedModel
    images = np.random.default_rng(9).integers(0, 256, (48, 28, 28), dtype=np.uint8)
    dask_client.run(_reset_loads)
    _, probs = nd.predict(model, da.from_array(images, chunks=4), batch_size=4)  # 12 tasks
    got = probs.compute()
    loads = dask_client.run(_loads)
    assert len(loads) == 2
    # Scattered with broadcast=True: a worker unpickles it once at most, not once per task
    # (12 tasks carrying their own copy would unpickle it once per task).
    assert max(loads.values()) == 1, loads
    np.testing.assert_allclose(got, probabilities(model, images, batch_size=4), rtol=1e-6)


@pytest.mark.parametrize(
    ("images", "options", "error", "needle"),
    [
        (np.zeros((4, 28, 28), np.uint8), {}, TypeError, "^images must be a dask array"),
        (poisoned((4, 28, 28), np.int32), {}, TypeError, "uint8, float32 or float64"),
        (poisoned((4, 28)), {}, ValueError, r"\(N, H, W\) or \(N, C, H, W\)"),
        (poisoned((4, 3, 28, 28), np.float32), {}, ValueError, "channel"),
        (poisoned((4, 28, 28), np.uint8), {"batch_size": 0}, ValueError, "batch_size"),
        (poisoned((4, 28, 28), np.uint8), {"model": 3}, TypeError, "^model must be"),
        (poisoned((4, 28, 28), np.uint8), {"model": "nope.npz"}, ValueError, "no such file"),
    ],
)
def test_bad_predict_input_fails_before_any_task(images, options, error, needle):
    model = options.pop("model", models.simple_cnn_3v7(seed=0))
    with pytest.raises(error, match=needle):
        nd.predict(model, images, **options)
