"""``correlate2d`` and ``convolve2d`` on Dask arrays of any chunking (``map_overlap``).

How a call becomes tasks
------------------------
Planes chunked along rows only (every chunk holds whole rows, the usual layout of a large
image) take a shorter path, :mod:`numbaconv.dask._strips`: nothing is extended or
overlapped; each block is correlated in place, reading only the next block's first
``KH - 1`` rows and, at the image's top and bottom, its first and last rows. Otherwise:

The result of SciPy's correlation is a *valid* correlation of the image extended by the
boundary rule: ``out[m, n] = sum ext[r0 + m + j, c0 + n + k] * w[j, k]`` with the window
origin ``(r0, c0)`` of the mode ('full': ``1 - k``, 'same': SciPy's centring, 'valid': 0).
So, per plane axis:

1. An axis held in one chunk is left alone: each block calls numbaconv, whose kernel applies
   the boundary rule there itself.
2. An axis in several chunks is extended at the image's outer edges only (``-r0`` entries
   before, the rest of the last window after) with Dask's own boundary functions, SciPy's
   rules mapped onto them: symm → ``reflect`` (``x[d-1::-1]``: the edge repeated, as SciPy's
   symm), wrap → ``periodic``, fill → ``constant``; repeatedly where the kernel is larger
   than the image (each extension is its own reflection or period, so repeating it is
   SciPy's rule). 'valid' extends nothing: the valid correlation trims the outer edges.
   The tests check these definitions against SciPy's. The extended axis is rechunked so that
   every chunk is at least as long as the kernel (smaller chunks merge with their
   neighbours), and ``map_overlap`` gives each block the first ``k - 1`` entries of the next
   (per-axis asymmetric depth ``(0, k - 1)``, ``boundary='none'``, no trimming). Leading
   axes get depth 0.
3. Each block is correlated by :func:`numbaconv.correlate2d` in 'full' mode and sliced to
   its windows. With 'fill' the padded values are never read: only the block's in-image
   part is passed, and numbaconv fills around it. Every kept output thus forms the same
   products, in the same order and along the same code path, as
   :func:`numbaconv.correlate2d` on the whole image: the results are equal bit for bit.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.array import overlap as _overlap

from .. import ops
from ..kernels.cpu.correlate import BOUNDARY_FILL, BOUNDARY_SYMM
from ..ops.correlate import (
    _UNAVAILABLE_KINDS,
    _boundary_code,
    _check_dtype,
    _check_mode,
    _fill_value,
    _output_shape,
    _valid_swap_needed,
    _window_origin,
)
from . import _strips
from ._checks import host_array, require_dask_array
from ._strips import at_least as _at_least


def correlate2d(image, kernel, mode="full", boundary="fill", fillvalue=0):
    """Cross-correlate every 2-D plane of a Dask array with a kernel, as
    :func:`numbaconv.correlate2d` (and :func:`scipy.signal.correlate2d`) on the whole plane.

    Parameters
    ----------
    image : dask.array.Array, shape (H, W) or (..., H, W), real numeric
        Leading axes are independent planes. Any chunking, including chunks smaller than
        the kernel (they are merged with their neighbours; leading-axis chunks are kept).
    kernel : array_like (NumPy, not Dask), shape (KH, KW), real numeric
        Odd or even sizes.
    mode : {'full', 'valid', 'same'}, optional
        As in SciPy; in 'valid' mode a kernel larger than the plane swaps the inputs as SciPy
        does (each plane is then computed whole, in one task per block of planes).
    boundary : {'fill', 'wrap', 'symm'}, optional
        And SciPy's aliases ('pad', 'circular', 'symmetric'): mapped onto Dask's constant,
        periodic and reflect extensions at the outer edges of each plane.
    fillvalue : scalar, optional
        With boundary 'fill'; converted as SciPy converts it.

    Returns
    -------
    dask.array.Array, shape (..., OH, OW)
        Lazy; ``OH, OW`` as SciPy gives for ``mode``, dtype ``np.result_type(image, kernel)``
        (integer inputs are computed in float64 and cast, as numbaconv and SciPy do).
        Chunked along the plane axes roughly as the input (edge chunks absorb the border).

    Raises
    ------
    TypeError
        ``image`` not a Dask array; ``kernel`` a Dask (or CUDA device) array; long double or
        other unsupported dtypes; unhashable ``mode`` or ``boundary``.
    ValueError
        ``image`` with fewer than 2 dimensions, ``kernel`` not 2-D, unknown ``mode`` or
        ``boundary``, bad ``fillvalue``, 'valid' with neither input the larger, bool result
        dtype, and an empty plane with boundary wrap/symm. All raised before any task runs.

    Notes
    -----
    Where numbaconv's direct kernel runs (every mode and boundary on the CPU, kernels below
    the size where ``method='auto'`` picks the FFT), the computed result for real inputs equals
    ``numbaconv.correlate2d`` on each whole plane bit for bit, whatever the chunking: every
    output element forms the same products in the same order. Complex inputs agree to
    rounding (about 1e-15 relative in complex128): the complex kernel sums an image's border
    and interior in different orders, and a block's border is not the image's; and a complex
    kernel freshly compiled can differ in the last bit from the same kernel loaded from
    Numba's cache, which a worker may do while this process does the other.
    """
    return _filter("correlate2d", image, kernel, mode, boundary, fillvalue, flip=False)


def convolve2d(image, kernel, mode="full", boundary="fill", fillvalue=0):
    """Convolve every 2-D plane of a Dask array with a kernel, as
    :func:`numbaconv.convolve2d` (and :func:`scipy.signal.convolve2d`) on the whole plane.

    Parameters, return value and errors are those of :func:`correlate2d`; the kernel is
    reversed on both axes and an even kernel is centred as SciPy centres a convolution.
    The computed result equals ``numbaconv.convolve2d`` on each whole plane bit for bit
    where the direct kernel runs.
    """
    return _filter("convolve2d", image, kernel, mode, boundary, fillvalue, flip=True)


def _checked(name, image, kernel, mode, boundary, fillvalue):
    """Validate as :func:`numbaconv.correlate2d` does (same order, same errors), before any
    task exists. Returns the NumPy kernel, whether 'valid' swaps, the boundary code, the
    plane's output shape and the output dtype."""
    require_dask_array("image", image)
    kernel = host_array("kernel", kernel)
    if image.ndim < 2 or kernel.ndim != 2:
        raise ValueError(
            f"{name} needs image of shape (H, W) or (..., H, W) and a 2-D kernel; got image "
            f"with shape {image.shape} and kernel with shape {kernel.shape}"
        )
    plane = image.shape[-2:]
    if any(np.isnan(s) for s in plane):
        raise ValueError(f"image has unknown plane shape {plane}; call compute_chunk_sizes()")
    swapped = _valid_swap_needed(mode, plane, kernel.shape)
    _check_mode(mode)
    code = _boundary_code(boundary)
    _check_dtype("image", image)
    _check_dtype("kernel", kernel)
    out_dtype = np.result_type(image.dtype, kernel.dtype)
    if code == BOUNDARY_FILL:
        _fill_value(fillvalue, out_dtype)
    shapes = (kernel.shape, plane) if swapped else (plane, kernel.shape)
    out_plane = _output_shape(mode, *shapes)
    if out_dtype.kind in _UNAVAILABLE_KINDS or out_dtype == np.float16:
        raise ValueError(
            f"{name} not available for image dtype {image.dtype} with kernel dtype "
            f"{kernel.dtype}: result dtype {out_dtype}; expected an integer, float32 or float64 "
            "result"
        )
    if code != BOUNDARY_FILL and 0 in plane and kernel.size and 0 not in out_plane:
        raise ValueError(
            f"image planes are empty (shape {plane}) but boundary={boundary!r} needs image "
            "values to extend; expected non-empty planes or boundary='fill'"
        )
    return kernel, swapped, code, out_plane, out_dtype


def _filter(name, image, kernel, mode, boundary, fillvalue, flip):
    kernel, swapped, code, out_plane, out_dtype = _checked(
        name, image, kernel, mode, boundary, fillvalue
    )
    if swapped or image.size == 0 or kernel.size == 0:
        return _whole_planes(name, image, kernel, mode, boundary, fillvalue, out_plane, out_dtype)
    # Convolution is correlation with the flipped kernel; correlate2d conjugates a complex
    # kernel (SciPy's rule) and convolution must not, so the flipped kernel is conjugated first.
    weights = np.ascontiguousarray(np.conj(kernel[::-1, ::-1]) if flip else kernel)
    origin = _window_origin(mode, weights.shape, flip)
    if _strips.applies(image, weights.shape, out_plane, out_dtype):
        # Whole rows in each chunk: no extension, no overlap copies (see _strips).
        fill = _fill_value(fillvalue, out_dtype) if code == BOUNDARY_FILL else 0
        weights = weights.astype(out_dtype, copy=False)
        return _strips.correlate(image, weights, origin, code, fill, out_plane, out_dtype)
    extended, chunks, out_chunks, plan = image, list(image.chunks), list(image.chunks), []
    depth = {axis: (0, 0) for axis in range(image.ndim)}
    for axis, k, r0, n_out in zip(
        (image.ndim - 2, image.ndim - 1), weights.shape, origin, out_plane
    ):
        n = image.shape[axis]
        if image.numblocks[axis] == 1:
            # One chunk spans the axis: the kernel applies the boundary itself, nothing to copy.
            chunks[axis], out_chunks[axis] = (n,), (n_out,)
            plan.append(((0,), (r0,), (n_out,), n, k))
            continue
        extended = _extend(extended, axis, -r0, n_out + k - 1 - n + r0, code)
        chunks[axis] = _at_least(extended.chunks[axis], k)
        out_chunks[axis] = (*chunks[axis][:-1], chunks[axis][-1] - (k - 1))
        starts = tuple(int(r0 + s) for s in np.cumsum((0, *chunks[axis][:-1])))
        # Each block's windows start at its first entry.
        plan.append((starts, starts, out_chunks[axis], n, k))
        depth[axis] = (0, k - 1)
    return da.map_overlap(
        _correlate_block,
        extended.rechunk(tuple(chunks)),
        depth=depth,
        boundary="none",
        trim=False,
        chunks=tuple(out_chunks),
        dtype=out_dtype,
        meta=np.empty((0,) * image.ndim, out_dtype),
        weights=weights,
        plan=tuple(plan),
        boundary_options=(boundary, fillvalue, code == BOUNDARY_FILL),
    )


def _extend(x, axis, lo, hi, code):
    """``x`` with ``lo`` entries before and ``hi`` after along ``axis``, by SciPy's rule."""
    while lo > 0 or hi > 0:
        depth = min(max(lo, hi), x.shape[axis])
        if code == BOUNDARY_FILL:
            # Never read (see _correlate_block), so zeros of x's dtype whatever fillvalue is.
            grown = _overlap.constant(x, axis, depth, 0)
        elif code == BOUNDARY_SYMM:
            grown = _overlap.reflect(x, axis, depth)
        else:
            grown = _overlap.periodic(x, axis, depth)
        keep = [slice(None)] * x.ndim
        keep[axis] = slice(depth - min(lo, depth), grown.shape[axis] - depth + min(hi, depth))
        x = grown[tuple(keep)]
        lo, hi = lo - min(lo, depth), hi - min(hi, depth)
    return x


def _correlate_block(block, weights, plan, boundary_options, block_id=None):
    """One block's part of the result, plane by plane: a 'full' correlation of the block (its
    in-image part, with boundary 'fill') by numbaconv itself, sliced to the block's windows.

    ``plan`` holds per plane axis, for each block: the image coordinate of its first entry and
    of its first output's window, and its output count; then the image and kernel sizes.
    Outputs that are kept read only the block's own entries, or, past the image's edges,
    what numbaconv's boundary rule gives there, as on the whole image.
    """
    boundary, fillvalue, fill = boundary_options
    keep, take = [], []
    for size, (starts, windows, counts, n, k), b in zip(block.shape[-2:], plan, block_id[-2:]):
        start = starts[b]
        # With 'fill' only the in-image part is given: numbaconv fills the rest itself.
        lo, hi = (max(0, -start), min(size, n - start)) if fill else (0, size)
        offset = windows[b] - (start + lo) + k - 1  # 'full' output m's window starts at m-k+1
        take.append(slice(lo, hi))
        keep.append(slice(offset, offset + counts[b]))
    if block.ndim == 2:  # one plane: its slice is the result, without a copy
        return ops.correlate2d(block[tuple(take)], weights, "full", boundary, fillvalue)[
            tuple(keep)
        ]
    shape = (*block.shape[:-2], keep[0].stop - keep[0].start, keep[1].stop - keep[1].start)
    out = np.empty(shape, np.result_type(block.dtype, weights.dtype))
    for index in np.ndindex(block.shape[:-2]):
        full = ops.correlate2d(block[index][tuple(take)], weights, "full", boundary, fillvalue)
        out[index] = full[tuple(keep)]
    return out


def _whole_planes(name, image, kernel, mode, boundary, fillvalue, out_plane, out_dtype):
    """Each plane in one piece, through numbaconv itself: for 'valid' with the inputs swapped
    and for empty planes or kernels, where there is nothing to overlap."""
    planes = image.rechunk({image.ndim - 2: -1, image.ndim - 1: -1})
    function = ops.correlate2d if name == "correlate2d" else ops.convolve2d
    return planes.map_blocks(
        _planes_block,
        chunks=(*planes.chunks[:-2], (out_plane[0],), (out_plane[1],)),
        dtype=out_dtype,
        meta=np.empty((0,) * image.ndim, out_dtype),
        function=function,
        kernel=kernel,
        options={"mode": mode, "boundary": boundary, "fillvalue": fillvalue},
    )


def _planes_block(block, function, kernel, options):
    out = np.empty(
        (*block.shape[:-2], *_plane_shape(block, kernel, options)), _dtype(block, kernel)
    )
    for index in np.ndindex(block.shape[:-2]):
        out[index] = function(block[index], kernel, **options)
    return out


def _plane_shape(block, kernel, options):
    plane = block.shape[-2:]
    swapped = _valid_swap_needed(options["mode"], plane, kernel.shape)
    shapes = (kernel.shape, plane) if swapped else (plane, kernel.shape)
    return _output_shape(options["mode"], *shapes)


def _dtype(block, kernel):
    return np.result_type(block.dtype, kernel.dtype)
