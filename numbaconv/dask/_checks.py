"""Argument checks shared by :mod:`numbaconv.dask`: they run on the client, before any task."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from .. import _backend
from .._validate import describe


def require_dask_array(name, value):
    """``value`` must be a :class:`dask.array.Array`."""
    if not isinstance(value, da.Array):
        raise TypeError(
            f"{name} must be a dask array, got {describe(value)}; wrap a NumPy array with "
            "dask.array.from_array(...) or call numbaconv.ops directly"
        )


def host_array(name, value):
    """``value`` (kernel, weight, bias) as a NumPy array; a Dask collection or a CUDA device
    array is a TypeError (they are sent to every task whole, so they must be concrete)."""
    if dask.is_dask_collection(value):
        raise TypeError(
            f"{name} must be a NumPy array, got a dask collection ({type(value).__name__}); "
            f"compute it first ({name}.compute()): it is sent whole to every task"
        )
    if _backend.is_device_array(value):
        raise TypeError(
            f"{name} must be a NumPy array, got a CUDA device array; copy it to the host "
            "with numbaconv.to_host(...)"
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name} must be array-like, got {describe(value)}: {exc}") from exc
