"""``Recorder``: losses, metrics and hyper-parameters of a fit, and the plots drawn from them.

fastai's ``Recorder`` (order 50): the smoothed training loss after every batch, the epoch
table's values, the learning rate and momentum of every training batch, and
:meth:`Recorder.plot_loss`, :meth:`Recorder.plot_sched` and :meth:`Recorder.plot_lr_find`.
"""

from __future__ import annotations

import time

import numpy as np

from ..metrics import AvgLoss, AvgMetric, AvgSmoothLoss, Metric
from .core import Callback, _pyplot, format_time

__all__ = ["Recorder"]


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
        if not learn.yb:  # a batch without targets (get_preds on unlabelled data)
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

    def plot_lr_find(self, skip_end=5, suggestions=None, nms=None, figsize=None):
        """Loss against learning rate after :meth:`numbaconv.Learner.lr_find`, on a log x axis.

        Parameters
        ----------
        skip_end : int, default 5
            Leave out the last points, where the loss shoots up.
        suggestions : list of (float, float), optional
            ``(lr, loss)`` points to mark, e.g. each suggestion function's second result.
        nms : list of str, optional
            Their legend labels (the suggestion functions' names).
        figsize : (float, float), optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        end = len(self.lrs) - skip_end if skip_end else len(self.lrs)
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=figsize)
        ax.plot(self.lrs[:end], self.losses[:end])
        ax.set_ylabel("Loss")
        ax.set_xlabel("Learning Rate")
        ax.set_xscale("log")
        if suggestions:
            names = nms if nms is not None else [f"suggestion {i}" for i in range(len(suggestions))]
            colors = plt.rcParams["axes.prop_cycle"].by_key()["color"][1:]
            for (lr, loss), name, color in zip(suggestions, names, colors):
                ax.plot(lr, loss, "o", label=name, color=color)
            ax.legend(loc="best")
        return fig
