"""numbaconv.dask on a 2-worker LocalCluster (1 thread each) against numbaconv in-process.

The targets, on the 2-core box: each cluster row at most 1.5x its in-process row.

- an 8192x8192 float32 'same'/symm 5x5 correlation: in-process ``numbaconv.correlate2d``
  (2 Numba threads) against ``numbaconv.dask.correlate2d`` on an image persisted on the
  workers in row strips of 2048 x 8192 (64 MiB; whole rows take the copy-free path), reduced
  there (``.sum()``), so only a scalar comes back;
- ``predict`` over 60,000 28x28 images with the chapter's 3-vs-7 model: in-process batches
  against ``numbaconv.dask.predict`` over images persisted on the workers (class indices
  come back).

The cluster starts in ``setup`` and closes in ``teardown``; rows skip (NotImplementedError)
where Dask is not installed. ``python benchmarks/bench_dask.py`` measures both ratios in one
process, interleaved, and prints them.
"""

import statistics
import time

import numpy as np

import numbaconv
from numbaconv import models
from numbaconv._batch_predict import probabilities

SIZE = 8192
STRIP = 2048  # rows per chunk: 4 strips, 2 per worker
KERNEL = np.random.default_rng(1).standard_normal((5, 5)).astype(np.float32)
N_IMAGES = 60_000
BATCH = 500
WHERE = ["in_process", "cluster"]


def _start_cluster():
    try:
        from numbaconv.dask import local_client
    except ImportError:
        raise NotImplementedError("dask/distributed are not installed (numbaconv[dask])") from None
    client = local_client(n_workers=2, threads_per_worker=1)  # NUMBA_NUM_THREADS=1 on 2 cores
    return client.cluster, client


def _persisted(array):
    from distributed import wait

    array = array.persist()
    wait(array)
    return array


class _OnCluster:
    """setup starts the cluster for the 'cluster' row; teardown closes it."""

    params = WHERE
    param_names = ["where"]
    number = 1
    repeat = (1, 5, 120.0)
    timeout = 600
    cluster = client = None

    def teardown(self, where):
        if self.client is not None:
            self.client.close()
            self.cluster.close()
            self.client = self.cluster = None


class Correlate8192(_OnCluster):
    def setup(self, where):
        if where == "in_process":
            self.image = np.random.default_rng(0).random((SIZE, SIZE), dtype=np.float32)
            numbaconv.correlate2d(self.image[:64, :64], KERNEL, "same", "symm")  # compile
            return
        self.cluster, self.client = _start_cluster()
        import dask.array as da

        # Made on the workers in row strips: each strip is its own root task, so the scheduler
        # spreads them evenly (a rechunked image can end up with 3 strips on one worker).
        image = da.random.default_rng(0).random((SIZE, SIZE), np.float32, chunks=(STRIP, SIZE))
        self.image = _persisted(image)
        self.time_same_symm_5x5(where)  # workers load the kernels

    def time_same_symm_5x5(self, where):
        if where == "in_process":
            numbaconv.correlate2d(self.image, KERNEL, "same", "symm")
        else:
            from numbaconv import dask as nd

            nd.correlate2d(self.image, KERNEL, "same", "symm").sum().compute()


class Predict60k(_OnCluster):
    def setup(self, where):
        self.model = models.simple_cnn_3v7(seed=0)
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (N_IMAGES, 28, 28), dtype=np.uint8)
        if where == "in_process":
            self.images = images
            probabilities(self.model, images[:BATCH], batch_size=BATCH)  # compile
            return
        self.cluster, self.client = _start_cluster()
        import dask.array as da

        self.images = _persisted(da.from_array(images, chunks=N_IMAGES // 8))
        self.time_predict(where)  # workers load the kernels and receive the model

    def time_predict(self, where):
        if where == "in_process":
            probabilities(self.model, self.images, batch_size=BATCH).argmax(axis=1)
        else:
            from numbaconv import dask as nd

            nd.predict(self.model, self.images, batch_size=BATCH)[0].compute()


def _ratios(repeats=9):
    """Both targets in one process: rows interleaved, medians, cluster / in-process; with
    the 1-minute load average before and after (the machine may be shared)."""
    import os

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for suite, method in ((Correlate8192, "time_same_symm_5x5"), (Predict60k, "time_predict")):
        benches = {where: suite() for where in WHERE}
        for where, bench in benches.items():
            bench.setup(where)
        times = {where: [] for where in WHERE}
        try:
            for _ in range(repeats):
                for where, bench in benches.items():
                    start = time.perf_counter()
                    getattr(bench, method)(where)
                    times[where].append(time.perf_counter() - start)
        finally:
            benches["cluster"].teardown("cluster")
        medians = {where: statistics.median(t) for where, t in times.items()}
        ratio = medians["cluster"] / medians["in_process"]
        print(
            f"{suite.__name__}: in-process {medians['in_process']:.3f} s, "
            f"cluster {medians['cluster']:.3f} s, ratio {ratio:.2f} (target <= 1.5); "
            f"load average now: {os.getloadavg()[0]:.2f}; all: {times}"
        )


if __name__ == "__main__":
    _ratios()
