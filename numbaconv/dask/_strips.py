"""The row-strip path of :func:`numbaconv.dask.correlate2d`: planes chunked along rows only.

When every chunk holds whole rows, a block needs nothing from its neighbours but the first
``KH - 1`` rows of the next block, so nothing is extended or concatenated: each task writes
its outputs with numbaconv's direct kernel, in at most four pieces of one preallocated block,

- interior rows, whose windows lie inside the block: the kernel reads the block itself;
- seam rows, whose windows run into the next block: read from a small copy of the block's
  last ``KH - 1`` rows and the next block's first ``KH - 1`` (a "halo" task slices those out
  on the worker that holds them, so only they travel);
- top and bottom edge rows (first and last block), whose windows leave the image: with fill
  and symm read from the edge block itself, whose edge is the image's, so the kernel's own
  boundary rule maps every row outside onto the same image row as on the whole plane; with
  wrap from ``ends``, the image's first and last ``KH - 1`` rows stacked, on which the
  periodic rule does the same.

Each output row is thus computed by the same code path (the kernel's fused interior pass or
its general, boundary-mapping pass) from the same values as in one ``numbaconv.correlate2d``
call on the whole plane: for real dtypes the results are equal bit for bit (complex ones
to rounding: see :func:`numbaconv.dask.correlate2d`).
Block ``i`` owns the outputs whose window starts in its rows (the first block also those
starting above the image, the last also those starting below its top), so the output is
chunked as the input, less ``KH - 1`` rows in 'valid' mode, plus ``KH - 1`` in 'full'.

The slicing tasks carry a higher priority, so that no block waits for its neighbour's rows
behind the big tasks queued on the neighbour's worker.
"""

from __future__ import annotations

import itertools
import operator

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from ..kernels.common.correlate import BOUNDARY_WRAP
from ..ops import correlate as _correlate
from ..ops._correlate_fft import prefer_fft


def applies(image, kernel_shape, out_plane, out_dtype):
    """Whether the row-strip path computes this call: whole rows in each chunk, rows in
    several chunks, a plane at least as tall as the kernel, a kernel dtype and the direct
    method on the whole plane (``method='auto'`` picks it from the shapes alone)."""
    rows, cols = image.ndim - 2, image.ndim - 1
    return (
        image.numblocks[cols] == 1
        and image.numblocks[rows] > 1
        and image.shape[rows] >= max(kernel_shape[0], 2)
        and image.shape[cols] > 0
        and np.dtype(out_dtype) in _correlate._KERNEL_DTYPES
        and not prefer_fft(out_plane, kernel_shape, out_dtype)
    )


def correlate(image, weights, origin, code, fill, out_plane, out_dtype):
    """The lazy result (see the module docstring); ``weights`` as the kernel is to be given
    to :func:`numbaconv.ops.correlate._correlate_into`, ``origin`` its window origin.

    The graph is written out directly, one task per block plus the small slicing tasks,
    rather than through Dask's slicing and concatenation: building it then costs
    microseconds per block on the client, which matters next to a filter that takes tens of
    milliseconds."""
    rows = image.ndim - 2
    kh = weights.shape[0]
    height = image.shape[rows]
    merged = at_least(image.chunks[rows], kh)
    x = image if merged == image.chunks[rows] else image.rechunk({rows: merged})
    bounds = tuple(int(b) for b in np.cumsum((0, *merged)))
    halo = max(kh - 1, 1)
    r0, n = origin[0], len(merged)
    owned = [(r0 if i == 0 else lo, hi) for i, (lo, hi) in enumerate(_pairs(bounds))]
    owned[-1] = (owned[-1][0], r0 + out_plane[0])  # to one past the last window start
    plan = (bounds, tuple(owned), height, origin[1], code, fill)
    token = tokenize(x, weights, plan, out_plane)
    name, cut = f"correlate2d-strips-{token}", f"correlate2d-strips-rows-{token}"
    lead = (slice(None),) * (image.ndim - 2)
    head, tail = (*lead, slice(0, halo)), (*lead, slice(-halo, None))
    first = (*lead, slice(0, kh - 1))
    wrap = code == BOUNDARY_WRAP
    cuts, dsk = {}, {}
    for plane in np.ndindex(x.numblocks[:-2]):
        # The small slices run where their block lives: only those rows travel. Only wrap
        # reads the far end at an edge; fill and symm read the edge block's own rows.
        if wrap:
            cuts[(cut, "head", *plane)] = (operator.getitem, (x.name, *plane, 0, 0), head)
            cuts[(cut, "tail", *plane)] = (operator.getitem, (x.name, *plane, n - 1, 0), tail)
        for i in range(n):
            nxt = None
            if i < n - 1:
                nxt = (cut, "next", *plane, i)
                cuts[nxt] = (operator.getitem, (x.name, *plane, i + 1, 0), first)
            ends = wrap and i in (0, n - 1)
            dsk[(name, *plane, i, 0)] = (
                _strip_block,
                (x.name, *plane, i, 0),
                nxt,
                [(cut, "head", *plane), (cut, "tail", *plane)]
                if ends
                else None,  # a list: Dask fills it in
                weights,
                plan,
                out_plane[1],
                i,
            )
    out_chunks = (*x.chunks[:-2], tuple(hi - lo for lo, hi in owned), (out_plane[1],))
    layers, dependencies = dict(x.dask.layers), dict(x.dask.dependencies)
    # The slices first: each worker runs one task at a time, and a slice queued behind the
    # big tasks would hold up its neighbour's block until the end.
    layers[cut] = MaterializedLayer(cuts, annotations={"priority": 1})
    layers[name] = MaterializedLayer(dsk)
    dependencies[cut] = set(x.__dask_layers__())
    dependencies[name] = {cut, *x.__dask_layers__()}
    graph = HighLevelGraph(layers, dependencies)
    return da.Array(graph, name, out_chunks, meta=np.empty((0,) * image.ndim, out_dtype))


def _pairs(bounds):
    return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def at_least(chunks, size):
    """``chunks`` with neighbours merged until every chunk holds at least ``size`` entries
    (``sum(chunks) >= size``)."""
    merged, current = [], 0
    for c in chunks:
        current += c
        if current >= size:
            merged.append(current)
            current = 0
    if current:  # a short tail joins the last chunk
        if merged:
            merged[-1] += current
        else:
            merged.append(current)
    return tuple(merged)


def _strip_block(block, nxt, ends, weights, plan, out_width, i):
    bounds, owned, height, c0, code, fill = plan
    start, stop = bounds[i], bounds[i + 1]
    t_lo, t_hi = owned[i]
    kh = weights.shape[0]
    out = np.empty((*block.shape[:-2], t_hi - t_lo, out_width), weights.dtype)
    pieces = _pieces(start, stop, t_lo, t_hi, height, kh)
    for index in np.ndindex(block.shape[:-2]):
        for (lo, hi), source in pieces:
            if hi <= lo:
                continue
            if source == "block":
                rows, r = block[index], lo - start
            elif source == "seam":
                first = max(start, stop - (kh - 1))
                rows = np.concatenate((block[index][first - start :], nxt[index]))
                r = lo - first
            elif ends is None:  # an edge, fill or symm: the edge block's own rows
                rows, r = block[index], lo - start
            else:  # an edge with wrap: the image's first and last rows, stacked
                rows = np.concatenate((ends[0][index], ends[1][index]))
                r = lo if lo < 0 else lo - height + rows.shape[0]
            target = out[index][lo - t_lo : hi - t_lo]
            _correlate._correlate_into(rows, weights, r, c0, code, fill, target)
    return out


def _pieces(start, stop, t_lo, t_hi, height, kh):
    """The block's output rows, by window start, with where their windows' rows are read."""
    inside = min(t_hi, stop - kh + 1, height - kh + 1)
    last_in_image = height - kh + 1  # windows starting from here leave the bottom
    return (
        ((t_lo, min(t_hi, 0)), "ends"),
        ((max(t_lo, 0), inside), "block"),
        ((max(t_lo, 0, inside), min(t_hi, last_in_image)), "seam"),
        ((max(t_lo, last_in_image), t_hi), "ends"),
    )
