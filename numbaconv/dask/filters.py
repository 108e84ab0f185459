"""``correlate2d`` and ``convolve2d`` on Dask arrays of any chunking (``map_overlap``).

How a call becomes tasks
------------------------
The result of SciPy's correlation is a *valid* correlation of the image extended by the
boundary rule: ``out[m, n] = sum ext[r0 + m + j, c0 + n + k] * w[j, k]`` with the window
origin ``(r0, c0)`` of the mode ('full': ``1 - k``, 'same': SciPy's centring, 'valid': 0).
So, per axis:

1. The image is extended at its outer edges only (``lo = -r0`` rows before, ``hi`` after) with
   Dask's own boundary functions, SciPy's rules mapped onto them: symm → ``reflect``, wrap →
   ``periodic`` (repeatedly, where the kernel is larger than the image; both extensions are
   their own reflections/periods, so repeating them is SciPy's rule), fill → ``constant``.
   'valid' extends nothing: the outer edges are trimmed by the valid correlation itself.
2. The extended array is rechunked so that every chunk is at least as long as the kernel
   (chunks smaller than the kernel are merged with their neighbours) and
   ``map_overlap`` gives each block the first ``k - 1`` rows and columns of the next blocks
   (per-axis asymmetric depth ``(0, k - 1)``, ``boundary='none'``, no trimming); the block's
   valid correlation is its part of the result. Leading axes get depth 0.
3. With boundary 'fill' the padded values are never read: a block that reaches beyond the
   image correlates only its in-image part with numbaconv's own 'fill' rule. Every output
   element therefore forms the same products along the same code path as
   :func:`numbaconv.correlate2d` on the whole image, and the results are equal bit for bit
   (the SciPy parity tests check this on a real cluster).
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
from ._checks import host_array, require_dask_array


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
        ``image`` not a Dask array; ``kernel`` a Dask (or CUDA device) array; complex, long
        double or other unsupported dtypes; unhashable ``mode`` or ``boundary``.
    ValueError
        ``image`` with fewer than 2 dimensions, ``kernel`` not 2-D, unknown ``mode`` or
        ``boundary``, bad ``fillvalue``, 'valid' with neither input the larger, bool result
        dtype, and an empty plane with boundary wrap/symm. All raised before any task runs.

    Notes
    -----
    Where numbaconv's direct kernel runs (every mode and boundary on the CPU), the computed
    result equals ``numbaconv.correlate2d`` on each whole plane bit for bit, whatever the
    chunking: every output element forms the same products in the same order.
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
    weights = np.ascontiguousarray(kernel[::-1, ::-1] if flip else kernel)
    origin = _window_origin(mode, weights.shape, flip)
    axes = (image.ndim - 2, image.ndim - 1)
    extended = image
    for axis, k, r0, n_out in zip(axes, weights.shape, origin, out_plane):
        lo = -r0
        hi = n_out + k - 1 - image.shape[axis] - lo
        extended = _extend(extended, axis, lo, hi, code)
    chunks = list(extended.chunks)
    out_chunks = list(extended.chunks)
    starts = []
    for axis, k in zip(axes, weights.shape):
        chunks[axis] = _at_least(extended.chunks[axis], k)
        out_chunks[axis] = (*chunks[axis][:-1], chunks[axis][-1] - (k - 1))
        starts.append(np.cumsum((0, *chunks[axis][:-1])).tolist())
    extended = extended.rechunk(tuple(chunks))
    depth = {axis: (0, 0) for axis in range(image.ndim)}
    depth.update({axis: (0, k - 1) for axis, k in zip(axes, weights.shape)})
    return da.map_overlap(
        _correlate_block,
        extended,
        depth=depth,
        boundary="none",
        trim=False,
        chunks=tuple(out_chunks),
        dtype=out_dtype,
        meta=np.empty((0,) * image.ndim, out_dtype),
        weights=weights,
        fill=(fillvalue, origin, image.shape[-2:], starts) if code == BOUNDARY_FILL else None,
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


def _at_least(chunks, size):
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


def _correlate_block(block, weights, fill, block_id=None):
    """Valid correlation of one overlapped block of the extended image, plane by plane."""
    kh, kw = weights.shape
    rows, cols = block.shape[-2] - kh + 1, block.shape[-1] - kw + 1
    out = None
    window = None
    if fill is not None:
        window = _in_image_window(block.shape[-2:], weights.shape, fill, block_id[-2:])
    for index in np.ndindex(block.shape[:-2]):
        plane = block[index]
        if window is None:
            result = ops.correlate2d(plane, weights, mode="valid")
        else:
            (r_lo, r_hi), (c_lo, c_hi) = window
            full = ops.correlate2d(plane[r_lo:r_hi, c_lo:c_hi], weights, "full", "fill", fill[0])
            result = full[
                kh - 1 - r_lo : kh - 1 - r_lo + rows, kw - 1 - c_lo : kw - 1 - c_lo + cols
            ]
        if out is None:
            out = np.empty((*block.shape[:-2], rows, cols), result.dtype)
        out[index] = result
    if out is None:  # no planes in this block
        dtype = np.result_type(block.dtype, weights.dtype)
        out = np.empty((*block.shape[:-2], rows, cols), dtype)
    return out


def _in_image_window(block_shape, kernel_shape, fill, block_id):
    """The block's in-image rows and columns ``((r_lo, r_hi), (c_lo, c_hi))``, or None when
    the whole block lies inside the image (then no fill value is read)."""
    _, origin, plane, starts = fill
    window = []
    for size, r0, n, start_list, b in zip(block_shape, origin, plane, starts, block_id):
        first = start_list[b] + r0  # image coordinate of the block's first entry
        window.append((max(0, -first), min(size, n - first)))
    if all(lo == 0 and hi == size for (lo, hi), size in zip(window, block_shape)):
        return None
    return tuple(window)


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
