"""Guard rails the Learner installs by default: the non-finite guard and the collapse warning.

:class:`NonFiniteGuard` checks every training step before the optimizer uses it: the loss
and every gradient are folded into one scalar on the device they live on (one number
crosses to the host per step, on CUDA too), and a NaN or Inf raises
:class:`NonFiniteLossError` with the weights and batch-norm running statistics as they were
before that batch. :class:`CollapseCallback` warns (:class:`CollapseWarning`) when, after an
epoch, the model gives one class to almost every validation image although that class is a
minority there: chapter 13's T2/T3 failure. Both are ordinary callbacks:
``learn.remove_cb(CollapseCallback)`` removes one.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

from .._backend import CUDA, is_device_array, to_device, to_host
from ..autograd import Tensor, no_grad
from .core import Callback

__all__ = ["CollapseCallback", "CollapseWarning", "NonFiniteGuard", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """A training loss (or a gradient) was NaN or Inf; training stopped before using it.

    The model keeps the weights it had before the offending batch: the check runs before
    the optimizer step.

    Attributes
    ----------
    epoch : int
        0-based epoch, as in the epoch table.
    batch : int
        0-based index of the training batch within the epoch.
    value : float
        The loss value, or the first non-finite gradient element (NaN, inf or -inf).
    what : str
        ``"loss"`` or ``"gradient of <parameter name>"``.
    """

    def __init__(self, epoch: int, batch: int, value: float, what: str = "loss"):
        self.epoch, self.batch, self.value, self.what = epoch, batch, value, what
        super().__init__(
            f"non-finite training {what} ({value}) at epoch {epoch}, batch {batch} (both "
            "0-based); training stopped and the model keeps the weights from before this batch"
        )


def _copy(array):
    if isinstance(array, np.ndarray):
        return array.copy()
    with no_grad():
        return Tensor(array).clone().data


def _first_non_finite(array) -> float | None:
    values = np.asarray(Tensor(array).numpy())
    bad = values[~np.isfinite(values)]
    return float(bad.ravel()[0]) if bad.size else None


class NonFiniteGuard(Callback):
    """Refuses a training step whose loss or gradients hold a NaN or Inf (order −5).

    ``before_batch`` keeps a copy of every buffer (the batch-norm running statistics the
    forward pass updates, a few numbers per channel). ``before_step`` computes
    ``loss + Σ_p sum(grad_p)·0`` where the arrays live, which is finite exactly when the loss
    and every gradient are, and reads that one scalar. When it is not finite the gradients
    are cleared, the buffers put back and :class:`NonFiniteLossError` raised, naming the loss
    or the first parameter with a non-finite gradient.
    """

    order = -5
    run_valid = False

    def before_batch(self):
        self._backup = [
            (module._buffers, name, _copy(buf))
            for module in self.learn.model.modules()
            for name, buf in module._buffers.items()
            if buf is not None
        ]

    def before_step(self):
        learn = self.learn
        grads = [
            (p, p.grad) for g in learn.opt.param_groups for p in g["params"] if p.grad is not None
        ]
        # sum(g)·0 is 0 for finite g and NaN otherwise, and needs no array-sized temporary.
        if isinstance(learn.loss.data, np.ndarray):  # host arrays: plain NumPy, no Tensor ops
            total = float(learn.loss.data) + sum(float(grad.sum()) for _, grad in grads) * 0.0
        else:  # device arrays: reduce where they live, then read one number
            with no_grad():
                reduced = learn.loss
                for _, grad in grads:
                    reduced = reduced + Tensor(grad).sum() * 0.0
                total = reduced.item()
            if math.isfinite(total):
                # loss + 0·(finite sums) is the loss itself: the smoothed loss takes it from
                # here (metrics._loss_value) instead of copying the loss again.
                learn._loss_read = (learn.loss, total)
        if math.isfinite(total):
            return
        what, value = self._culprit(grads)
        if value is None:  # a float32 sum overflowed although every element is finite
            return
        learn.opt.zero_grad()
        for buffers, name, saved in self._backup:
            buffers[name] = saved
        raise NonFiniteLossError(learn.epoch, learn.iter, value, what)

    def _culprit(self, grads):
        value = _first_non_finite(self.learn.loss.data)
        if value is not None:
            return "loss", value
        names = getattr(self.learn, "_param_names", {})
        for param, grad in grads:
            value = _first_non_finite(grad)
            if value is not None:
                return f"gradient of {names.get(id(param), '?')!r}", value
        return "loss", None


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside numbaconv: the user's ``fit`` call."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("numbaconv."):
        frame, level = frame.f_back, level + 1
    return level


class CollapseWarning(UserWarning):
    """The model predicts one class for almost all of the validation set (a collapsed fit)."""


class CollapseCallback(Callback):
    """Warns once per fit when training has collapsed onto one class (order 65).

    After each epoch's validation: when one class receives at least ``share`` of the
    predictions (arg-max of the outputs) while it is less than ``minority`` of the targets,
    a :class:`CollapseWarning` goes through ``warnings`` and, when the fit ends, one line
    saying so is printed under the epoch table. On CUDA the class counts are summed on the
    device and copied to the host once per epoch.

    Parameters
    ----------
    share : float, default 0.95
    minority : float, default 0.5

    Attributes
    ----------
    message : str or None
        The warning of the last fit, if any.
    """

    order = 65  # after the ProgressCallback has printed the epoch's row
    run_train = False

    def __init__(self, share=0.95, minority=0.5):
        self.share, self.minority = float(share), float(minority)
        self.message = None
        self._predicted = self._targets = self._counts = self._constants = None

    def before_fit(self):
        self.message = None

    def before_epoch(self):
        self._predicted = self._targets = self._counts = None

    def before_validate(self):
        self._predicted = self._targets = self._counts = None

    def after_batch(self):
        learn = self.learn
        if not learn.yb or len(learn.yb[0]) == 0:
            return
        classes = learn.pred.shape[-1]
        if is_device_array(learn.pred.data):
            counts = self._device_counts(learn.pred, learn.yb[0], classes)
            self._counts = counts if self._counts is None else CUDA.xp.add(self._counts, counts)
            return
        with no_grad():
            predicted = np.asarray(learn.pred.argmax(axis=-1).numpy()).ravel()
        counts = np.bincount(predicted, minlength=classes)
        targets = np.bincount(to_host(learn.yb[0]).ravel(), minlength=classes)
        if self._predicted is None:
            self._predicted, self._targets = counts, targets
        else:
            self._predicted = self._predicted + counts
            self._targets = self._targets + targets

    def _device_counts(self, pred, target, classes):
        """Predicted and target class counts of one batch as a (2, classes) float64 device
        array (exact below 2**53), summed where the outputs live: the epoch's counts then
        cross to the host once, in ``after_epoch``, not once per batch."""
        xp = CUDA.xp
        if self._constants is None or self._constants[0] != classes:
            self._constants = (
                classes,
                to_device(np.arange(classes, dtype=np.int64).reshape(1, classes)),
                to_device(np.array([[1.0], [0.0]])),  # row 0: predictions, row 1: targets
            )
        _, labels, first_row = self._constants
        with no_grad():
            predicted = pred.argmax(axis=-1).data
        target = to_device(np.asarray(target)) if not is_device_array(target) else target
        rows = [
            xp.reshape(
                xp.sum(xp.equal(xp.reshape(ids, (-1, 1)), labels), axis=0, dtype=np.float64),
                (1, classes),
            )
            for ids in (predicted, target)
        ]
        return xp.add(
            xp.multiply(rows[0], first_row), xp.multiply(rows[1], xp.subtract(1.0, first_row))
        )

    def _host_counts(self):
        """(predicted, targets) counts of the epoch as NumPy arrays, or None before a batch."""
        if self._counts is not None:
            counts = to_host(self._counts)  # the one copy of the epoch
            self._predicted, self._targets, self._counts = counts[0], counts[1], None
        if self._predicted is None:
            return None
        return self._predicted, self._targets

    def after_epoch(self):
        if self.message is not None or self._host_counts() is None:
            return
        total = int(self._predicted.sum())
        top = int(np.argmax(self._predicted))
        predicted_share = self._predicted[top] / total
        target_share = self._targets[top] / total if top < len(self._targets) else 0.0
        if predicted_share < self.share or target_share >= self.minority:
            return
        vocab = getattr(self.learn.dls, "vocab", None)
        label = repr(vocab[top]) if vocab is not None and top < len(vocab) else str(top)
        self.message = (
            f"training collapsed: after epoch {self.learn.epoch} the model predicts class "
            f"{label} for {predicted_share:.1%} of the validation set, where it is "
            f"{target_share:.1%} of the targets; try a lower learning rate, fit_one_cycle "
            "(1cycle) or batch norm"
        )
        warnings.warn(CollapseWarning(self.message), stacklevel=_caller_level())

    def after_fit(self):
        if self.message is None:
            return
        progress = getattr(self.learn, "progress", None)
        if progress is not None:
            progress.write(self.message)
        elif self.learn.logging:
            print(self.message, flush=True)
