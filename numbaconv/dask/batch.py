"""Batch operations on Dask arrays chunked along the batch: ``conv2d``, pooling, ``predict``.

Every sample is independent, so each block of the batch is one call of the
:mod:`numbaconv.ops` function (``map_blocks``); the channel and spatial axes are rechunked
whole. Validation runs first on the client, by calling the same function on an empty batch
of the right shape and dtype, which also gives the output's shape and dtype. Weights and
models go into the graph once (:func:`_shared`), not into each task.
"""

from __future__ import annotations

import os

import dask
import numpy as np

from .. import ops
from .._batch_predict import probabilities
from .._validate import describe, integer
from ._checks import host_array, require_dask_array


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of a Dask batch, as :func:`numbaconv.ops.conv2d`.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, H, W)
        Chunked along the batch; the C, H and W axes are rechunked whole (one chunk each).
    weight : array_like (NumPy), shape (O, C // groups, KH, KW)
    bias : array_like (NumPy), shape (O,), optional
    stride, padding, dilation, groups
        As :func:`numbaconv.ops.conv2d`.

    Returns
    -------
    dask.array.Array, shape (N, O, OH, OW)
        Lazy, with ``x``'s batch chunks; dtype as :func:`numbaconv.ops.conv2d` gives. Each
        block equals ``ops.conv2d`` on that block.

    Raises
    ------
    TypeError, ValueError
        As :func:`numbaconv.ops.conv2d`, and a TypeError for an ``x`` that is not a Dask array
        or a ``weight``/``bias`` that is one; all before any task runs.
    """
    weight = host_array("weight", weight)
    bias = None if bias is None else host_array("bias", bias)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return _per_batch(x, ops.conv2d, (weight, bias), options)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """2-D max pooling of a Dask batch, as :func:`numbaconv.ops.max_pool2d`.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, H, W)
        Chunked along the batch; C, H and W are rechunked whole.
    kernel_size, stride, padding, dilation, ceil_mode
        As :func:`numbaconv.ops.max_pool2d` (``return_indices`` is not offered).

    Returns
    -------
    dask.array.Array, shape (N, C, OH, OW), ``x``'s batch chunks.

    Raises
    ------
    TypeError, ValueError
        As :func:`numbaconv.ops.max_pool2d`, before any task runs.
    """
    return _per_batch(x, ops.max_pool2d, (), _options(locals()))


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """2-D average pooling of a Dask batch, as :func:`numbaconv.ops.avg_pool2d`.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, H, W)
        Chunked along the batch; C, H and W are rechunked whole.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As :func:`numbaconv.ops.avg_pool2d`.

    Returns
    -------
    dask.array.Array, shape (N, C, OH, OW), ``x``'s batch chunks.

    Raises
    ------
    TypeError, ValueError
        As :func:`numbaconv.ops.avg_pool2d`, before any task runs.
    """
    return _per_batch(x, ops.avg_pool2d, (), _options(locals()))


def _options(arguments):
    """A pooling call's keyword arguments: all but ``x``."""
    return {name: value for name, value in arguments.items() if name != "x"}


def _per_batch(x, function, arrays, options):
    require_dask_array("x", x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got a dask array of shape {x.shape}")
    # The op itself validates everything on an empty batch and tells the output's shape.
    meta = function(np.empty((0, *x.shape[1:]), x.dtype), *arrays, **options)
    x = x.rechunk({1: -1, 2: -1, 3: -1})
    return x.map_blocks(
        _apply,
        chunks=(x.chunks[0], *((size,) for size in meta.shape[1:])),
        dtype=meta.dtype,
        meta=meta,
        function=function,
        arrays=_shared(arrays) if arrays else (),
        options=options,
    )


def _apply(block, function, arrays, options):
    return function(block, *arrays, **options)


def _shared(value):
    """``value`` as one graph entry that tasks depend on, rather than a copy in each task.

    With a ``dask.distributed`` client active it is scattered to every worker at once
    (``broadcast=True``): each worker receives and unpickles it once, and every task on that
    worker uses that copy. Otherwise it is one ``dask.delayed`` key of the graph.
    """
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):  # no distributed, or no client
        return dask.delayed(value, pure=False)
    # In a list, so that a tuple or dict is scattered as one value, not item by item.
    return client.scatter([value], broadcast=True, hash=False)[0]


def predict(model, images, batch_size=256, normalize=None):
    """Class indices and probabilities of a trained model over a Dask batch of images.

    Parameters
    ----------
    model : Module, or str / os.PathLike
        A module (put in eval mode), or a model file written by ``numbaconv train --save``,
        whose Normalize statistics are then used.
    images : dask.array.Array, shape (N, H, W) or (N, C, H, W)
        uint8 pixels (divided by 255) or float32/float64 values used as they are, chunked
        along the batch (the other axes are rechunked whole).
    batch_size : int, default 256
        Images per forward pass inside each task (bounds a worker's memory).
    normalize : Normalize, optional
        Applied after the /255 step; by default the model file's, or none for a module.

    Returns
    -------
    classes : dask.array.Array of int64, shape (N,)
        ``argmax`` of the probabilities.
    probabilities : dask.array.Array of float32, shape (N, K)
        Softmax of the model's outputs, with ``images``' batch chunks.

    Raises
    ------
    TypeError
        ``images`` not a Dask array, or of another dtype; ``model`` neither a module nor a
        path; ``batch_size`` not an integer.
    ValueError
        ``images`` of another rank, a model file that cannot be read, ``batch_size`` < 1, or
        images the model cannot take (one zero image is run through the model on the client
        first, which also finds K), all before any task runs.

    Notes
    -----
    The model goes to each worker once: with a ``dask.distributed`` client it is scattered
    to every worker with ``broadcast=True``; tasks reference it, they do not carry it.
    """
    require_dask_array("images", images)
    batch_size = integer("batch_size", batch_size, minimum=1)
    model, normalize = _model_and_normalize(model, normalize)
    if images.ndim not in (3, 4) or images.dtype not in (np.uint8, np.float32, np.float64):
        raise (TypeError if images.ndim in (3, 4) else ValueError)(
            "images must be a dask array of shape (N, H, W) or (N, C, H, W) holding uint8, "
            f"float32 or float64 values, got shape {images.shape} and dtype {images.dtype}"
        )
    if any(np.isnan(s) for s in images.shape[1:]):
        raise ValueError(f"images has unknown image shape {images.shape[1:]}")
    probe = probabilities(model, np.zeros((1, *images.shape[1:]), images.dtype), normalize)
    classes = probe.shape[1]
    images = images.rechunk({axis: -1 for axis in range(1, images.ndim)})
    probs = images.map_blocks(
        _predict_block,
        drop_axis=list(range(2, images.ndim)),
        chunks=(images.chunks[0], (classes,)),
        dtype=np.float32,
        meta=np.empty((0, 0), np.float32),
        model=_shared(model),
        normalize=normalize,
        batch_size=batch_size,
    )
    return probs.argmax(axis=1).astype(np.int64), probs


def _predict_block(block, model, normalize, batch_size):
    return probabilities(model, block, normalize, batch_size)


def _model_and_normalize(model, normalize):
    from ..nn import Module

    if isinstance(model, Module):
        return model, normalize
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model must be a numbaconv Module or the path of a model file, got {describe(model)}"
        )
    # A model file is the command line's format; its reader lives there.
    from ..cli.common import CommandError
    from ..cli.model_file import load_model

    try:
        saved = load_model(model)
    except CommandError as exc:
        raise ValueError(str(exc)) from None
    return saved.model, normalize if normalize is not None else saved.normalize
