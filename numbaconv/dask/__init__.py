"""numbaconv on Dask: the same operations over arrays larger than one machine's memory.

Install with ``pip install "numbaconv[dask]"`` (``dask[array]`` and ``distributed``).
Every function here validates its arguments on the client, exactly as its
:mod:`numbaconv.ops` counterpart does, before any task exists, and returns a lazy Dask array;
compute it on any scheduler: threads, processes, or a ``dask.distributed`` cluster.

- :func:`correlate2d`, :func:`convolve2d`: SciPy-compatible filtering of 2-D planes of any
  chunking (``map_overlap``), equal bit for bit to :func:`numbaconv.correlate2d`.
- :func:`conv2d`, :func:`max_pool2d`, :func:`avg_pool2d`: NCHW batches chunked along the
  batch (``map_blocks``).
- :func:`predict`: a trained model over a batch of images; the model travels to each
  worker once.

Workers run numbaconv's parallel kernels with ``NUMBA_NUM_THREADS`` threads each; give each
worker its share of the cores so that they do not oversubscribe them, as
:func:`local_client` does (on two cores: 2 workers x 1 thread, ``NUMBA_NUM_THREADS=1``).
"""

from __future__ import annotations

try:
    import dask.array  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised where the extra is missing
    raise ImportError(
        "numbaconv.dask needs Dask: pip install 'numbaconv[dask]' (dask[array] and distributed)"
    ) from exc

from .batch import avg_pool2d, conv2d, max_pool2d, predict
from .filters import convolve2d, correlate2d

__all__ = [
    "avg_pool2d",
    "conv2d",
    "convolve2d",
    "correlate2d",
    "local_client",
    "max_pool2d",
    "predict",
]


def local_client(n_workers=2, threads_per_worker=1, **cluster_options):
    """A :class:`distributed.Client` on a new :class:`distributed.LocalCluster` of worker
    processes, each running numbaconv's kernels on its share of the cores.

    Parameters
    ----------
    n_workers, threads_per_worker : int, default 2 and 1
    **cluster_options
        Passed to ``LocalCluster`` (the dashboard is off unless ``dashboard_address`` is given).

    Returns
    -------
    distributed.Client
        The default client from now on; ``client.close(); client.cluster.close()`` (or a
        ``with`` block around each) shuts both down.

    Notes
    -----
    Each worker gets ``NUMBA_NUM_THREADS = max(1, cores // (n_workers * threads_per_worker))``
    so that the workers' Numba threads together do not oversubscribe the machine.

    The workers get numbaconv's malloc thresholds (:mod:`numbaconv._malloc`, applied when a
    worker imports numbaconv), not Dask's default ``MALLOC_TRIM_THRESHOLD_=65536``
    (``distributed.nanny.pre-spawn-environ``), which also fixes the mmap threshold at 128 KiB:
    every activation buffer of a forward pass was then mapped, page-faulted and unmapped again
    on each call, which made ``predict`` about 3x slower per image in a worker than in-process
    (measured). numbaconv leaves a user's own ``MALLOC_*_`` variables alone, so on a cluster of
    your own set that key to ``None`` in the Dask configuration before the workers start for
    the same effect.
    """
    import logging
    import os

    import dask
    from distributed import Client, LocalCluster

    share = max(1, (os.cpu_count() or 1) // (n_workers * threads_per_worker))
    env = {"NUMBA_NUM_THREADS": str(share), **cluster_options.pop("env", {})}
    cluster_options.setdefault("dashboard_address", None)
    cluster_options.setdefault("silence_logs", logging.ERROR)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            env=env,
            **cluster_options,
        )
    return Client(cluster)
