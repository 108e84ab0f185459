"""Metrics and the running averages the Learner reports, with fastai's semantics.

:func:`accuracy` is a plain function of predictions and targets. The ``Avg*`` classes
accumulate a value over the batches of an epoch from the Learner's current state
(``learn.pred``, ``learn.yb`` — a tuple of targets, as in fastai — and ``learn.loss``):

- :class:`AvgMetric` wraps a metric function: a sample-weighted mean over the
  validation set (``sum(value·bs) / sum(bs)``), so an uneven last batch counts only
  as much as its size.
- :class:`AvgLoss`: the sample-weighted mean of the per-batch (mean) loss.
- :class:`AvgSmoothLoss`: the debiased exponential moving average of the training
  loss that fastai reports as ``train_loss``.

On CUDA, :func:`accuracy` and the ``Avg*`` means (but the smoothed loss, which is reported
every step) stay on the device: the batch values are summed there and copied to the host once,
when ``value`` is read at the end of the epoch. The smoothed loss reuses the loss the
non-finite guard has read for the step, so a training step copies one scalar.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["AvgLoss", "AvgMetric", "AvgSmoothLoss", "Metric", "accuracy"]


def _loss_value(learn) -> float:
    """``float(learn.loss)``, reusing the number the non-finite guard already read for this
    batch (``learn._loss_read``: the loss Tensor and its value), so that a CUDA training step
    copies one scalar to the host, not two."""
    read = getattr(learn, "_loss_read", None)
    if read is not None and read[0] is learn.loss:
        return read[1]
    return float(learn.loss)


def _as_array(name: str, value) -> np.ndarray:
    # numbaconv Tensors (and anything else with a NumPy view) expose .numpy()
    if not isinstance(value, np.ndarray) and callable(getattr(value, "numpy", None)):
        value = value.numpy()
    return np.asarray(value)


def _on_device(value):
    """``value`` as a Tensor when its data lives on a CUDA device, else None."""
    from . import _backend
    from .autograd import Tensor

    data = value.data if isinstance(value, Tensor) else value
    if not _backend.is_device_array(data):
        return None
    return value if isinstance(value, Tensor) else Tensor(data)


def _device_accuracy(scores, targ, axis):
    """:func:`accuracy` of a device Tensor, as a 0-d float64 device Tensor (no copy to the
    host; host targets are copied to the device)."""
    from .autograd import Tensor

    target = _on_device(targ)
    if target is None:
        target = Tensor(_as_array("targ", targ)).to("cuda")
    predicted = scores.argmax(axis=axis)
    if predicted.shape != target.shape:
        raise ValueError(
            f"targ has shape {target.shape}; expected {predicted.shape} (inp's shape "
            f"{scores.shape} without axis {axis})"
        )
    if predicted.size == 0:
        return math.nan
    return (predicted == target).double().mean()


def accuracy(inp, targ, axis: int = -1) -> float:
    """Fraction of rows whose arg-max over ``axis`` equals the target class.

    fastai's ``accuracy``: ``(inp.argmax(axis) == targ).float().mean()``.

    Parameters
    ----------
    inp : Tensor or array_like, shape (N, C)
        Scores, logits or probabilities (any real dtype).
    targ : Tensor or array_like of int, shape (N,)
        Class indices.
    axis : int, default -1
        The class axis of ``inp``.

    Returns
    -------
    float or Tensor
        In [0, 1]; NaN for an empty batch (N = 0). For scores on a CUDA device, a 0-d float64
        Tensor on the device (read it with ``float()``), so that a validation loop copies
        nothing to the host per batch.

    Raises
    ------
    ValueError
        ``targ``'s shape differs from ``inp``'s shape without ``axis``.
    """
    on_device = _on_device(inp)
    if on_device is not None:
        return _device_accuracy(on_device, targ, axis)
    scores = _as_array("inp", inp)
    target = _as_array("targ", targ)
    if scores.ndim == 0:
        raise ValueError(f"inp must have a class axis, got a scalar {scores!r}")
    predicted = scores.argmax(axis=axis)
    if predicted.shape != target.shape:
        raise ValueError(
            f"targ has shape {target.shape}; expected {predicted.shape} (inp's shape "
            f"{scores.shape} without axis {axis})"
        )
    if predicted.size == 0:
        return math.nan
    return float(np.mean(predicted == target))


def _batch_size(learn) -> int:
    return len(learn.yb[0])


class Metric:
    """Base class: ``reset()`` before an epoch, ``accumulate(learn)`` after each batch,
    ``value`` at the end, ``name`` as the column title."""

    def reset(self) -> None:
        raise NotImplementedError

    def accumulate(self, learn) -> None:
        raise NotImplementedError

    @property
    def value(self):
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, value={self.value!r})"


class _WeightedMean(Metric):
    """Sample-weighted mean over an epoch of a per-batch mean, ``_batch_mean(learn)``."""

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def _batch_mean(self, learn) -> float:
        raise NotImplementedError

    def accumulate(self, learn) -> None:
        bs = _batch_size(learn)
        mean = self._batch_mean(learn)
        on_device = _on_device(mean)
        if on_device is None:
            self.total += float(mean) * bs
        else:
            # Summed on the device; ``value`` copies the total once.
            self.total = on_device.double() * bs + self.total
        self.count += bs

    @property
    def value(self):
        if not isinstance(self.total, float):
            self.total = float(self.total)
        return self.total / self.count if self.count else None


class AvgMetric(_WeightedMean):
    """Sample-weighted average of ``func(learn.pred, *learn.yb)`` over an epoch.

    Parameters
    ----------
    func : callable
        ``func(pred, targ) -> float`` (e.g. :func:`accuracy`), the mean over a batch.

    Attributes
    ----------
    value : float or None
        ``sum(func·bs) / sum(bs)``; None before any batch.
    name : str
        ``func.__name__`` (``"accuracy"``).
    """

    def __init__(self, func):
        if not callable(func):
            raise TypeError(f"func must be callable, got {func!r}")
        self.func = func
        self.reset()

    def _batch_mean(self, learn) -> float:
        return self.func(learn.pred, *learn.yb)

    @property
    def name(self) -> str:
        return getattr(self.func, "__name__", type(self.func).__name__)


class AvgLoss(_WeightedMean):
    """Sample-weighted average of the batch losses (``learn.loss``, a batch mean).

    Attributes
    ----------
    value : float or None
        ``sum(loss·bs) / sum(bs)``; None before any batch.
    """

    def __init__(self):
        self.reset()

    def _batch_mean(self, learn) -> float:
        return learn.loss

    @property
    def name(self) -> str:
        return "loss"


class AvgSmoothLoss(Metric):
    """Debiased exponential moving average of the training loss (fastai's ``train_loss``).

    After each batch ``val = beta·val + (1 − beta)·loss`` and ``count += 1``; the value is
    ``val / (1 − beta**count)``. The Recorder resets it once per ``fit``, not per epoch.

    Parameters
    ----------
    beta : float, default 0.98
        In [0, 1).
    """

    def __init__(self, beta: float = 0.98):
        if (
            isinstance(beta, bool)
            or not isinstance(beta, numbers.Real)
            or not 0.0 <= float(beta) < 1.0
        ):
            raise ValueError(f"beta must be a number in [0, 1), got {beta!r}")
        self.beta = float(beta)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.val = 0.0

    def accumulate(self, learn) -> None:
        self.count += 1
        # fastai: torch.lerp(loss, val, beta)
        self.val = self.beta * self.val + (1.0 - self.beta) * _loss_value(learn)

    @property
    def value(self):
        if self.count == 0:
            return None
        return self.val / (1.0 - self.beta**self.count)

    @property
    def name(self) -> str:
        return "loss"
