"""Normalize: per-channel ``(x - mean) / std`` for every batch, as fastai's ``Normalize``.

With no statistics it estimates them from one training batch over axes (0, 2, 3), the std
unbiased plus 1e-7 (fastai's ``Normalize.setups``).
"""

from __future__ import annotations

import numpy as np

from .._validate import describe as _describe

__all__ = ["Normalize"]

_STD_EPSILON = 1e-7  # fastai's Normalize.setups adds this to the estimated std


class Normalize:
    """Per-channel ``(x - mean) / std`` applied to every batch, as fastai's ``Normalize``.

    Parameters
    ----------
    mean, std : float or sequence of float, optional
        Statistics per channel (a scalar applies to every channel), on the scale the batches
        have after the /255 step. Give both or neither. With neither, the first
        :class:`DataLoader` that receives this object estimates them from one of its batches
        (:meth:`setup`); :class:`DataLoaders` makes that the training loader, as fastai does.

    Attributes
    ----------
    mean, std : ndarray of float32, shape (1, C, 1, 1) or (1, 1, 1, 1), or None before setup.
    """

    def __init__(self, mean=None, std=None):
        if (mean is None) != (std is None):
            raise ValueError(
                f"give both mean and std or neither, got mean={_describe(mean)} and "
                f"std={_describe(std)}"
            )
        self.mean = None if mean is None else self._statistic("mean", mean)
        self.std = None if std is None else self._statistic("std", std)
        if self.std is not None and not np.all(self.std > 0):
            raise ValueError(f"std must be > 0 for every channel, got {_describe(std)}")
        if self.mean is not None and self.mean.shape != self.std.shape:
            if 1 not in (self.mean.shape[1], self.std.shape[1]):
                raise ValueError(
                    f"mean has {self.mean.shape[1]} channels but std has {self.std.shape[1]}"
                )

    @staticmethod
    def _statistic(name: str, value) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must be a number or a sequence of numbers, got {_describe(value)}"
            ) from exc
        if arr.ndim > 1 or arr.size == 0:
            raise ValueError(
                f"{name} must be a number or a 1-D sequence with one value per channel, got "
                f"{_describe(value)}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got {_describe(value)}")
        return arr.astype(np.float32).reshape(1, -1, 1, 1)

    @property
    def is_setup(self) -> bool:
        """Whether the statistics are known (given, or estimated by :meth:`setup`)."""
        return self.mean is not None

    def setup(self, batch: np.ndarray) -> None:
        """Estimate mean and std from one float batch of shape (B, C, H, W), if not known yet.

        ``mean = batch.mean((0, 2, 3))`` and ``std = batch.std((0, 2, 3), ddof=1) + 1e-7``
        (torch's ``std`` is unbiased), computed in float64 and stored as float32.
        """
        if self.is_setup:
            return
        batch = np.asarray(batch)
        if batch.ndim != 4:
            raise ValueError(f"batch must have shape (B, C, H, W), got {_describe(batch)}")
        count = batch.shape[0] * batch.shape[2] * batch.shape[3]
        if count < 2:
            raise ValueError(
                f"cannot estimate a std per channel from a batch of shape {batch.shape}: "
                "it needs at least 2 values per channel"
            )
        values = batch.astype(np.float64)
        mean = values.mean(axis=(0, 2, 3), keepdims=True)
        std = values.std(axis=(0, 2, 3), keepdims=True, ddof=1) + _STD_EPSILON
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)

    def _check_ready(self, x: np.ndarray) -> None:
        if not self.is_setup:
            raise RuntimeError(
                "Normalize has no statistics yet: give mean and std, or pass it to a DataLoader "
                "(which estimates them from one batch)"
            )
        channels = max(self.mean.shape[1], self.std.shape[1])
        if x.ndim != 4 or channels not in (1, x.shape[1]):
            raise ValueError(
                f"Normalize holds statistics for {channels} channel(s) and cannot apply to "
                f"{_describe(x)}; expected shape (B, {channels}, H, W)"
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` in float32 for a (B, C, H, W) batch."""
        x = np.asarray(x, dtype=np.float32)
        self._check_ready(x)
        return (x - self.mean) / self.std

    def decode(self, x: np.ndarray) -> np.ndarray:
        """``x * std + mean``: undo :meth:`__call__` (for showing normalised batches)."""
        x = np.asarray(x, dtype=np.float32)
        self._check_ready(x)
        return x * self.std + self.mean

    def __repr__(self) -> str:
        if not self.is_setup:
            return "Normalize(mean=None, std=None)"
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"
