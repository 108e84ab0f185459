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
worker its share of the cores (for example ``LocalCluster(n_workers=2, threads_per_worker=1,
env={"NUMBA_NUM_THREADS": "1"})`` on two cores) so that they do not oversubscribe them.
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

__all__ = ["avg_pool2d", "conv2d", "convolve2d", "correlate2d", "max_pool2d", "predict"]
