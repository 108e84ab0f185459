"""Reduction CUDA kernels: sum, max and argmax along the last axis of an (M, K) buffer.

The namespace (``numbaconv._backend.cuda_xp``) moves the reduced axes to the end first, so one
row-reduction serves every ``axis``/``keepdims`` combination. One thread owns one row and adds
its K terms in index order, so results never depend on the launch configuration (no atomics,
no tree whose shape follows the block size). Few long rows (a whole-array sum) are split into
``chunks`` fixed-size pieces first: a thread per (row, piece) writes a partial, then a thread per
row combines the partials in order. The split depends on M and K only, never on the number of
threads, so results stay bit-identical across launch configurations.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from . import launch_config

OP_SUM = 0
OP_MAX = 1

#: Rows longer than this, when there are fewer rows than ``SPLIT_BELOW_ROWS``, go through the
#: two-pass (partials) reduction.
SPLIT_ROW_LENGTH = 2048
SPLIT_BELOW_ROWS = 256
#: Length of one piece in the two-pass reduction.
CHUNK = 512


def _reduce_range(op, src, begin, end):
    """Sum (in float64) or NaN-propagating max of ``src[begin:end]`` (non-empty for max)."""
    if op == OP_SUM:
        acc = 0.0
        for i in range(begin, end):
            acc += src[i]
        return acc
    best = src[begin]
    for i in range(begin + 1, end):
        v = src[i]
        if best != best:
            break
        if v != v or v > best:
            best = v
    return best


_reduce_range = cuda_device(_reduce_range)


def _reduce_rows(op, src, row_length, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for row in range(start, out.shape[0], step):
        begin = row * row_length
        out[row] = _reduce_range(op, src, begin, begin + row_length)


def _reduce_chunks(op, src, row_length, chunk, chunks_per_row, partial):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, partial.shape[0], step):
        row = idx // chunks_per_row
        piece = idx % chunks_per_row
        begin = row * row_length + piece * chunk
        end = min(begin + chunk, (row + 1) * row_length)
        partial[idx] = _reduce_range(op, src, begin, end)


def _argmax_rows(src, row_length, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for row in range(start, out.shape[0], step):
        begin = row * row_length
        best_index = 0
        best = src[begin]
        # np.argmax: the first maximum, or the first NaN.
        if best == best:
            for k in range(1, row_length):
                v = src[begin + k]
                if v != v:
                    best_index = k
                    break
                if v > best:
                    best = v
                    best_index = k
        out[row] = best_index


_reduce_rows = cuda_kernel(_reduce_rows)
_reduce_chunks = cuda_kernel(_reduce_chunks)
_argmax_rows = cuda_kernel(_argmax_rows)


def _signatures():
    i64 = cuda.int64
    floats = (cuda.float32, cuda.float64)
    table = {"_reduce_rows": [], "_reduce_chunks": [], "_argmax_rows": [], "_reduce_range": []}
    for src in floats:
        for dst in floats:
            table["_reduce_rows"].append(cuda.void(i64, src[::1], i64, dst[::1]))
        table["_reduce_chunks"].append(cuda.void(i64, src[::1], i64, i64, i64, cuda.float64[::1]))
        table["_reduce_chunks"].append(cuda.void(i64, src[::1], i64, i64, i64, src[::1]))
        table["_argmax_rows"].append(cuda.void(src[::1], i64, i64[::1]))
        table["_reduce_range"].append(cuda.float64(i64, src[::1], i64, i64))
    return table


PTX_SIGNATURES = _signatures()


def reduce_rows(op, src, row_length, out, backend):
    """``out[m] = reduce(src[m*K:(m+1)*K])`` for the flat (M*K,) buffer ``src``, K > 0.

    ``op`` is ``OP_SUM`` (accumulated in float64, then stored in ``out``'s dtype) or ``OP_MAX``
    (NaN propagates). ``backend`` allocates the partials of the two-pass path.
    """
    rows = out.shape[0]
    if rows == 0:
        return
    if row_length > SPLIT_ROW_LENGTH and rows < SPLIT_BELOW_ROWS:
        chunks_per_row = -(-row_length // CHUNK)
        partial_dtype = "float64" if op == OP_SUM else src.dtype
        partial = backend.empty(rows * chunks_per_row, partial_dtype)
        blocks, threads = launch_config(partial.shape[0])
        _reduce_chunks[blocks, threads](op, src, row_length, CHUNK, chunks_per_row, partial)
        src, row_length = partial, chunks_per_row
    blocks, threads = launch_config(rows)
    _reduce_rows[blocks, threads](op, src, row_length, out)


def argmax_rows(src, row_length, out):
    """``out[m]`` = index of the first maximum (or first NaN) of row m of ``src``; int64."""
    if out.shape[0] == 0:
        return
    blocks, threads = launch_config(out.shape[0])
    _argmax_rows[blocks, threads](src, row_length, out)
