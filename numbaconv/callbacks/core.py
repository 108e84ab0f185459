"""Callback base class and the Learner's standard callbacks, as fastai defines them.

A :class:`Callback` has an ``order`` (lower runs first) and methods named after the
events in :data:`EVENTS`; the Learner calls every callback's method for an event, in
order. Inside a method, attributes the callback does not have are read from the
Learner (``self.model``, ``self.epoch``, ``self.training`` ...), as in fastai.

Standard callbacks: :class:`TrainEvalCallback` (train/eval mode, ``pct_train``),
:class:`Recorder` (losses, metrics, learning rates, the epoch table's values),
:class:`ProgressCallback` (the printed table and a progress line) and
:class:`ParamScheduler` (sets hyper-parameters before each training batch).
"""

from __future__ import annotations

import re
import sys
import time

import numpy as np

from ..metrics import AvgLoss, AvgMetric, AvgSmoothLoss, Metric

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
    "ParamScheduler",
    "ProgressCallback",
    "Recorder",
    "TrainEvalCallback",
    "format_time",
]

#: Every event a callback may handle, in the order a training batch meets them.
EVENTS = (
    "before_fit",
    "before_epoch",
    "before_train",
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "after_backward",
    "before_step",
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
        if handler is not None:
            handler(self)

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


class Recorder(Callback):
    """Records losses, metrics and hyper-parameters during training (fastai's, order 50).

    Parameters
    ----------
    add_time : bool, default True
        Add the ``time`` column (wall time per epoch, ``mm:ss``).
    train_metrics : bool, default False
        Also compute the metrics on the training batches (``train_<name>`` columns).
    valid_metrics : bool, default True
        Compute ``valid_loss`` and the metrics on the validation set.
    beta : float, default 0.98
        Smoothing of the training loss (:class:`~numbaconv.metrics.AvgSmoothLoss`).

    Attributes
    ----------
    lrs, moms : list of float
        Learning rate and momentum (``mom`` for Adam, ``momentum`` for SGD) of the last
        parameter group at each training batch, as the optimizer used them.
    losses : list of float
        Smoothed training loss after each training batch (never reset between epochs).
    iters : list of int
        Number of training batches done at the end of each epoch.
    values : list of list
        Per epoch: ``[train_loss, valid_loss, *metrics]`` (the table without epoch and time).
    log : list
        The current (last) epoch's row: ``[epoch, train_loss, valid_loss, *metrics, time]``.
    metric_names : list of str
        Column titles: ``["epoch", "train_loss", "valid_loss", *names, "time"]``.
    hps : dict of str to list of float
        Per training batch, each hyper-parameter a :class:`ParamScheduler` set.
    """

    order = 50

    def __init__(self, add_time=True, train_metrics=False, valid_metrics=True, beta=0.98):
        self.add_time = bool(add_time)
        self.train_metrics = bool(train_metrics)
        self.valid_metrics = bool(valid_metrics)
        self.loss = AvgLoss()
        self.smooth_loss = AvgSmoothLoss(beta=beta)
        self.lrs, self.moms, self.losses, self.iters, self.values = [], [], [], [], []
        self.log = []
        self.hps = {}

    # -- metrics the Learner holds, wrapped for averaging
    @property
    def metrics(self) -> list[Metric]:
        wrapped = []
        for metric in self.learn.metrics:
            wrapped.append(metric if isinstance(metric, Metric) else AvgMetric(metric))
        return wrapped

    def _wrap_metrics(self) -> None:
        self._metrics = self.metrics
        self._valid_mets = [self.loss, *self._metrics] if self.valid_metrics else []
        self._train_mets = [self.smooth_loss]
        if self.train_metrics:
            self._train_mets += self._metrics

    @property
    def metric_names(self) -> list[str]:
        if "_metrics" not in self.__dict__:
            self._wrap_metrics()
        names = [m.name for m in self._metrics]
        columns = ["train_loss"]
        if self.train_metrics:
            columns += [f"train_{n}" for n in names]
        if self.valid_metrics:
            columns += ["valid_loss"]
            columns += [f"valid_{n}" for n in names] if self.train_metrics else names
        return ["epoch", *columns] + (["time"] if self.add_time else [])

    def before_fit(self):
        self._wrap_metrics()
        self.lrs, self.moms, self.losses, self.iters, self.values = [], [], [], [], []
        self.hps = {}
        self.smooth_loss.reset()

    def before_epoch(self):
        self._start_epoch = time.perf_counter()
        self.log = [self.learn.epoch]

    def before_train(self):
        # The smoothed loss is deliberately left alone: it runs over the whole fit.
        for metric in self._train_mets[1:]:
            metric.reset()

    def before_validate(self):
        if "_valid_mets" not in self.__dict__:  # validate() outside fit
            self._wrap_metrics()
        for metric in self._valid_mets:
            metric.reset()

    def after_batch(self):
        learn = self.learn
        if len(learn.yb) == 0:
            return
        metrics = self._train_mets if learn.training else self._valid_mets
        for metric in metrics:
            metric.accumulate(learn)
        if learn.training:
            group = learn.opt.param_groups[-1]
            self.lrs.append(float(group["lr"]))
            mom_name = getattr(learn.opt, "momentum_hyper", None)
            if mom_name in group:
                self.moms.append(float(group[mom_name]))
            self.losses.append(self.smooth_loss.value)
            learn.smooth_loss = self.smooth_loss.value

    def after_train(self):
        self.log += [m.value for m in self._train_mets]

    def after_validate(self):
        self.log += [m.value for m in self._valid_mets]

    def after_epoch(self):
        self.iters.append(self.smooth_loss.count)
        if self.add_time:
            self.log.append(format_time(time.perf_counter() - self._start_epoch))
        self.values.append(self.log[1:-1] if self.add_time else self.log[1:])

    def valid_values(self) -> list:
        """``[valid_loss, *metrics]`` of the last validation pass."""
        return [m.value for m in self._valid_mets]

    # -- plots
    def plot_sched(self, keys=None, figsize=None):
        """Plot each recorded hyper-parameter against the training batch.

        Parameters
        ----------
        keys : sequence of str, optional
            Hyper-parameters to draw; default ``("lr", "mom")``.
        figsize : (float, float), optional
            Default ``(6·cols, 4·rows)`` as fastai: (12, 4) for two panels.

        Returns
        -------
        matplotlib.figure.Figure
        """
        series = {"lr": self.lrs, "mom": self.moms}
        series.update({k: v for k, v in self.hps.items() if k not in series})
        keys = ["lr", "mom"] if keys is None else list(keys)
        for key in keys:
            if key not in series:
                raise ValueError(f"keys holds {key!r}; expected some of {sorted(series)}")
        rows, cols = (len(keys) + 1) // 2, min(2, len(keys))
        plt = _pyplot()
        fig, axs = plt.subplots(rows, cols, figsize=figsize or (6 * cols, 4 * rows), squeeze=False)
        for key, ax in zip(keys, axs.flatten()):
            ax.plot(np.arange(len(series[key])), series[key])
            ax.set_ylabel(key)
        for ax in axs.flatten()[len(keys) :]:
            ax.set_visible(False)
        return fig

    def plot_loss(self, skip_start=5, with_valid=True, figsize=None):
        """Plot the smoothed training loss per batch and the validation loss per epoch.

        Parameters
        ----------
        skip_start : int, default 5
            Leave out the first batches, whose loss dwarfs the rest.
        with_valid : bool, default True
            Add ``valid_loss`` at the batch index where each epoch ended.
        figsize : (float, float), optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=figsize)
        ax.plot(np.arange(skip_start, len(self.losses)), self.losses[skip_start:], label="train")
        if with_valid and self.valid_metrics and self.values:
            column = self.metric_names.index("valid_loss") - 1
            start = int((np.asarray(self.iters) < skip_start).sum())
            ax.plot(self.iters[start:], [v[column] for v in self.values[start:]], label="valid")
            ax.legend()
        return fig


class ProgressCallback(Callback):
    """Prints the epoch table as fastai does in a console, and a progress line per phase.

    Parameters
    ----------
    show_bar : bool, optional
        Draw a progress line (rewritten in place with ``\\r``) while an epoch runs. Default:
        only when ``file`` is a terminal.
    show_table : bool, default True
        Print the header at ``before_fit`` and one row after each epoch.
    file : file-like, optional
        Where to write; default ``sys.stdout`` at the time of writing.

    Notes
    -----
    The table follows fastprogress' console layout: titles padded to 8 characters and
    joined by two spaces; each value left-aligned in its title's width plus two; floats
    with 6 decimals, the time as ``mm:ss``.
    """

    order = 60
    _BAR_WIDTH = 30

    def __init__(self, show_bar=None, show_table=True, file=None):
        self.show_bar = show_bar
        self.show_table = bool(show_table)
        self.file = file
        self._titles = None
        self._bar_open = False

    @property
    def _out(self):
        return sys.stdout if self.file is None else self.file

    def _bar_enabled(self) -> bool:
        if self.show_bar is not None:
            return bool(self.show_bar)
        isatty = getattr(self._out, "isatty", None)
        return bool(isatty and isatty())

    def _write_row(self, items) -> None:
        if self._titles is None:
            self._titles = [t + " " * (8 - len(t)) if len(t) < 8 else t for t in items]
            text = "  ".join(self._titles)
        else:
            text = "".join(
                t + " " * (2 + len(title) - len(t)) for t, title in zip(items, self._titles)
            )
        self._clear_bar()
        print(text, file=self._out, flush=True)

    @staticmethod
    def format_value(value) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{value:.6f}"
        return str(value)

    def before_fit(self):
        self._titles = None
        recorder = getattr(self.learn, "recorder", None)
        if self.show_table and recorder is not None and self.learn.logging:
            self._write_row(recorder.metric_names)

    def _start_phase(self, phase):
        self._phase = phase
        self._phase_start = time.perf_counter()
        self._draw(0)

    def before_train(self):
        self._start_phase("train")

    def before_validate(self):
        self._start_phase("valid")

    def after_batch(self):
        self._draw(self.learn.iter + 1)

    def _draw(self, done):
        if not (self._bar_enabled() and self.learn.logging):
            return
        dl = getattr(self.learn, "dl", None)
        total = len(dl) if dl is not None else 0
        filled = self._BAR_WIDTH * done // total if total else self._BAR_WIDTH
        elapsed = time.perf_counter() - self._phase_start
        remaining = elapsed / done * (total - done) if done else 0.0
        line = (
            f"\r{self._phase:<5} [{'#' * filled}{'-' * (self._BAR_WIDTH - filled)}] "
            f"{done}/{total} {format_time(elapsed)}<{format_time(remaining)}"
        )
        self._out.write(line)
        self._out.flush()
        self._bar_open = True

    def _clear_bar(self):
        if self._bar_open:
            self._out.write("\r" + " " * (self._BAR_WIDTH + 40) + "\r")
            self._out.flush()
            self._bar_open = False

    def after_train(self):
        self._clear_bar()

    def after_validate(self):
        self._clear_bar()

    def after_epoch(self):
        recorder = getattr(self.learn, "recorder", None)
        if self.show_table and recorder is not None and self.learn.logging:
            self._write_row([self.format_value(v) for v in recorder.log])

    def teardown(self):
        self._clear_bar()


class ParamScheduler(Callback):
    """Sets hyper-parameters from schedules before every training batch (order 60).

    Parameters
    ----------
    scheds : dict of str to callable
        Hyper-parameter name (``"lr"``, ``"mom"``, ``"wd"`` ...) to a function of
        ``pct_train`` in [0, 1]. ``"mom"`` means the optimizer's momentum-like hyper
        (``mom`` for Adam, ``momentum`` for SGD).

    Attributes
    ----------
    hps : dict of str to list of float
        The value set at each training batch (also given to ``learn.recorder.hps``).
    """

    order = 60
    run_valid = False

    def __init__(self, scheds):
        if not isinstance(scheds, dict) or not scheds:
            raise TypeError(f"scheds must be a non-empty dict of name -> callable, got {scheds!r}")
        for key, fn in scheds.items():
            if not callable(fn):
                raise TypeError(f"scheds[{key!r}] must be callable, got {fn!r}")
        self.scheds = dict(scheds)

    def _hyper_name(self, key):
        if key == "mom":
            return getattr(self.learn.opt, "momentum_hyper", "mom")
        return key

    def before_fit(self):
        self.hps = {key: [] for key in self.scheds}

    def before_batch(self):
        pos = self.learn.pct_train
        for key, fn in self.scheds.items():
            self.learn.opt.set_hyper(self._hyper_name(key), fn(pos))

    def after_batch(self):
        group = self.learn.opt.param_groups[-1]
        for key in self.scheds:
            self.hps[key].append(float(group[self._hyper_name(key)]))

    def after_fit(self):
        recorder = getattr(self.learn, "recorder", None)
        if recorder is not None:
            recorder.hps = self.hps
