"""``Learner``: the training loop of fastai's ``Learner``, with its defaults and callbacks.

A Learner ties data (``dls.train`` / ``dls.valid``), a model, a loss function and an
optimizer together. ``fit`` runs epochs of training batches then validation batches,
calling the callbacks' event handlers at each step (see
:data:`numbaconv.callbacks.EVENTS`); the default callbacks record losses and metrics
(:class:`~numbaconv.callbacks.Recorder`), switch train/eval mode
(:class:`~numbaconv.callbacks.TrainEvalCallback`) and print the epoch table
(:class:`~numbaconv.callbacks.ProgressCallback`). ``fit_one_cycle`` adds fastai's
one-cycle schedule of learning rate and momentum.

Every training loss is checked before ``backward`` and every gradient before the
optimizer step: a NaN or Inf raises :class:`NonFiniteLossError` and the weights (and
batch-norm running statistics) stay as they were before that batch.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import warnings
from collections import OrderedDict

import numpy as np

from . import serialization
from ._validate import describe as _describe
from ._validate import finite_number, integer
from .autograd import Tensor, no_grad
from .callbacks.core import (
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    ParamScheduler,
    ProgressCallback,
    Recorder,
    TrainEvalCallback,
)
from .callbacks.tracker import NonFiniteLossError
from .nn import BatchNorm2d, CrossEntropyLoss, Module
from .nn import functional as F
from .optim import Adam, split_bn_bias
from .schedule import one_cycle_schedules

__all__ = ["Learner", "NonFiniteLossError", "SummaryText"]

_OPT_PREFIX = "opt::"


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _is_norm(module) -> bool:
    return isinstance(module, BatchNorm2d) or "Norm" in type(module).__name__


class SummaryText(str):
    """A str whose repr is itself, so ``learn.summary()`` displays as text in a REPL."""

    def __repr__(self) -> str:
        return str(self)


def _shape_text(shape, bs) -> str:
    # fastai's _print_shapes: the batch axis shows the real batch size.
    return " x ".join([str(bs)] + [str(d) for d in shape[1:]])


class Learner:
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
        Added after the defaults (TrainEvalCallback, Recorder, ProgressCallback).
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
    xb : Tensor, yb : ndarray, pred : Tensor
        The current batch and the model's output.
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
        self.epoch = self.n_epoch = self.iter = self.n_iter = self.train_iter = 0
        self.pct_train = 0.0
        self.xb = self.yb = self.pred = self.loss = self.loss_grad = None
        self.smooth_loss = None
        self.dl = None
        self._in_fit = False
        self.cbs = []
        for cb in (TrainEvalCallback, Recorder, ProgressCallback):
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

    def fit_one_cycle(
        self,
        n_epoch,
        lr_max=None,
        div=25.0,
        div_final=1e5,
        pct_start=0.25,
        wd=None,
        moms=None,
        cbs=None,
        reset_opt=False,
        start_epoch=0,
    ):
        """Train with fastai's one-cycle policy.

        The learning rate follows ``combined_cos(pct_start, lr_max/div, lr_max,
        lr_max/div_final)`` and the momentum ``combined_cos(pct_start, *moms)``, both set
        before each training batch at position ``pct_train`` (step ``i`` of ``N`` training
        steps is at ``i/N``).

        Parameters
        ----------
        n_epoch : int
        lr_max : float, optional
            Peak learning rate; default ``self.lr``.
        div, div_final, pct_start : float
            See :func:`numbaconv.schedule.one_cycle_schedules`.
        wd : float, optional
            As in :meth:`fit`.
        moms : (float, float, float), optional
            Default ``self.moms`` = (0.95, 0.85, 0.95).
        cbs, reset_opt, start_epoch
            As in :meth:`fit`.
        """
        lr_max = self.lr if lr_max is None else finite_number("lr_max", lr_max, minimum=0)
        moms = self.moms if moms is None else self._moms("moms", moms)
        lr_fn, mom_fn = one_cycle_schedules(
            lr_max, div=div, div_final=div_final, pct_start=pct_start, moms=moms
        )
        scheduler = ParamScheduler({"lr": lr_fn, "mom": mom_fn})
        self.fit(
            n_epoch,
            lr=lr_max,
            wd=wd,
            cbs=[scheduler, *self._as_cb_list(cbs)],
            reset_opt=reset_opt,
            start_epoch=start_epoch,
        )

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
        x, y = batch
        self.xb = x if isinstance(x, Tensor) else Tensor(x)
        self.yb = np.asarray(y.data if isinstance(y, Tensor) else y)
        self._with_events(self._do_one_batch, "batch", CancelBatchException)

    def _backup_buffers(self):
        # Running statistics change in the forward pass, before the loss can be checked; a
        # copy (a few numbers per channel) lets a non-finite batch leave them untouched.
        self._buffer_backup = [
            (module._buffers, name, np.array(buf, copy=True))
            for module in self.model.modules()
            for name, buf in module._buffers.items()
            if buf is not None
        ]

    def _restore_buffers(self):
        for buffers, name, saved in self._buffer_backup:
            buffers[name][...] = saved

    def _do_one_batch(self):
        if self.training:
            self._backup_buffers()
        self.pred = self.model(self.xb)
        self("after_pred")
        if len(self.yb):
            self.loss_grad = self.loss_func(self.pred, self.yb)
            self.loss = self.loss_grad.detach()
        self("after_loss")
        if not self.training or not len(self.yb):
            return
        self._check_finite_loss()
        self._with_events(self._backward, "backward", CancelBackwardException)
        self._with_events(self._step, "step", CancelStepException)
        self.opt.zero_grad()

    def _check_finite_loss(self):
        values = np.asarray(self.loss_grad.data)
        if not np.all(np.isfinite(values)):
            bad = values[~np.isfinite(values)].ravel()[0]
            self._restore_buffers()
            raise NonFiniteLossError(self.epoch, self.iter, float(bad))

    def _backward(self):
        self.loss_grad.backward()

    def _step(self):
        # A non-finite gradient would poison the weights (and Adam's moments): refuse it.
        for group in self.opt.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                grad = np.asarray(getattr(grad, "data", grad))
                if not np.all(np.isfinite(grad)):
                    bad = float(grad[~np.isfinite(grad)].ravel()[0])
                    self.opt.zero_grad()
                    self._restore_buffers()
                    name = self._param_names.get(id(param), "?")
                    raise NonFiniteLossError(self.epoch, self.iter, bad, f"gradient of {name!r}")
        self.opt.step()

    # ------------------------------------------------------------ evaluation
    def validate(self, dl=None) -> list:
        """Run the model over ``dl`` (default ``dls.valid``) in eval mode.

        Returns
        -------
        list of float
            ``[valid_loss, *metrics]``, sample-weighted means over ``dl``.
        """
        recorder = self.__dict__.get("recorder")
        if not isinstance(recorder, Recorder):
            raise RuntimeError("validate() needs the Recorder callback (learn.recorder)")
        recorder._wrap_metrics()  # pick up metrics changed since the last fit
        self.training = False
        self.model.eval()
        with self.no_logging():
            self._do_epoch_validate(dl)
        return recorder.valid_values()

    def _to_tensor(self, x):
        return x if isinstance(x, Tensor) else Tensor(x)

    def _default_activation(self):
        if self.loss_func is F.cross_entropy or isinstance(self.loss_func, CrossEntropyLoss):
            return _softmax
        return None

    def get_preds(self, dl=None, act="auto"):
        """Predictions and targets over ``dl`` (default ``dls.valid``), in eval mode.

        Parameters
        ----------
        dl : iterable of (x, y), optional
        act : callable, None or "auto"
            Applied to the model's outputs (an ndarray). "auto": softmax when the loss is
            cross-entropy (so the result is probabilities), else nothing.

        Returns
        -------
        preds : ndarray, shape (N, C)
        targets : ndarray, shape (N,)
        """
        dl = self.dls.valid if dl is None else dl
        act = self._default_activation() if act == "auto" else act
        was_training = self.model.training
        self.model.eval()
        preds, targets = [], []
        try:
            with no_grad():
                for x, y in dl:
                    preds.append(np.asarray(self.model(self._to_tensor(x)).data))
                    targets.append(np.asarray(y.data if isinstance(y, Tensor) else y))
        finally:
            self.model.train(was_training)
        if not preds:
            return np.empty((0,), np.float32), np.empty((0,), np.int64)
        out = np.concatenate(preds)
        return (out if act is None else act(out)), np.concatenate(targets)

    def _prepare_item(self, item) -> np.ndarray:
        x = np.asarray(item.data if isinstance(item, Tensor) else item)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255)
        elif x.dtype.kind == "f":
            x = x.astype(np.float32)
        else:
            raise TypeError(
                f"item must be uint8 pixels or a float array, got dtype {x.dtype} (shape {x.shape})"
            )
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"item must have shape (H, W) or (C, H, W), got shape {x.shape}")
        normalize = getattr(self.dls.valid, "normalize", None)
        batch = x[None]
        return normalize(batch) if normalize is not None else batch

    def predict(self, item):
        """Classify one image, prepared as the validation loader prepares its images.

        Parameters
        ----------
        item : ndarray, shape (H, W) or (C, H, W)
            uint8 pixels (divided by 255) or floats; then ``dls.valid.normalize`` if any.

        Returns
        -------
        label : str or int
            ``dls.vocab[index]`` when the data has a vocab, else ``index``.
        index : int
            The predicted class.
        probs : ndarray of float32, shape (C,)
            Softmax of the model's output (raw output for a non-cross-entropy loss).
        """
        preds, _ = self.get_preds(dl=[(self._prepare_item(item), np.zeros(1, np.int64))])
        probs = preds[0]
        index = int(np.argmax(probs))
        vocab = getattr(self.dls, "vocab", None)
        label = vocab[index] if vocab is not None else index
        return label, index, probs

    # ------------------------------------------------------------ summary
    def _sample_batch(self):
        train = self.dls.train
        one_batch = getattr(train, "one_batch", None)
        if callable(one_batch):  # does not consume the loader's shuffling state
            return one_batch()
        for batch in train:
            return batch
        raise ValueError("dls.train yields no batch; summary() needs one")

    def summary(self) -> SummaryText:
        """Layer table as fastai prints it (chapter 13 §2.3), then optimizer, loss, callbacks.

        One training batch's first item goes through the model in eval mode (no statistics
        or gradients change); shapes are shown with the batch's size.

        Returns
        -------
        SummaryText
            A str (displayed as text in a REPL; ``print`` it in a script).
        """
        x, _ = self._sample_batch()
        x = np.asarray(x.data if isinstance(x, Tensor) else x)
        bs = x.shape[0]
        leaves = [m for m in self.model.modules() if next(m.children(), None) is None]
        rows = []

        def make_hook(module):
            def hook(mod, inputs, output):
                params = list(mod.parameters())
                n_params = int(sum(p.data.size for p in params))
                trainable = any(p.requires_grad for p in params)
                rows.append((type(mod).__name__, tuple(output.shape), n_params, trainable))

            return hook

        handles = [m.register_forward_hook(make_hook(m)) for m in leaves]
        was_training = self.model.training
        try:
            self.model.eval()
            with no_grad():
                self.model(Tensor(x[:1]))
        finally:
            self.model.train(was_training)
            for handle in handles:
                handle.remove()
        width = 64
        input_shape = [_shape_text(x.shape, bs)]
        lines = [
            f"{type(self.model).__name__} (Input shape: {input_shape})",
            "=" * width,
            f"{'Layer (type)':<20} {'Output Shape':<20} {'Param #':<10} {'Trainable':<10}",
            "=" * width,
        ]
        total = trainable_total = 0
        for type_name, shape, n_params, trainable in rows:
            total += n_params
            trainable_total += n_params if trainable else 0
            lines.append(
                f"{type_name:<20} {_shape_text(shape, bs)[:19]:<20} {n_params:<10,} "
                f"{trainable!s:<10}"
            )
            lines.append("_" * width)
        lines += [
            "",
            f"Total params: {total:,}",
            f"Total trainable params: {trainable_total:,}",
            f"Total non-trainable params: {total - trainable_total:,}",
            "",
            f"Optimizer used: {self.opt_func}",
            f"Loss function: {self.loss_func}",
            "",
            "Callbacks:",
        ]
        lines += [f"  - {cb}" for cb in self._sorted_cbs()]
        return SummaryText("\n".join(lines))

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
