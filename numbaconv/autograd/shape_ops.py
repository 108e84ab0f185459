"""Differentiable operations that move values around: reshape, permute, index, stack, cat, cast."""

from __future__ import annotations

import numpy as np

from .._backend import xp as _xp
from .._backend.xp import asarray, namespace
from .function import Function


def _host_only(what: str, *arrays) -> None:
    if any(_xp.is_device(a) for a in arrays):
        raise TypeError(
            f"{what} is not supported on CUDA tensors; move them to the host with .cpu() first"
        )


class Reshape(Function):
    def forward(self, a, *, shape):
        a = asarray(a)
        self.in_shape = tuple(a.shape)
        return namespace(a).reshape(a, shape)

    def backward(self, grad):
        return namespace(grad).reshape(grad, self.in_shape)


class Permute(Function):
    def forward(self, a, *, axes):
        self.axes = tuple(axes)
        return namespace(a).transpose(a, self.axes)

    def backward(self, grad):
        return namespace(grad).transpose(grad, tuple(int(i) for i in np.argsort(self.axes)))


def _is_basic_key(key) -> bool:
    """True when ``key`` selects each element at most once (no integer or bool arrays)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(
        item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))
        for item in items
    )


class Index(Function):
    """``a[key]``; the backward scatters with ``np.add.at`` so repeated indices add up."""

    def forward(self, a, *, key):
        if _xp.is_device(a):
            return self._device_forward(a, key)
        a = np.asarray(a)
        self.in_shape, self.in_dtype, self.key = a.shape, a.dtype, key
        return a[key]

    def backward(self, grad):
        out = np.zeros(self.in_shape, dtype=np.result_type(self.in_dtype, grad))
        if _is_basic_key(self.key):
            out[self.key] = grad
        else:
            np.add.at(out, self.key, grad)
        return out

    def _device_forward(self, a, key):
        # Basic indexing (ints and slices) gives a view of a numba device array; its backward
        # would need a strided scatter kernel, so indexing records no graph on the device.
        if self.needs_input_grad[0]:
            raise TypeError(
                "indexing a CUDA tensor that requires grad is not supported; index a detached "
                "tensor, or move it to the host with .cpu() first"
            )
        if not _is_basic_key(key) or any(
            item is None or item is Ellipsis for item in (key if isinstance(key, tuple) else (key,))
        ):
            raise TypeError(f"CUDA tensors support indexing with ints and slices only, got {key!r}")
        return _xp.copy(asarray(a)[key])


class Stack(Function):
    def forward(self, *arrays, axis=0):
        _host_only("stack", *arrays)
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, grad):
        n = grad.shape[self.axis]
        return tuple(
            np.take(grad, i, axis=self.axis) if needed else None
            for i, needed in zip(range(n), self.needs_input_grad, strict=True)
        )


class Cat(Function):
    def forward(self, *arrays, axis=0):
        _host_only("cat", *arrays)
        self.axis = axis
        self.sizes = [np.shape(a)[axis] for a in arrays]
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad):
        bounds = np.cumsum(self.sizes)[:-1]
        pieces = np.split(grad, bounds, axis=self.axis)
        return tuple(
            piece if needed else None
            for piece, needed in zip(pieces, self.needs_input_grad, strict=True)
        )


class Cast(Function):
    """Change the floating dtype; the gradient goes back in the input's dtype."""

    def forward(self, a, *, dtype):
        a = asarray(a)
        self.in_dtype = a.dtype
        return _xp.astype(a, dtype)

    def backward(self, grad):
        return _xp.astype(grad, self.in_dtype)


class Clone(Function):
    def forward(self, a):
        return np.array(a, copy=True) if not _xp.is_device(a) else _xp.copy(a)

    def backward(self, grad):
        return grad


class ToDevice(Function):
    """A copy to ``device`` ("cpu" or "cuda"); the gradient is copied back to where the input
    lives."""

    def forward(self, a, *, device):
        from .. import _backend

        self.from_device = _xp.is_device(a)
        return _xp.to_device(a) if device == "cuda" else _backend.to_host(a)

    def backward(self, grad):
        from .. import _backend

        return _xp.to_device(grad) if self.from_device else _backend.to_host(grad)
