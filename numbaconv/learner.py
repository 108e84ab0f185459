"""``Learner``: the training loop of fastai's ``Learner``, with its defaults and callbacks.

A Learner ties data (``dls.train`` / ``dls.valid``), a model, a loss function and an
optimizer together. ``fit`` runs epochs of training batches then validation batches,
calling the callbacks' event handlers at each step (see
:data:`numbaconv.callbacks.EVENTS`); the default callbacks record losses and metrics
(:class:`~numbaconv.callbacks.Recorder`), switch train/eval mode
(:class:`~numbaconv.callbacks.TrainEvalCallback`) and print the epoch table
(:class:`~numbaconv.callbacks.ProgressCallback`), refuse a NaN or Inf loss or gradient
before the optimizer step (:class:`~numbaconv.callbacks.NonFiniteGuard`) and warn when
training collapses onto one class (:class:`~numbaconv.callbacks.CollapseCallback`).
``fit_one_cycle`` adds fastai's one-cycle schedule of learning rate and momentum;
``lr_find`` runs fastai's learning-rate finder.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from collections import OrderedDict

import numpy as np

from . import serialization
from ._backend import is_device_array
from ._inference import _Inference
from ._validate import describe as _describe
from ._validate import finite_number, integer
from .autograd import Tensor, no_grad
from .callbacks.core import (
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    TrainEvalCallback,
    _CallbackHost,
)
from .callbacks.guard import CollapseCallback, NonFiniteGuard, NonFiniteLossError
from .callbacks.hook import SummaryText
from .callbacks.hook import summary as _summary
from .callbacks.progress import ProgressCallback
from .callbacks.recorder import Recorder
from .callbacks.schedule import _ScheduledFits
from .nn import BatchNorm2d, Module
from .nn import functional as F
from .optim import Adam, split_bn_bias

__all__ = ["Learner", "NonFiniteLossError", "SummaryText"]

_OPT_PREFIX = "opt::"


def _targets(y):
    """A batch's targets as an array where they live: a device array stays on the device (a
    host copy per batch would cost a transfer), anything else becomes a NumPy array."""
    y = y.data if isinstance(y, Tensor) else y
    return y if is_device_array(y) else np.asarray(y)


def _is_norm(module) -> bool:
    return isinstance(module, BatchNorm2d) or "Norm" in type(module).__name__


class Learner(_CallbackHost, _Inference, _ScheduledFits):
    """Train ``model`` on ``dls`` with fastai's loop, defaults and callbacks.

    Parameters
    ----------
    dls : object with ``.train`` and ``.valid``
        Each an iterable of ``(x, y)`` batches with ``len()`` (batches per epoch): ``x`` a
        float32 array of shape (B, C, H, W) (or a Tensor), ``y`` an int64 array of shape
        (B,). :class:`numbaconv.data.DataLoaders` is one; a ``vocab`` attribute names the
        classes for :meth:`predict`.
    model : Module
    loss_func : callable, default :func:`numbaconv.nn.functional.cross_entropy`
        ``loss_func(pred, y)`` returning a scalar Tensor (the batch mean).
    opt_func : callable, default :class:`numbaconv.optim.Adam`
        ``opt_func(param_groups, lr=lr)`` returning an optimizer.
    lr : float, default 1e-3
        Used by ``fit``/``fit_one_cycle`` when they get no learning rate.
    metrics : callable, Metric or list of them, optional
        E.g. :func:`numbaconv.metrics.accuracy`; averaged over the validation set by sample.
    cbs : Callback, Callback class or list of them, optional
        Added after the defaults (TrainEvalCallback, NonFiniteGuard, Recorder,
        ProgressCallback, CollapseCallback); ``learn.remove_cb(cls)`` removes a default.
    wd : float, optional
        Weight decay for every fit; None leaves the optimizer's own default (Adam: 0.01,
        decoupled).
    wd_bn_bias : bool, default False
        Also decay biases and batch-norm parameters (fastai excludes them).
    moms : (float, float, float), default (0.95, 0.85, 0.95)
        One-cycle momentum: start, middle, end.
    path : str or os.PathLike, default "."
        Checkpoints go to ``path / model_dir``.
    model_dir : str, default "models"

    Attributes
    ----------
    model, dls, loss_func, opt_func, metrics, cbs
    opt : optimizer or None
        Created on the first fit (or :meth:`create_opt`) and kept between fits.
    training : bool
        True inside the training phase of an epoch.
    epoch, n_epoch, iter, n_iter, train_iter, pct_train
        Progress: 0-based epoch, epochs in this fit, 0-based batch within the current
        phase, batches in it, training batches done in this fit, and the fraction of the
        fit's training done (the one-cycle position).
    xb : Tensor
        The current batch's input.
    yb : tuple of arrays
        Its targets, as fastai: ``(y,)``, or ``()`` for a batch without targets; NumPy
        arrays, or device arrays where the batch came on the device (they stay there).
    pred : Tensor
        The model's output.
    loss : Tensor
        The current batch's loss, detached; ``loss_grad`` is the same with its graph.
    recorder, train_eval, progress, ... : Callback
        Each callback under its snake_case name.

    Examples
    --------
    >>> from numbaconv.models import simple_cnn_3v7
    >>> from numbaconv.metrics import accuracy
    >>> learn = Learner(dls, simple_cnn_3v7(seed=0), metrics=accuracy)
    >>> learn.fit_one_cycle(2, 0.01)          # prints the epoch table
    >>> learn.recorder.values[-1]             # [train_loss, valid_loss, accuracy]
    """

    def __init__(
        self,
        dls,
        model,
        loss_func=None,
        opt_func=Adam,
        lr=1e-3,
        metrics=None,
        cbs=None,
        wd=None,
        wd_bn_bias=False,
        moms=(0.95, 0.85, 0.95),
        path=".",
        model_dir="models",
    ):
        for attr in ("train", "valid"):
            if not hasattr(dls, attr):
                raise TypeError(
                    f"dls must have .train and .valid batch iterables (a DataLoaders), got "
                    f"{_describe(dls)}, which lacks .{attr}"
                )
        if not isinstance(model, Module):
            raise TypeError(f"model must be a numbaconv.nn.Module, got {_describe(model)}")
        loss_func = F.cross_entropy if loss_func is None else loss_func
        if not callable(loss_func):
            raise TypeError(f"loss_func must be callable, got {_describe(loss_func)}")
        if not callable(opt_func):
            raise TypeError(f"opt_func must be callable, got {_describe(opt_func)}")
        self.dls = dls
        self.model = model
        self.loss_func = loss_func
        self.opt_func = opt_func
        self.lr = finite_number("lr", lr, minimum=0)
        self.metrics = self._metric_list(metrics)
        self.wd = None if wd is None else finite_number("wd", wd, minimum=0)
        if not isinstance(wd_bn_bias, (bool, np.bool_)):
            raise TypeError(f"wd_bn_bias must be True or False, got {_describe(wd_bn_bias)}")
        self.wd_bn_bias = bool(wd_bn_bias)
        self.moms = self._moms("moms", moms)
        self.path = pathlib.Path(path)
        self.model_dir = model_dir
        self.opt = None
        self.training = False
        self.logging = True
        self.show_bars = True
        self.epoch = self.n_epoch = self.iter = self.n_iter = self.train_iter = 0
        self.pct_train = 0.0
        self.xb = self.pred = self.loss = self.loss_grad = None
        self.yb = ()
        self.smooth_loss = None
        self.dl = None
        self._in_fit = False
        self.cbs = []
        for cb in (TrainEvalCallback, NonFiniteGuard, Recorder, ProgressCallback, CollapseCallback):
            self.add_cb(cb)
        self.add_cbs(cbs)

    # ------------------------------------------------------------ validation helpers
    @staticmethod
    def _metric_list(metrics) -> list:
        if metrics is None:
            return []
        items = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        for item in items:
            if not callable(item) and not hasattr(item, "accumulate"):
                raise TypeError(
                    f"metrics must be callables (func(pred, targ)) or Metric objects, got "
                    f"{_describe(item)}"
                )
        return items

    @staticmethod
    def _moms(name, moms):
        if isinstance(moms, (str, bytes)) or not hasattr(moms, "__len__") or len(moms) != 3:
            raise ValueError(f"{name} must be three numbers (start, middle, end), got {moms!r}")
        return tuple(finite_number(f"{name}[{i}]", m, minimum=0) for i, m in enumerate(moms))

    # ------------------------------------------------------------ optimizer
    def _named_trainable(self):
        """(qualified name, parameter, is_norm) for every trainable parameter, once each."""
        seen = set()
        for module_name, module in self.model.named_modules():
            for name, param in module._parameters.items():
                if param is None or id(param) in seen or not param.requires_grad:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param, _is_norm(module)

    def create_opt(self):
        """Build ``self.opt`` with ``opt_func``: biases and batch-norm parameters get no
        weight decay unless ``wd_bn_bias``."""
        named = list(self._named_trainable())
        if not named:
            raise ValueError("the model has no trainable parameters to optimize")
        self._param_names = {id(p): name for name, p, _ in named}
        if self.wd_bn_bias:
            groups = [{"params": [p for _, p, _ in named]}]
        else:
            groups = split_bn_bias(named)
        self.opt = self.opt_func(groups, lr=self.lr)
        return self.opt

    def _wd_hyper(self):
        defaults = getattr(self.opt, "defaults", {})
        for name in ("wd", "weight_decay"):
            if name in defaults:
                return name
        raise ValueError(f"the optimizer {type(self.opt).__name__} has no weight-decay hyper")

    # ------------------------------------------------------------ the loop
    def fit(self, n_epoch, lr=None, wd=None, cbs=None, reset_opt=False, start_epoch=0):
        """Train for ``n_epoch`` epochs at a constant learning rate.

        Parameters
        ----------
        n_epoch : int
            Epochs, >= 1.
        lr : float, optional
            Default ``self.lr``.
        wd : float, optional
            Weight decay; default ``self.wd``, and when both are None the optimizer's own
            default (Adam: 0.01, decoupled; never on biases or batch-norm parameters unless
            ``wd_bn_bias``).
        cbs : Callback or list, optional
            Extra callbacks for this fit only.
        reset_opt : bool, default False
            Build a fresh optimizer (otherwise its state carries over between fits).
        start_epoch : int, default 0
            Skip epochs ``0 .. start_epoch-1``, e.g. to resume from a checkpoint saved after
            epoch ``start_epoch-1`` (see :meth:`load`); schedules continue from
            ``pct_train = start_epoch / n_epoch`` as fastai's ``SkipToEpoch`` does.

        Raises
        ------
        NonFiniteLossError
            A training loss or gradient is NaN or Inf (the weights stay as before that batch).
        """
        n_epoch = integer("n_epoch", n_epoch, minimum=1)
        start_epoch = integer("start_epoch", start_epoch, minimum=0)
        if start_epoch >= n_epoch:
            raise ValueError(
                f"start_epoch must be < n_epoch ({n_epoch}), got {start_epoch}: nothing to train"
            )
        lr = self.lr if lr is None else lr
        with self.added_cbs(cbs):
            if reset_opt or self.opt is None:
                self.create_opt()
            wd = self.wd if wd is None else wd
            if wd is not None:
                self.opt.set_hyper(self._wd_hyper(), finite_number("wd", wd, minimum=0))
            self.opt.set_hyper("lr", lr)
            self.opt.zero_grad()
            self.n_epoch = n_epoch
            self._start_epoch = start_epoch
            self._in_fit = True
            try:
                self._with_events(self._do_fit, "fit", CancelFitException)
            finally:
                self._in_fit = False
                self.training = False
                for cb in self._sorted_cbs():
                    cb.teardown()

    def _do_fit(self):
        for epoch in range(self._start_epoch, self.n_epoch):
            self.epoch = epoch
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def _do_epoch(self):
        self._do_epoch_train()
        self._do_epoch_validate()

    def _do_epoch_train(self):
        self.dl = self.dls.train
        self._with_events(self._all_batches, "train", CancelTrainException)

    def _do_epoch_validate(self, dl=None):
        self.dl = self.dls.valid if dl is None else dl
        with no_grad():
            self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self):
        self.n_iter = len(self.dl)
        for i, batch in enumerate(self.dl):
            self._one_batch(i, batch)

    def _one_batch(self, i, batch):
        self.iter = i
        x, *targets = batch
        self.xb = x if isinstance(x, Tensor) else Tensor(x)
        self.yb = tuple(_targets(y) for y in targets)
        self._with_events(self._do_one_batch, "batch", CancelBatchException)

    def _do_one_batch(self):
        self.pred = self.model(self.xb)
        self("after_pred")
        if self.yb and len(self.yb[0]):
            self.loss_grad = self.loss_func(self.pred, *self.yb)
            self.loss = self.loss_grad.detach()
        self("after_loss")
        if not self.training or not self.yb or not len(self.yb[0]):
            return
        self._with_events(self.loss_grad.backward, "backward", CancelBackwardException)
        self._with_events(self.opt.step, "step", CancelStepException)
        self.opt.zero_grad()

    def summary(self) -> SummaryText:
        """Layer table as fastai prints it (chapter 13 §2.3), then optimizer, loss, callbacks.

        See :func:`numbaconv.callbacks.summary`; one training batch's first item goes through
        the model in eval mode (no statistics or gradients change).

        Returns
        -------
        SummaryText
            A str (displayed as text in a REPL; ``print`` it in a script).
        """
        return _summary(self)

    # ------------------------------------------------------------ checkpoints
    def _file(self, fname) -> pathlib.Path:
        if isinstance(fname, os.PathLike) or (isinstance(fname, str) and fname.endswith(".npz")):
            return pathlib.Path(fname)
        if not isinstance(fname, str) or not fname:
            raise ValueError(f"fname must be a non-empty name or a path, got {_describe(fname)}")
        return self.path / self.model_dir / f"{fname}.npz"

    def save(self, fname, with_opt=True) -> pathlib.Path:
        """Save the model (and optimizer state) atomically as ``path/model_dir/fname.npz``.

        Parameters
        ----------
        fname : str or os.PathLike
            A name (saved under ``self.path / self.model_dir`` with ``.npz`` added) or a path.
        with_opt : bool, default True
            Also store the optimizer's state dict (``Optimizer.state_dict()``: keys
            ``"opt::state::<index>::<name>"`` and the param groups as JSON in
            ``"opt::param_groups"``).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        file = self._file(fname)
        file.parent.mkdir(parents=True, exist_ok=True)
        state = self.model.state_dict()
        if with_opt and self.opt is not None:
            state.update(serialization.optimizer_arrays(self.opt.state_dict(), _OPT_PREFIX))
        serialization.save(state, file)
        return file

    def load(self, fname, with_opt=None, strict=True):
        """Load weights (and optimizer state, when saved) written by :meth:`save`.

        Parameters
        ----------
        fname : str or os.PathLike
            As in :meth:`save`.
        with_opt : bool, optional
            Restore the optimizer state: None means when the file has one; True warns if it
            has none.
        strict : bool, default True
            Passed to ``Module.load_state_dict``.

        Returns
        -------
        Learner
            self.
        """
        file = self._file(fname)
        if not file.exists():
            raise FileNotFoundError(f"no checkpoint at {str(file)!r} (fname={fname!r})")
        state = serialization.load(file)
        model_state = OrderedDict((k, v) for k, v in state.items() if not k.startswith(_OPT_PREFIX))
        opt_state = serialization.optimizer_state(state, _OPT_PREFIX)
        self.model.load_state_dict(model_state, strict=strict)
        if with_opt is False:
            return self
        if opt_state is None:
            if with_opt:
                warnings.warn(f"{file} holds no optimizer state", stacklevel=2)
            return self
        if self.opt is None:
            self.create_opt()
        self.opt.load_state_dict(opt_state)
        return self

    def __repr__(self) -> str:
        return (
            f"Learner(model={type(self.model).__name__}, loss_func="
            f"{getattr(self.loss_func, '__name__', self.loss_func)}, opt_func="
            f"{getattr(self.opt_func, '__name__', self.opt_func)}, lr={self.lr}, "
            f"cbs={self._sorted_cbs()})"
        )
