"""CUDA kernels (``@cuda.jit``), twins of ``numbaconv.kernels.cpu`` with the same launcher names,
argument order and meanings.

Only ``numbaconv._backend`` imports this package, and only once a CUDA array is in play, so
``numba.cuda`` is never imported on the CPU path.

Conventions every CUDA module follows (phase-2 twins copy them):

- one thread owns one output element (gather, never scatter; no float atomics), so results do
  not depend on the launch configuration;
- kernels are 1-D grid-stride loops launched with :func:`launch_config` (threads per block from
  ``NUMBACONV_CUDA_THREADS``), or with a grid from the device's properties (:mod:`.launch`:
  the tiled conv kernels and pooling), on the default stream; launchers return without
  synchronising;
- a launcher never validates and takes C-contiguous device arrays of one float dtype;
- each module has a ``PTX_SIGNATURES`` table (dispatcher name -> signatures for float32 and
  float64); ``tests/test_cuda_ptx.py`` compiles every entry to PTX and fails when a dispatcher
  in the module has none.

This module also holds the memory kernels the backend needs: a strided-to-contiguous copy with
dtype conversion (any layout, 1-D to 4-D) and a zero fill.
"""

from __future__ import annotations

from numba import cuda

from ... import config
from ..._jit import cuda_device, cuda_kernel
from ..common.index import unravel4

_unravel4 = cuda_device(unravel4)

# Under the simulator (one OS thread per CUDA thread) a few small blocks keep tests fast and make
# every grid-stride loop run more than one round.
SIMULATOR_MAX_BLOCKS = 3
# On a GPU, 32 blocks per multiprocessor fill it; more blocks only add scheduling work.
BLOCKS_PER_MULTIPROCESSOR = 32
MAX_THREADS_PER_BLOCK = 1024

_max_blocks_cache: int | None = None


def _max_blocks() -> int:
    global _max_blocks_cache
    if _max_blocks_cache is None:
        if cuda.config.ENABLE_CUDASIM:
            _max_blocks_cache = SIMULATOR_MAX_BLOCKS
        else:
            device = cuda.get_current_device()
            _max_blocks_cache = BLOCKS_PER_MULTIPROCESSOR * device.MULTIPROCESSOR_COUNT
    return _max_blocks_cache


def launch_config(total: int) -> tuple[int, int]:
    """``(blocks, threads_per_block)`` for a grid-stride kernel over ``total`` items (> 0)."""
    threads = config.CUDA_THREADS
    if threads > MAX_THREADS_PER_BLOCK:
        raise ValueError(
            f"NUMBACONV_CUDA_THREADS={threads}: a CUDA block holds at most "
            f"{MAX_THREADS_PER_BLOCK} threads"
        )
    blocks = min(-(-total // threads), _max_blocks())
    return blocks, threads


def _copy_1d(src, dst):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, dst.shape[0], step):
        dst[i] = src[i]


def _copy_2d(src, dst):
    n1 = dst.shape[1]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, dst.shape[0] * n1, step):
        i0 = idx // n1
        i1 = idx % n1
        dst[i0, i1] = src[i0, i1]


def _copy_3d(src, dst):
    n0, n1, n2 = dst.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n0 * n1 * n2, step):
        i2 = idx % n2
        rest = idx // n2
        i1 = rest % n1
        i0 = rest // n1
        dst[i0, i1, i2] = src[i0, i1, i2]


def _copy_4d(src, dst):
    n0, n1, n2, n3 = dst.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n0 * n1 * n2 * n3, step):
        i0, i1, i2, i3 = _unravel4(idx, n1, n2, n3)
        dst[i0, i1, i2, i3] = src[i0, i1, i2, i3]


def _fill_zero(dst):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, dst.shape[0], step):
        dst[i] = 0


_copy_1d = cuda_kernel(_copy_1d)
_copy_2d = cuda_kernel(_copy_2d)
_copy_3d = cuda_kernel(_copy_3d)
_copy_4d = cuda_kernel(_copy_4d)
_fill_zero = cuda_kernel(_fill_zero)

_COPY_KERNELS = {1: _copy_1d, 2: _copy_2d, 3: _copy_3d, 4: _copy_4d}


def _strided(dtype, ndim):
    return dtype[(slice(None),) * ndim]


def _contiguous(dtype, ndim):
    return dtype[(slice(None),) * (ndim - 1) + (slice(None, None, 1),)]


_FLOATS = (cuda.float32, cuda.float64)

PTX_SIGNATURES = {
    f"_copy_{ndim}d": [
        cuda.void(_strided(src, ndim), _contiguous(dst, ndim)) for src in _FLOATS for dst in _FLOATS
    ]
    for ndim in _COPY_KERNELS
}
PTX_SIGNATURES["_fill_zero"] = [cuda.void(_contiguous(f, 1)) for f in _FLOATS]


def copy_into(src, dst):
    """Copy ``src`` (any strides, 1-D to 4-D, float32/float64) into the C-contiguous ``dst`` of
    the same shape, converting the dtype."""
    if dst.size == 0:
        return
    kernel = _COPY_KERNELS[dst.ndim]
    blocks, threads = launch_config(dst.size)
    kernel[blocks, threads](src, dst)


def fill_zero(dst):
    """Set every element of the C-contiguous ``dst`` to 0."""
    if dst.size == 0:
        return
    flat = dst.reshape(dst.size)
    blocks, threads = launch_config(dst.size)
    _fill_zero[blocks, threads](flat)
