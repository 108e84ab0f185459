"""Concurrent calls of numbaconv's parallel kernels from several Python threads must never
abort the process, whatever Numba threading layer is active (issue: Numba's "workqueue"
layer aborts when two threads enter a parallel region at once, and Dask's threaded scheduler
does exactly that). Each case runs in a fresh interpreter: the layer is fixed per process."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import threading

    import numba
    import numpy as np

    import numbaconv
    from numbaconv import ops

    rng = np.random.default_rng(0)
    x = rng.random((4, 3, 32, 32), dtype=np.float32)
    w = rng.random((8, 3, 3, 3), dtype=np.float32)
    image = rng.random((64, 64))
    want_conv = ops.conv2d(x, w, padding=1)
    want_corr = numbaconv.correlate2d(image, w[0, 0], "same", "symm")
    failures = []
    start = threading.Barrier(4)

    def work():
        start.wait()  # all four threads enter the kernels together
        for _ in range(15):
            if not np.array_equal(ops.conv2d(x, w, padding=1), want_conv):
                failures.append("conv2d")
            if not np.array_equal(numbaconv.correlate2d(image, w[0, 0], "same", "symm"), want_corr):
                failures.append("correlate2d")
            ops.max_pool2d(x, 2)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("layer", numba.threading_layer(), "failures", len(failures))
    if DASK:
        import dask.array as da
        from numbaconv import dask as nd

        lazy = nd.correlate2d(da.from_array(image, chunks=16), w[0, 0], "same", "symm")
        got = lazy.compute(scheduler="threads", num_workers=4)
        print("dask threads equal", np.array_equal(got, want_corr))
    """
)


def _run(layer: str, with_dask: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS="2")
    return subprocess.run(
        [sys.executable, "-c", f"DASK = {with_dask}\n" + SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_concurrent_kernel_calls_under_workqueue_do_not_abort():
    try:
        import dask.array  # noqa: F401

        with_dask = True
    except ImportError:
        with_dask = False
    result = _run("workqueue", with_dask)
    assert result.returncode == 0, result.stderr[-2000:]
    # The layer really is workqueue (the one that aborts), and every result is right.
    assert "layer workqueue failures 0" in result.stdout, result.stdout
    if with_dask:
        assert "dask threads equal True" in result.stdout, result.stdout


def test_without_the_lock_workqueue_would_abort():
    """The lock is what saves the process: the same script with it bypassed aborts."""
    script = SCRIPT.replace(
        "import numbaconv\n", "import numbaconv\nimport numbaconv._jit\n"
    ).replace("failures = []", "failures = []\nnumbaconv._jit._layer_is_threadsafe = True")
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    result = subprocess.run(
        [sys.executable, "-c", "DASK = False\n" + script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode == 0:
        pytest.skip("the race did not happen this time (it needs two threads in one region)")
    assert "workqueue threading layer is not threadsafe" in result.stderr
