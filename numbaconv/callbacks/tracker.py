"""Checkpointing: :class:`SaveModelCallback` saves the model (atomically, as
``.npz`` through :mod:`numbaconv.serialization`) after every epoch and whenever the
monitored value improves; ``Learner.load`` and ``fit(..., start_epoch=k)`` resume from it.
"""

from __future__ import annotations

import math

import numpy as np

from .core import Callback

__all__ = ["SaveModelCallback"]


def _comparison(monitor: str, comp):
    if comp is not None:
        return comp
    # fastai's rule: losses and errors should go down, anything else (accuracy) up.
    return np.less if ("loss" in monitor or "error" in monitor) else np.greater


class SaveModelCallback(Callback):
    """Save the model after every epoch and whenever ``monitor`` improves (order 61).

    Files go to ``learn.path / learn.model_dir`` as ``{fname}_{epoch}.npz`` (with
    ``every_epoch``) and ``{fname}.npz`` (the best so far), each written atomically.

    Parameters
    ----------
    fname : str, default "model"
    every_epoch : bool, default True
        Save ``{fname}_{epoch}`` after each epoch.
    monitor : str, default "valid_loss"
        A column of the epoch table (``learn.recorder.metric_names``).
    comp : callable, optional
        ``comp(new, best)`` is True when ``new`` is better; default ``np.less`` when the name
        contains "loss" or "error", else ``np.greater``.
    min_delta : float, default 0
        Improvement needed to count (in the direction of ``comp``).
    with_opt : bool, default False
        Also save the optimizer state (moments and step counts), needed for a resumed run to
        repeat an uninterrupted one exactly.
    load_best_at_end : bool, default False
        Load ``{fname}`` (the best epoch) when ``fit`` ends.

    Attributes
    ----------
    best : float
        Best monitored value so far (in this fit).
    best_epoch : int or None
    saved : list of pathlib.Path
        Every file written, in order.
    """

    order = 61  # after the Recorder (50) has finished the epoch's row

    def __init__(
        self,
        fname="model",
        every_epoch=True,
        monitor="valid_loss",
        comp=None,
        min_delta=0.0,
        with_opt=False,
        load_best_at_end=False,
    ):
        if not isinstance(fname, str) or not fname:
            raise ValueError(f"fname must be a non-empty string, got {fname!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a column name (str), got {monitor!r}")
        self.fname = fname
        self.every_epoch = bool(every_epoch)
        self.monitor = monitor
        self.comp = _comparison(monitor, comp)
        self.min_delta = float(min_delta)
        self.with_opt = bool(with_opt)
        self.load_best_at_end = bool(load_best_at_end)
        self.saved = []
        self.best = None
        self.best_epoch = None

    def before_fit(self):
        names = self.learn.recorder.metric_names
        if self.monitor not in names[1:]:
            raise ValueError(
                f"monitor {self.monitor!r} is not a column of the epoch table; expected one of "
                f"{[n for n in names[1:] if n != 'time']}"
            )
        self._column = names.index(self.monitor) - 1
        sign = 1.0 if self.comp(0.0, 1.0) else -1.0  # comp is "less": improvements go down
        self.best = math.inf if sign > 0 else -math.inf
        self._delta = sign * self.min_delta
        self.best_epoch = None

    def after_epoch(self):
        epoch = self.learn.epoch
        if self.every_epoch:
            self.saved.append(self.learn.save(f"{self.fname}_{epoch}", with_opt=self.with_opt))
        value = self.learn.recorder.values[-1][self._column]
        if value is not None and self.comp(value + self._delta, self.best):
            self.best, self.best_epoch = float(value), epoch
            self.saved.append(self.learn.save(self.fname, with_opt=self.with_opt))

    def after_fit(self):
        if self.load_best_at_end and self.best_epoch is not None:
            self.learn.load(self.fname, with_opt=self.with_opt)
