"""A tiled implicit-GEMM kernel body, specialised by the conv kernels into forward, grad_input
and grad_weight.

Each conv pass is a matrix product whose operands are never built: ``result[m, c] =
sum_k A[m, k] * B[k, c]`` per group, where ``load_a``/``load_b`` read an operand element straight
from the NCHW/OIHW arrays (0 where the element falls in padding or a stride gap) and ``store``
writes a result element where it belongs. A block owns a ``bm`` x ``bn`` output tile of one
group; it walks the reduction ``bk`` terms at a time, staging an A tile and a B tile in shared
memory, and each thread accumulates a ``tm`` x ``tn`` register tile. A thread's rows are
``threads_m`` apart, so at the store consecutive threads write consecutive rows (coalesced, as
rows run along the fastest axis of the output). Loads are ordered so that consecutive threads read
neighbouring addresses: ``a_rows_fastest``/``b_terms_fastest`` say which operand index walks
fastest in memory.

``blockIdx.z`` selects a piece ``[z * piece_length, (z + 1) * piece_length)`` of the reduction:
grad_weight reduces over N*OH*OW terms, which it splits into pieces whose partial tiles are summed
afterwards in a fixed order (no atomics: every run gives the same bits). Forward and grad_input
launch one piece.

Every thread adds its terms in the same order on every run and every launch, so results are
deterministic; the order differs from the CPU kernels' (which call BLAS), so the two backends
agree to rounding, not bit for bit.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from .launch import GemmTile


def make_gemm_kernel(
    name: str,
    module: str,
    tile: GemmTile,
    geometry,
    load_a,
    load_b,
    store,
    a_rows_fastest: bool,
    b_terms_fastest: bool,
):
    """Compile the tiled kernel for ``tile`` with these device functions, named ``name`` in
    ``module`` (the caller's, so that its PTX table lists the kernel).

    ``geometry(p, q, r, extra, groups) -> (rows, columns, terms)`` per group;
    ``load_a(p, q, r, extra, groups, g, m, k, sh, sw, ph, pw, dh, dw)``;
    ``load_b(p, q, r, extra, groups, g, k, c, sh, sw, ph, pw, dh, dw)``;
    ``store(p, q, r, extra, groups, g, piece, m, c, value)``.
    The kernel is launched as ``[(row_tiles, column_tiles * groups, pieces), tile.threads]`` with
    arguments ``(p, q, r, extra, piece_length, sh, sw, ph, pw, dh, dw, groups)``.
    """
    bm, bn, bk, tm, tn = tile.bm, tile.bn, tile.bk, tile.tm, tile.tn
    threads_m, threads_n = bm // tm, bn // tn
    threads = threads_m * threads_n
    load_tile_a = _tile_loader(load_a, bm, bk, threads, a_rows_fastest, terms_first=False)
    load_tile_b = _tile_loader(load_b, bn, bk, threads, not b_terms_fastest, terms_first=True)

    def gemm(p, q, r, extra, piece_length, sh, sw, ph, pw, dh, dw, groups):
        tile_a = cuda.shared.array((bk, bm), dtype=p.dtype)
        tile_b = cuda.shared.array((bk, bn), dtype=p.dtype)
        acc = cuda.local.array((tm, tn), dtype=p.dtype)
        reg_a = cuda.local.array(tm, dtype=p.dtype)
        reg_b = cuda.local.array(tn, dtype=p.dtype)
        zero = p.dtype.type(0)
        rows, columns, terms = geometry(p, q, r, extra, groups)
        column_tiles = (columns + bn - 1) // bn
        g = cuda.blockIdx.y // column_tiles
        m0 = cuda.blockIdx.x * bm
        c0 = (cuda.blockIdx.y % column_tiles) * bn
        piece = cuda.blockIdx.z
        k_begin = piece * piece_length
        k_end = min(terms, k_begin + piece_length)
        t = cuda.threadIdx.x
        tx = t % threads_m
        ty = t // threads_m
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = zero
        for k0 in range(k_begin, k_end, bk):
            load_tile_a(tile_a, p, q, r, extra, groups, g, m0, rows, k0, k_end,
                        sh, sw, ph, pw, dh, dw, t)  # fmt: skip
            load_tile_b(tile_b, p, q, r, extra, groups, g, c0, columns, k0, k_end,
                        sh, sw, ph, pw, dh, dw, t)  # fmt: skip
            cuda.syncthreads()
            for kk in range(bk):
                for i in range(tm):
                    reg_a[i] = tile_a[kk, tx + i * threads_m]
                for j in range(tn):
                    reg_b[j] = tile_b[kk, ty + j * threads_n]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += reg_a[i] * reg_b[j]
            # Nobody refills the tiles while a slower thread still reads them.
            cuda.syncthreads()
        for i in range(tm):
            m = m0 + tx + i * threads_m
            if m < rows:
                for j in range(tn):
                    c = c0 + ty + j * threads_n
                    if c < columns:
                        store(p, q, r, extra, groups, g, piece, m, c, acc[i, j])

    gemm.__name__ = gemm.__qualname__ = name
    gemm.__module__ = module
    return cuda_kernel(gemm)


def _tile_loader(load, extent, bk, threads, extent_fastest: bool, terms_first: bool):
    """A device function that stages one operand tile ``tile[kk, i] = operand[start + i,
    k0 + kk]`` (0 past ``limit`` or ``k_end``) in shared memory, the block's threads taking
    every ``threads``-th element. ``extent_fastest``: consecutive threads take consecutive
    ``i`` (else consecutive ``kk``); ``terms_first``: ``load`` takes the term index before the
    row/column index (``load_b``'s order) rather than after it (``load_a``'s)."""
    elements = extent * bk

    def load_tile(tile, p, q, r, extra, groups, g, start, limit, k0, k_end,
                  sh, sw, ph, pw, dh, dw, t):  # fmt: skip
        for e in range(t, elements, threads):
            if extent_fastest:
                ii, kk = e % extent, e // extent
            else:
                kk, ii = e % bk, e // bk
            value = p.dtype.type(0)
            if start + ii < limit and k0 + kk < k_end:
                if terms_first:
                    value = load(p, q, r, extra, groups, g, k0 + kk, start + ii,
                                 sh, sw, ph, pw, dh, dw)  # fmt: skip
                else:
                    value = load(p, q, r, extra, groups, g, start + ii, k0 + kk,
                                 sh, sw, ph, pw, dh, dw)  # fmt: skip
            tile[kk, ii] = value

    return cuda_device(load_tile)


def gemm_grid(tile: GemmTile, rows: int, columns: int, groups: int, pieces: int = 1):
    """The grid for :func:`make_gemm_kernel`'s kernel."""
    return (-(-rows // tile.bm), -(-columns // tile.bn) * groups, pieces)
