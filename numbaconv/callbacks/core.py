"""Callback base class, the Learner's events and the callbacks every loop needs, as in fastai.

A :class:`Callback` has an ``order`` (lower runs first) and methods named after the
events in :data:`EVENTS`; the Learner calls every callback's method for an event, in
order. Inside a method, attributes the callback does not have are read from the
Learner (``self.model``, ``self.epoch``, ``self.training`` ...), as in fastai. An
exception raised in a handler is re-raised, with the same type and attributes, as
"Exception occured in `X` when calling event `e`" chained to the original.

Here: :class:`TrainEvalCallback` (train/eval mode, ``pct_train``) and
:class:`GatherPreds` (collects predictions for ``Learner.get_preds``). The others live
beside it: :mod:`~numbaconv.callbacks.recorder`, :mod:`~numbaconv.callbacks.progress`,
:mod:`~numbaconv.callbacks.schedule` (ParamScheduler, LRFinder),
:mod:`~numbaconv.callbacks.guard` (non-finite guard, collapse warning),
:mod:`~numbaconv.callbacks.hook` (ActivationStats, summary) and
:mod:`~numbaconv.callbacks.tracker` (SaveModelCallback).
"""

from __future__ import annotations

import contextlib
import re

import numpy as np

from .._backend import to_host
from .._validate import describe as _describe

__all__ = [
    "EVENTS",
    "Callback",
    "CancelBackwardException",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelStepException",
    "CancelTrainException",
    "CancelValidException",
    "GatherPreds",
    "TrainEvalCallback",
    "format_time",
]

#: Every event a callback may handle, in the order a training batch meets them; each
#: ``after_cancel_<x>`` fires (before ``after_<x>``) when a ``Cancel<X>Exception`` ended ``x``.
EVENTS = (
    "before_fit",
    "before_epoch",
    "before_train",
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "after_cancel_backward",
    "after_backward",
    "before_step",
    "after_cancel_step",
    "after_step",
    "after_cancel_batch",
    "after_batch",
    "after_cancel_train",
    "after_train",
    "before_validate",
    "after_cancel_validate",
    "after_validate",
    "after_cancel_epoch",
    "after_epoch",
    "after_cancel_fit",
    "after_fit",
)

# Events inside the batch loop (before_batch .. after_batch in EVENTS): a callback with
# run_train/run_valid False skips them there.
_INNER_LOOP = frozenset(EVENTS[EVENTS.index("before_batch") : EVENTS.index("after_batch") + 1])


class CancelFitException(Exception):
    """Raise in a callback to stop ``fit`` (``after_cancel_fit`` and ``after_fit`` run)."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch."""


class CancelTrainException(Exception):
    """Skip the rest of this epoch's training phase."""


class CancelValidException(Exception):
    """Skip the rest of this epoch's validation phase."""


class CancelBatchException(Exception):
    """Skip the rest of this batch."""


class CancelBackwardException(Exception):
    """Skip this batch's backward pass."""


class CancelStepException(Exception):
    """Skip this batch's optimizer step."""


#: The exceptions that steer the loop; they pass through callbacks unchanged.
CANCEL_EXCEPTIONS = (
    CancelFitException,
    CancelEpochException,
    CancelTrainException,
    CancelValidException,
    CancelBatchException,
    CancelBackwardException,
    CancelStepException,
)


def _named(exc: Exception, callback: str, event: str) -> Exception:
    """A copy of ``exc`` (same type and attributes, so ``except`` clauses still match) whose
    message names the callback and event, in fastai's words."""
    message = f"Exception occured in `{callback}` when calling event `{event}`:\n\t{exc}"
    try:
        renamed = type(exc).__new__(type(exc))
        renamed.__dict__.update(exc.__dict__)
        renamed.args = (message,)
    except Exception:  # an exception type that cannot be copied: reword it in place
        exc.args = (message,)
        return exc
    return renamed


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def format_time(seconds: float) -> str:
    """fastai's epoch time column: ``mm:ss``, or ``h:mm:ss`` from one hour on."""
    total = int(seconds)
    hours, minutes, secs = total // 3600, (total // 60) % 60, total % 60
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'plotting needs matplotlib, which is not installed: pip install "numbaconv[plot]"'
        ) from exc
    return plt


class Callback:
    """Base class for Learner callbacks.

    Subclasses define methods named after events (see :data:`EVENTS`) and may set

    - ``order`` (int, default 0): callbacks run in increasing order;
    - ``run_train`` / ``run_valid`` (bool, default True): whether the batch-loop events
      reach this callback during training / validation.

    A callback is reachable from its Learner as ``learn.<name>``, where ``name`` is the
    class name in snake_case without a ``Callback`` suffix (``Recorder`` → ``recorder``,
    ``ActivationStats`` → ``activation_stats``, ``TrainEvalCallback`` → ``train_eval``).
    Reading an attribute the callback lacks reads it from the Learner.
    """

    order = 0
    run_train = True
    run_valid = True
    learn = None

    @property
    def name(self) -> str:
        return _snake_case(re.sub(r"Callback$", "", type(self).__name__))

    def __getattr__(self, attr):
        # Only called when normal lookup fails; delegate to the Learner like fastai's GetAttr.
        if attr.startswith("_") or attr == "learn":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        learn = self.__dict__.get("learn", type(self).learn)
        if learn is None:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {attr!r} (and is attached to "
                "no Learner)"
            )
        return getattr(learn, attr)

    def __call__(self, event_name: str) -> None:
        """Run this callback's handler for ``event_name``, if it has one and should run."""
        if event_name in _INNER_LOOP:
            training = getattr(self.learn, "training", True)
            if not (self.run_train if training else self.run_valid):
                return
        handler = getattr(type(self), event_name, None)
        if handler is None:
            return
        try:
            handler(self)
        except CANCEL_EXCEPTIONS:
            raise
        except Exception as exc:
            raise _named(exc, type(self).__name__, event_name) from exc

    def teardown(self) -> None:
        """Called when ``fit`` ends, normally or by an exception (release hooks, end lines)."""

    def __repr__(self) -> str:
        return type(self).__name__


class TrainEvalCallback(Callback):
    """Switches train/eval mode and tracks training progress (fastai's, order −10).

    Sets on the Learner: ``training``, ``epoch`` and ``n_epoch`` (via ``fit``), ``train_iter``
    (training batches done in this ``fit``) and ``pct_train``: ``epoch / n_epoch`` when an
    epoch's training starts and ``(epoch·n_iter + iter + 1) / (n_epoch·n_iter)`` after each
    training batch, so training step ``i`` (0-based, counted over the whole fit) runs at
    ``pct_train = i / (n_epoch·n_iter)``. fastai accumulates ``1/(n_epoch·n_iter)`` instead;
    the values agree up to rounding, and these are exact.
    """

    order = -10
    run_valid = False

    def before_fit(self):
        self.learn.pct_train = 0.0
        self.learn.train_iter = 0

    def before_train(self):
        self.learn.pct_train = self.learn.epoch / self.learn.n_epoch
        self.learn.model.train()
        self.learn.training = True

    def after_batch(self):
        learn = self.learn
        learn.train_iter += 1
        done = learn.epoch * learn.n_iter + learn.iter + 1
        learn.pct_train = done / (learn.n_epoch * learn.n_iter)

    def before_validate(self):
        self.learn.model.eval()
        self.learn.training = False


class GatherPreds(Callback):
    """Collects the model's outputs (and targets) of every validation batch on the host.

    ``Learner.get_preds`` runs the validation loop with this callback; each batch's
    ``learn.pred`` is copied to a NumPy array, and ``learn.yb[0]`` when the batch has targets.

    Attributes
    ----------
    preds : list of ndarray
        One (B, C) array per batch.
    targets : list of ndarray
        One (B,) array per batch that had targets.
    """

    order = 70
    run_train = False

    def __init__(self):
        self.preds, self.targets = [], []

    def before_validate(self):
        self.preds, self.targets = [], []

    def after_batch(self):
        self.preds.append(np.asarray(self.learn.pred.numpy()))
        if self.learn.yb:
            self.targets.append(to_host(self.learn.yb[0]))  # device targets too

    def result(self):
        """``(preds, targets)`` concatenated; empty arrays when nothing ran."""
        preds = np.concatenate(self.preds) if self.preds else np.empty((0,), np.float32)
        targets = np.concatenate(self.targets) if self.targets else np.empty((0,), np.int64)
        return preds, targets


class _CallbackHost:
    """The Learner's callback registry and event dispatch (mixed into ``Learner``)."""

    @staticmethod
    def _as_cb_list(cbs) -> list:
        if cbs is None:
            return []
        return list(cbs) if isinstance(cbs, (list, tuple)) else [cbs]

    # ------------------------------------------------------------ callbacks
    def add_cb(self, cb) -> Callback:
        """Attach ``cb`` (a Callback or Callback class) and expose it as ``learn.<cb.name>``."""
        if isinstance(cb, type) and issubclass(cb, Callback):
            cb = cb()
        if not isinstance(cb, Callback):
            raise TypeError(f"cbs must be Callback instances or classes, got {_describe(cb)}")
        current = self.__dict__.get(cb.name)
        if hasattr(type(self), cb.name) or (
            current is not None and not isinstance(current, Callback)
        ):
            raise ValueError(
                f"a callback named {cb.name!r} would hide the Learner attribute {cb.name!r}; "
                "rename the callback class"
            )
        if isinstance(current, Callback) and current in self.cbs:
            self.remove_cb(current)
        cb.learn = self
        setattr(self, cb.name, cb)
        self.cbs.append(cb)
        return cb

    def add_cbs(self, cbs) -> None:
        """Attach each of ``cbs`` (one callback, a class, or a list)."""
        for cb in self._as_cb_list(cbs):
            self.add_cb(cb)

    def remove_cb(self, cb) -> None:
        """Detach ``cb`` (an instance, or a class: every callback of that class)."""
        targets = [c for c in self.cbs if isinstance(c, cb)] if isinstance(cb, type) else [cb]
        for target in targets:
            if target in self.cbs:
                self.cbs.remove(target)
            if self.__dict__.get(target.name) is target:
                delattr(self, target.name)
            target.learn = None

    def remove_cbs(self, cbs) -> None:
        """Detach each of ``cbs`` (instances or classes, one or a list)."""
        for cb in self._as_cb_list(cbs):
            self.remove_cb(cb)

    @contextlib.contextmanager
    def added_cbs(self, cbs):
        """Attach ``cbs`` for the duration of a ``with`` block."""
        added = []
        try:
            for cb in self._as_cb_list(cbs):
                added.append(self.add_cb(cb))
            yield self
        finally:
            self.remove_cbs(added)

    @contextlib.contextmanager
    def no_logging(self):
        """Print no epoch table and no progress line inside the ``with`` block."""
        previous, self.logging = self.logging, False
        try:
            yield self
        finally:
            self.logging = previous

    @contextlib.contextmanager
    def no_bar(self):
        """Draw no progress bars inside the ``with`` block (the epoch table still prints)."""
        previous, self.show_bars = self.show_bars, False
        try:
            yield self
        finally:
            self.show_bars = previous

    def _sorted_cbs(self) -> list:
        return sorted(self.cbs, key=lambda cb: cb.order)  # stable: ties keep insertion order

    def __call__(self, event_name: str) -> None:
        """Run ``event_name`` on every callback, in ``order``."""
        for cb in self._sorted_cbs():
            cb(event_name)

    def _with_events(self, body, event_type: str, cancel_exc) -> None:
        try:
            self(f"before_{event_type}")
            body()
        except cancel_exc:
            self(f"after_cancel_{event_type}")
        self(f"after_{event_type}")
