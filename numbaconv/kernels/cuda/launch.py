"""Launch configuration read off the device: tile shapes for the implicit-GEMM kernels, how many
pieces a long reduction is split into, and grid sizes (also of the one-thread-per-element
pooling kernels, :func:`elementwise_grid`).

Block shapes are compile-time constants of a kernel (a shared-memory array's size must be one),
so each kernel is compiled for a small set of :class:`GemmTile` shapes; which of them runs, how
many blocks a grid has and how far a reduction is split are decided here from the device's
properties (threads per block, multiprocessor count, shared memory per block). Under the CUDA
simulator, which runs one OS thread per CUDA thread, tiny tiles of a few threads stand in, so the
same code paths (several blocks, ragged tile edges, several reduction pieces) run in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from numba import cuda

# Blocks per multiprocessor that a grid aims for: enough resident warps to hide memory latency.
BLOCKS_PER_MULTIPROCESSOR = 4
# A split reduction adds at most this many terms in the working dtype before the float64
# merge, which bounds float32 rounding whatever the batch size.
MAX_TERMS_PER_PIECE = 4096


@dataclass(frozen=True)
class DeviceLimits:
    """The properties a launch is sized by."""

    max_threads_per_block: int
    multiprocessors: int
    shared_bytes_per_block: int


# The simulator's stand-in: small, so grids hold several blocks on tiny test shapes.
SIMULATOR_LIMITS = DeviceLimits(max_threads_per_block=64, multiprocessors=2,
                                shared_bytes_per_block=48 * 1024)  # fmt: skip


@cache
def device_limits() -> DeviceLimits:
    """The current device's limits (cached per process), or :data:`SIMULATOR_LIMITS`."""
    if cuda.config.ENABLE_CUDASIM:
        return SIMULATOR_LIMITS
    device = cuda.get_current_device()
    return DeviceLimits(
        max_threads_per_block=int(device.MAX_THREADS_PER_BLOCK),
        multiprocessors=int(device.MULTIPROCESSOR_COUNT),
        # Without an opt-in attribute a block gets at most 48 KiB of static shared memory.
        shared_bytes_per_block=min(int(device.MAX_SHARED_MEMORY_PER_BLOCK), 48 * 1024),
    )


@dataclass(frozen=True)
class GemmTile:
    """A block computes a ``bm`` x ``bn`` tile of outputs, ``bk`` reduction terms at a time;
    each thread holds a ``tm`` x ``tn`` register tile of them."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads_m(self) -> int:
        return self.bm // self.tm

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    def shared_bytes(self, itemsize: int) -> int:
        return self.bk * (self.bm + self.bn) * itemsize

    def fits(self, limits: DeviceLimits, itemsize: int) -> bool:
        return (
            self.threads <= limits.max_threads_per_block
            and self.shared_bytes(itemsize) <= limits.shared_bytes_per_block
        )


# GPU tiles, 256 threads each: a square one, and a tall narrow one for layers with few output
# channels (8 or 16, as in the chapter's models), where a 64-wide tile would idle 3/4 of it.
WIDE_TILE = GemmTile(bm=64, bn=64, bk=16, tm=4, tn=4)
NARROW_TILE = GemmTile(bm=128, bn=16, bk=16, tm=4, tn=2)
# Simulator tiles: 2 x 2 threads, so the test shapes (tens of rows, a few columns, tens of
# terms) end in ragged tiles on every axis. The simulator's cost is per block and per barrier
# (two per bk terms), so the tiles are long and deep: a 28x28 training step stays in minutes.
SIMULATOR_WIDE_TILE = GemmTile(bm=16, bn=4, bk=8, tm=8, tn=2)
SIMULATOR_NARROW_TILE = GemmTile(bm=20, bn=2, bk=8, tm=10, tn=1)


def gemm_tile(columns: int, itemsize: int) -> GemmTile | None:
    """The tile for a GEMM with ``columns`` output columns per group, or None when no tile
    fits the device (the caller then runs the one-thread-per-element reference kernel)."""
    limits = device_limits()
    if cuda.config.ENABLE_CUDASIM:
        wide, narrow = SIMULATOR_WIDE_TILE, SIMULATOR_NARROW_TILE
    else:
        wide, narrow = WIDE_TILE, NARROW_TILE
    first, second = (narrow, wide) if columns <= narrow.bn else (wide, narrow)
    for tile in (first, second):
        if tile.fits(limits, itemsize):
            return tile
    return None


def reduction_pieces(terms: int, tiles: int, bk: int) -> tuple[int, int]:
    """Split ``terms`` reduction terms into ``(pieces, piece_length)`` so that ``tiles`` output
    tiles times ``pieces`` fill the device, with no piece over :data:`MAX_TERMS_PER_PIECE`
    terms; ``piece_length`` is a multiple of ``bk`` (whole shared-memory steps)."""
    limits = device_limits()
    wanted = -(-BLOCKS_PER_MULTIPROCESSOR * limits.multiprocessors // max(tiles, 1))
    pieces = max(wanted, -(-terms // MAX_TERMS_PER_PIECE), 1)
    length = -(-terms // pieces)
    length = -(-length // bk) * bk
    return -(-terms // length), length


def grid_blocks(total: int, threads: int) -> int:
    """Blocks for a grid-stride loop over ``total`` items: enough to fill the device, no more."""
    limits = device_limits()
    cap = 8 * BLOCKS_PER_MULTIPROCESSOR * limits.multiprocessors
    return max(1, min(-(-total // threads), cap))


# Grid-stride kernels with one thread per element (pooling): 8 warps per block, which leaves
# several resident blocks per multiprocessor on every device from Volta to Hopper.
ELEMENTWISE_THREADS = 256
# Simulator: (threads, blocks) small and odd, so test shapes end in a ragged block and the
# grid-stride loop runs several rounds, while the simulator (one OS thread per CUDA thread)
# starts few threads.
SIMULATOR_ELEMENTWISE = (7, 3)


def _simulating() -> bool:
    return bool(cuda.config.ENABLE_CUDASIM)


def elementwise_grid(total: int) -> tuple[int, int]:
    """``(blocks, threads_per_block)`` for a grid-stride kernel over ``total`` items (> 0):
    :data:`ELEMENTWISE_THREADS` capped by the device's limit, and :func:`grid_blocks` blocks;
    :data:`SIMULATOR_ELEMENTWISE` under the simulator."""
    if _simulating():
        threads, max_blocks = SIMULATOR_ELEMENTWISE
        return max(1, min(-(-total // threads), max_blocks)), threads
    threads = min(ELEMENTWISE_THREADS, device_limits().max_threads_per_block)
    return grid_blocks(total, threads), threads
