"""The shape methods of :class:`~numbaconv.autograd.Tensor` (reshape, permute, indexing, ...),
a mixin so that ``tensor.py`` keeps the data, gradient and arithmetic."""

from __future__ import annotations

import numpy as np

from . import shape_ops
from .math_ops import normalize_axis


def _unwrap_key(key, tensor_type):
    if isinstance(key, tensor_type):
        return key.data
    if isinstance(key, tuple):
        return tuple(_unwrap_key(item, tensor_type) for item in key)
    if isinstance(key, list):
        return np.asarray([k.data if isinstance(k, tensor_type) else k for k in key])
    return key


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


class ShapeMethods:
    """Differentiable shape changes; each returns a new Tensor."""

    def reshape(self, *shape):
        """Same values in a new shape (one axis may be -1)."""
        return shape_ops.Reshape.apply(self, shape=_shape_args(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """Merge axes ``start_dim`` .. ``end_dim`` (inclusive) into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start = normalize_axis((start_dim,), self.ndim, "start_dim")[0]
        end = normalize_axis((end_dim,), self.ndim, "end_dim")[0]
        if start > end:
            raise ValueError(
                f"start_dim={start_dim} comes after end_dim={end_dim} for shape {self.shape}"
            )
        merged = int(np.prod(self.shape[start : end + 1]))
        return self.reshape((*self.shape[:start], merged, *self.shape[end + 1 :]))

    def permute(self, *dims):
        """Reorder the axes."""
        dims = _shape_args(dims)
        if sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)):
            raise ValueError(f"dims={dims} is not a permutation of the {self.ndim} axes")
        return shape_ops.Permute.apply(self, axes=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int, dim1: int):
        """Swap two axes."""
        d0 = normalize_axis((dim0,), self.ndim, "dim0")[0]
        d1 = normalize_axis((dim1,), self.ndim, "dim1")[0]
        axes = list(range(self.ndim))
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return shape_ops.Permute.apply(self, axes=tuple(axes))

    @property
    def T(self):
        return shape_ops.Permute.apply(self, axes=tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int):
        """Insert an axis of length 1 at ``dim`` (negative counts from the new end)."""
        dim = normalize_axis((dim,), self.ndim + 1, "dim")[0]
        return self.reshape((*self.shape[:dim], 1, *self.shape[dim:]))

    def squeeze(self, dim=None):
        """Remove axes of length 1 (all of them, or only ``dim`` when it has length 1)."""
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            axes = normalize_axis(dim, self.ndim, "dim")
            shape = tuple(n for i, n in enumerate(self.shape) if not (i in axes and n == 1))
        return self.reshape(shape)

    def __getitem__(self, key):
        return shape_ops.Index.apply(self, key=_unwrap_key(key, type(self)))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
