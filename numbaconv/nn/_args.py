"""Argument helpers shared by the autograd-aware operations (``nn.functional`` and friends)."""

from __future__ import annotations

import numbers

import numpy as np

from .._backend import xp as _xp
from ..autograd import Tensor
from ..autograd.math_ops import normalize_axis


def _tensor(name: str, value) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if _xp.is_device(value) or isinstance(
        value, (np.ndarray, np.generic, numbers.Number, list, tuple)
    ):
        return Tensor(value)
    raise TypeError(f"{name} must be a Tensor or array, got {type(value).__name__}")


def _data(value):
    return value.data if isinstance(value, Tensor) else value


def _dim(name: str, dim, ndim: int) -> int:
    return normalize_axis((dim,), ndim, name)[0]
