"""SciPy-compatible ``correlate2d`` and ``convolve2d`` on real and complex 2-D arrays.

Both follow :func:`scipy.signal.correlate2d` / :func:`scipy.signal.convolve2d`
(SciPy 1.17, ``_sigtools._convolve2d``): the same modes, boundaries and aliases,
output shape and dtype, the complex conjugation rule, the valid-mode input swap, the
same exception classes, the same order of checks, and SciPy's own words at the start
of the messages SciPy's tests look for. SciPy's own ``TestConvolve2d`` and
``TestCorrelate2d`` pass against these functions (``tests/scipy_suite``). One kernel
(:mod:`numbaconv.kernels.cpu.correlate`, or its CUDA twin
:mod:`numbaconv.kernels.cuda.correlate`) does the direct work; a convolution is a
correlation with the kernel reversed and the window origin moved accordingly. On the
host, large kernels take the FFT path (``method=``, :mod:`numbaconv.ops._correlate_fft`).

Both functions also accept two CUDA device arrays (numba's, or anything with
``__cuda_array_interface__``) and then return a numba device array, computed without
a copy to the host. Device inputs must be float32, float64, complex64 or complex128 (an
integer result dtype cannot be produced on the device; cast on the host first); mixing a
host and a device array is a TypeError.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _backend
from .._validate import describe as _describe
from ..kernels.common.correlate import BOUNDARY_FILL, BOUNDARY_SYMM, BOUNDARY_WRAP
from . import _correlate_fft

_MODES = ("valid", "same", "full")
# SciPy's _boundarydict: 'reflect' is listed there but its C code refuses it.
_BOUNDARIES = {
    "fill": BOUNDARY_FILL,
    "pad": BOUNDARY_FILL,
    "symm": BOUNDARY_SYMM,
    "symmetric": BOUNDARY_SYMM,
    "wrap": BOUNDARY_WRAP,
    "circular": BOUNDARY_WRAP,
}
_BOUNDARY_NAMES = ("fill", "pad", "symm", "symmetric", "wrap", "circular")
# Result dtypes SciPy's C loop has no implementation for ("not available for this type").
_UNAVAILABLE_KINDS = "bOMm"
_METHODS = ("auto", "direct", "fft")
# The dtypes kernels run in; other inputs are cast to one of these at the boundary.
_KERNEL_DTYPES = tuple(map(np.dtype, ("float32", "float64", "complex64", "complex128")))


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, method="auto"):
    """Cross-correlate two 2-D arrays, as :func:`scipy.signal.correlate2d`.

    ``out[m, n] = sum_{j,k} in1_ext[m + j + r0, n + k + c0] * conj(in2[j, k])`` where
    ``in1_ext`` is ``in1`` extended by ``boundary`` and ``(r0, c0)`` is
    ``-(shape(in2) - 1)`` for ``'full'``, ``-((shape(in2) - 1) // 2)`` for
    ``'same'`` and 0 for ``'valid'``.

    Parameters
    ----------
    in1 : array_like or CUDA device array, shape (H1, W1), real or complex numeric
        First input.
    in2 : array_like or CUDA device array, shape (H2, W2), real or complex numeric
        Second input (the kernel, unless swapped in ``'valid'`` mode). As in SciPy the
        kernel is conjugated, and a swapped result is only reversed (not conjugated).
    mode : {'full', 'valid', 'same'}, optional
        Output size: ``'full'`` (H1 + H2 - 1, W1 + W2 - 1); ``'valid'``
        (abs(H1 - H2) + 1, abs(W1 - W2) + 1), where one input must be at least as large
        as the other in both dimensions (if ``in2`` is the larger the inputs are
        swapped and the result reversed on both axes, as in SciPy); ``'same'``
        (H1, W1), centred as SciPy centres it.
    boundary : {'fill', 'wrap', 'symm'}, optional
        How ``in1`` is extended: constant ``fillvalue`` (alias ``'pad'``),
        periodic (alias ``'circular'``) or mirrored with the edge repeated (alias
        ``'symmetric'``). Wrap and symm repeat when ``in2`` is larger than ``in1``.
    fillvalue : scalar, optional
        Used with ``boundary='fill'`` only; converted to the output dtype first
        (so ``1.5`` becomes 1 for integer inputs), and refused as SciPy refuses
        it (complex values for real outputs, integers out of range, NaN for integer
        outputs); complex values are used as they are for complex outputs.
    method : {'auto', 'direct', 'fft'}, optional
        ``'direct'`` sums the products in a kernel: SciPy's values to rounding, with NaN
        and Inf exactly where SciPy has them. ``'fft'`` correlates tile by tile with
        ``scipy.fft`` (overlap-save), much faster for large kernels: within about
        1e-10 (float64, complex128) or 1e-4 (float32, complex64) of SciPy relative to the
        largest partial sum, but a NaN or Inf spreads over the tiles it falls in, and
        integer results are rounded to the nearest integer first. ``'auto'`` takes the
        FFT path where a cost model of the shapes and dtype estimates it faster (never
        for integer results, nor on CUDA devices, where 'fft' is refused); the choice
        depends only on the shapes and dtypes, never on the data or the thread count.

    Returns
    -------
    out : ndarray or numba device array, shape as given by ``mode``
        On the inputs' device. Dtype ``np.result_type(in1, in2)``, as in SciPy:
        float32 only when that is the promoted type (float32 with float32 or a small
        integer), complex64/complex128 when an input is complex, integer for integer
        inputs, float64 otherwise.

    Raises
    ------
    ValueError
        Where SciPy raises ValueError: inputs not 2-D, unknown ``mode`` or
        ``boundary``, ``'valid'`` with neither input the larger, bad ``fillvalue``,
        bool or float16 result dtype, object or string arrays, unknown ``method``
        or ``method='fft'`` with device arrays. Also for an empty
        ``in1`` with boundary wrap/symm and a non-empty result, where SciPy
        crashes the interpreter (division by zero).
    TypeError
        For long double and complex long double (SciPy accepts them; numbaconv
        has no kernel for them) and other unsupported dtypes, for unhashable
        ``mode`` / ``boundary`` values (as SciPy), for device arrays that are not
        float32, float64, complex64 or complex128, for a device-array
        ``fillvalue``, and for a host array mixed with a device array.
    RuntimeError
        Device arrays given but CUDA is not usable (the message says what is missing).

    Notes
    -----
    Float32, complex64 and complex128 results are computed in their own dtype;
    everything else in float64. Integer
    results are computed in float64 and cast to the integer dtype with
    wrap-around like SciPy's integer arithmetic: exact while every product and
    partial sum stays below 2**53 in magnitude. NaN and Inf propagate as in SciPy
    (all products are formed, so ``0 * inf`` gives NaN). Summation order differs
    from SciPy's, so float results agree to rounding, not bit for bit.
    """
    return _correlate_or_convolve(
        "correlate2d", in1, in2, mode, boundary, fillvalue, method, flip=False
    )


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, method="auto"):
    """Convolve two 2-D arrays, as :func:`scipy.signal.convolve2d`.

    ``convolve2d(in1, in2)`` is the correlation of ``in1`` with ``in2`` reversed
    on both axes; in ``'same'`` mode an even-sized ``in2`` is centred as SciPy
    centres it (window start ``-(H2 // 2)``, not ``-((H2 - 1) // 2)``). In
    ``'valid'`` mode the larger input is used as the image (convolution is
    commutative there). Nothing is conjugated.

    Parameters
    ----------
    in1 : array_like or CUDA device array, shape (H1, W1), real or complex numeric
        First input.
    in2 : array_like or CUDA device array, shape (H2, W2), real or complex numeric
        Second input.
    mode : {'full', 'valid', 'same'}, optional
        Output size, as in :func:`correlate2d`.
    boundary : {'fill', 'wrap', 'symm'}, optional
        Boundary rule and aliases, as in :func:`correlate2d`.
    fillvalue : scalar, optional
        Used with ``boundary='fill'`` only, as in :func:`correlate2d`.
    method : {'auto', 'direct', 'fft'}, optional
        Direct sums or FFT, as in :func:`correlate2d`.

    Returns
    -------
    out : ndarray or numba device array, shape as given by ``mode``
        On the inputs' device; dtype ``np.result_type(in1, in2)``.

    Raises
    ------
    ValueError, TypeError
        As :func:`correlate2d`.

    Notes
    -----
    Dtype handling, precision and NaN/Inf behaviour are those of :func:`correlate2d`.
    """
    return _correlate_or_convolve(
        "convolve2d", in1, in2, mode, boundary, fillvalue, method, flip=True
    )


def _correlate_or_convolve(name, in1, in2, mode, boundary, fillvalue, method, flip):
    backend = _backend.select(name, in1=in1, in2=in2)
    if _backend.is_device_array(fillvalue):
        raise TypeError(
            f"fillvalue must be a host scalar, got {_describe(fillvalue)}; copy it to the "
            "host with numbaconv.to_host(...) first"
        )
    # The checks run in SciPy's order so that a call with several faults fails the same way.
    in1 = _as_array("in1", in1)
    in2 = _as_array("in2", in2)
    if in1.ndim != 2 or in2.ndim != 2:
        raise ValueError(
            f"{name} inputs must both be 2-D arrays; got in1 with shape {in1.shape} "
            f"and in2 with shape {in2.shape}"
        )
    swapped = _valid_swap_needed(mode, in1.shape, in2.shape)
    # Messages name the arrays as the caller passed them, whatever the swap did.
    name1, name2 = ("in2", "in1") if swapped else ("in1", "in2")
    if swapped:
        in1, in2 = in2, in1
    _check_mode(mode)
    boundary_code = _boundary_code(boundary)
    if not flip and in2.dtype.kind in "Mm":  # SciPy's in2.conj() refuses these
        raise TypeError(f"{name2} has dtype {in2.dtype}, which cannot be conjugated; {_EXPECTED}")
    _check_dtype(name1, in1)
    _check_dtype(name2, in2)
    try:
        out_dtype = np.result_type(in1.dtype, in2.dtype)
    except TypeError:  # no common dtype: NumPy's C type resolution falls back to object
        out_dtype = np.dtype(object)
    fill = _fill_value(fillvalue, out_dtype) if boundary_code == BOUNDARY_FILL else 0
    out_shape = _output_shape(mode, in1.shape, in2.shape)
    if out_dtype.kind in _UNAVAILABLE_KINDS or out_dtype == np.float16:
        raise ValueError(
            f"{name} not available for this type: {name1} has dtype {in1.dtype} and "
            f"{name2} has dtype {in2.dtype}, whose result dtype {out_dtype} SciPy has no loop for; "
            "expected a result dtype that is an integer, float32, float64, complex64 or complex128"
        )
    if boundary_code != BOUNDARY_FILL and in1.size == 0 and in2.size > 0:
        if out_shape[0] * out_shape[1] > 0:
            raise ValueError(
                f"{name1} is empty (shape {in1.shape}) but "
                f"boundary={boundary!r} needs image values to extend; expected a non-empty "
                "image or boundary='fill' (SciPy crashes here)"
            )
    use_fft = _use_fft(method, backend, out_shape, in2.shape, out_dtype)
    geometry = (mode, boundary_code, fill, out_shape, out_dtype, flip)
    out = _compute(backend, in1, in2, *geometry, use_fft)
    return _cast_result(backend, out, out_dtype, swapped and not flip)


def _compute(backend, in1, in2, mode, boundary_code, fill, out_shape, out_dtype, flip, use_fft):
    """The correlation in the compute dtype (``out_dtype`` if the kernels have it, else
    float64); not yet reversed for a 'valid' swap nor cast to an integer ``out_dtype``."""
    compute_dtype = out_dtype if out_dtype in _KERNEL_DTYPES else np.dtype(np.float64)
    if out_shape[0] * out_shape[1] == 0 or in2.size == 0:
        return backend.zeros(out_shape, compute_dtype)  # an empty sum
    kernel = in2[::-1, ::-1] if flip else in2
    kernel = backend.contiguous(kernel, compute_dtype)
    image = backend.contiguous(in1, compute_dtype)
    row_start, col_start = _window_origin(mode, kernel.shape, flip)
    # SciPy correlates with in2.conj(); a convolution conjugates nothing.
    conjugate = not flip and compute_dtype.kind == "c"
    if use_fft:
        out = _correlate_fft.correlate(
            image, kernel, row_start, col_start, boundary_code, fill, conjugate, out_shape
        )
        # Integer results: the nearest integer, as scipy.signal.correlate(method='fft').
        return np.rint(out) if out_dtype.kind in "iu" else out
    out = backend.empty(out_shape, compute_dtype)
    backend.kernels.correlate.correlate2d_boundary(
        image, kernel, row_start, col_start, boundary_code, fill, conjugate, out
    )
    return out


def _correlate_into(image, kernel, row_start, col_start, boundary_code, fill, out):
    """The direct CPU kernel's rows for one window origin, written into ``out``.

    For :mod:`numbaconv.dask`, which computes one whole-plane call piece by piece: ``image``
    (2-D NumPy) and ``kernel`` are made C-contiguous in ``out.dtype`` (one of the kernel
    dtypes) as :func:`correlate2d` makes them, and a complex kernel is conjugated as there,
    so a piece equals the same rows of the whole call bit for bit. No validation.
    """
    compute_dtype = out.dtype
    _backend.CPU.kernels.correlate.correlate2d_boundary(
        _backend.CPU.contiguous(image, compute_dtype),
        _backend.CPU.contiguous(kernel, compute_dtype),
        row_start,
        col_start,
        boundary_code,
        fill,
        compute_dtype.kind == "c",
        out,
    )


def _use_fft(method, backend, out_shape, kernel_shape, out_dtype):
    if not (isinstance(method, str) and method in _METHODS):
        error = ValueError if _hashable(method) else TypeError
        raise error(
            f"Acceptable method flags are 'auto', 'direct', or 'fft': got method="
            f"{_describe(method)}"
        )
    if backend.name != "cpu":
        if method == "fft":
            raise ValueError(
                "method='fft' runs on the host only; got CUDA device arrays; expected "
                "method='direct' or 'auto' (which computes on the device directly)"
            )
        return False
    if method == "auto":
        return _correlate_fft.prefer_fft(out_shape, kernel_shape, out_dtype)
    return method == "fft"


def _as_array(name, value):
    if _backend.is_device_array(value):
        arr = _backend.as_device_array(value)  # no host copy
        if arr.dtype not in _KERNEL_DTYPES:
            raise TypeError(
                f"{name} is a CUDA device array of dtype {arr.dtype}; device arrays must be "
                "float32, float64, complex64 or complex128; cast it first"
            )
        return arr
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nesting and the like, as SciPy raises
        raise type(exc)(f"{name} must be array-like, got {_describe(value)}: {exc}") from exc


def _valid_swap_needed(mode, shape1, shape2):
    """SciPy's ``_inputs_swap_needed``: in 'valid' mode the larger input goes first."""
    if not (isinstance(mode, str) and mode == "valid"):
        return False
    first_larger = all(a >= b for a, b in zip(shape1, shape2, strict=True))
    second_larger = all(b >= a for a, b in zip(shape1, shape2, strict=True))
    if not (first_larger or second_larger):
        raise ValueError(
            "For 'valid' mode, one must be at least as large as the other in every "
            f"dimension: got in1 with shape {shape1} and in2 with shape {shape2}"
        )
    return not first_larger


def _check_mode(mode):
    if isinstance(mode, str) and mode in _MODES:
        return
    # SciPy looks mode up in a dict, so an unhashable value is a TypeError there.
    error = ValueError if _hashable(mode) else TypeError
    raise error(f"mode must be one of {_MODES}, got {_describe(mode)}")


def _boundary_code(boundary):
    if isinstance(boundary, str) and boundary in _BOUNDARIES:
        return _BOUNDARIES[boundary]
    error = TypeError if not _hashable(boundary) else ValueError
    note = ""
    if isinstance(boundary, str) and boundary == "reflect":
        note = " ('reflect' is in SciPy's table but its C code refuses it)"
    raise error(f"boundary must be one of {_BOUNDARY_NAMES}, got {_describe(boundary)}{note}")


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


_EXPECTED = "expected a numeric array (integer, float32, float64, complex64 or complex128)"


def _check_dtype(name, arr):
    dtype = arr.dtype
    if dtype.kind in "US":  # SciPy: "data type must provide an itemsize"
        raise ValueError(f"{name} has dtype {dtype}; {_EXPECTED}")
    if dtype.kind in "biufOMm" and dtype != np.longdouble:
        return
    if dtype.kind == "c" and dtype != np.clongdouble:
        return
    if dtype in (np.longdouble, np.clongdouble):
        why = "there is no long double kernel (SciPy has one)"
    else:
        why = "unsupported dtype"
    raise TypeError(f"{name} has dtype {dtype}: {why}; {_EXPECTED}")


def _fill_value(fillvalue, out_dtype):
    """``fillvalue`` as SciPy's C code converts it (``PyArray_FromObject``): Python and
    NumPy scalars and lists are cast like ``np.array(value, dtype)``, arrays only by a
    safe cast; if that fails SciPy retries through complex and refuses the result."""
    if isinstance(fillvalue, np.ndarray):
        if np.can_cast(fillvalue.dtype, out_dtype, "safe"):
            fill = fillvalue.astype(out_dtype)
        elif np.can_cast(fillvalue.dtype, np.complex128, "safe"):
            raise ValueError(
                f"could not cast `fillvalue` directly to the output type {out_dtype}: got "
                f"{_describe(fillvalue)}, which does not cast safely; expected an array "
                f"whose dtype casts safely to {out_dtype}"
            )
        else:
            raise TypeError(
                f"fillvalue has dtype {fillvalue.dtype}, which casts safely neither to "
                f"{out_dtype} nor to complex; expected a numeric scalar"
            )
    else:
        fill = _convert_fill_scalar(fillvalue, out_dtype)
    if fill.size != 1:
        what = "an empty array" if fill.size == 0 else f"{fill.size} elements"
        # SciPy's own words first: its tests match on them.
        raise ValueError(
            f"`fillvalue` must be scalar or an array with one element; got {what} "
            f"({_describe(fillvalue)})"
        )
    return fill.reshape(()).item()


def _convert_fill_scalar(fillvalue, out_dtype):
    try:
        return np.array(fillvalue, dtype=out_dtype)
    except Exception:
        # SciPy retries through complex and lets that conversion's error escape.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                np.array(fillvalue, dtype=np.complex128)
            except Exception as exc:
                raise type(exc)(
                    f"fillvalue could not be converted to {out_dtype} or to complex: "
                    f"got {_describe(fillvalue)} ({exc}); expected a numeric scalar"
                ) from exc
        raise ValueError(
            f"could not cast `fillvalue` directly to the output type {out_dtype}: got "
            f"{_describe(fillvalue)}; expected a scalar representable in {out_dtype}"
        ) from None


def _output_shape(mode, shape1, shape2):
    if mode == "full":
        shape = (shape1[0] + shape2[0] - 1, shape1[1] + shape2[1] - 1)
    elif mode == "same":
        shape = tuple(shape1)
    else:
        shape = (shape1[0] - shape2[0] + 1, shape1[1] - shape2[1] + 1)
    if min(shape) < 0:
        raise ValueError(
            f"negative dimensions are not allowed: mode={mode!r} with inputs of shapes "
            f"{tuple(shape1)} and {tuple(shape2)} gives output shape {shape}; expected "
            "at most one input with a zero-length axis"
        )
    return shape


def _window_origin(mode, kernel_shape, flip):
    """Image coordinates of the first output's window, given the (already flipped) kernel."""
    if mode == "valid":
        return 0, 0
    if mode == "full":
        return tuple(1 - k for k in kernel_shape)
    # SciPy centres 'same' windows at (k-1)//2 for correlation; convolving with the
    # reversed kernel moves an even kernel's window one further up/left.
    return tuple(-(k // 2) if flip else -((k - 1) // 2) for k in kernel_shape)


def _cast_result(backend, out, out_dtype, reverse):
    if reverse:
        out = backend.contiguous(out[::-1, ::-1], out.dtype)
    if out.dtype == out_dtype:
        return out
    if out_dtype == np.uint64:
        return out.astype(np.uint64)
    # Through int64 so that values beyond the target's range wrap as in SciPy's C loop.
    return out.astype(np.int64).astype(out_dtype, copy=False)
