"""Hyper-parameter schedules as callbacks: ``ParamScheduler`` and the learning-rate finder.

:class:`LRFinder` is fastai's: a mock training whose learning rate grows exponentially from
``start_lr`` to ``end_lr`` over ``num_it`` batches, stopped when the smoothed loss exceeds four
times its best, after which the model and optimizer are put back as they were. The
suggestion functions read its curve as fastai's do: :func:`valley` (the default),
:func:`minimum`, :func:`steep` and :func:`slide`; each takes ``(lrs, losses, num_it)`` and
returns ``(suggested_lr, (lr, loss))``, the second being the point to mark on the plot.
"""

from __future__ import annotations

import collections
import functools
import math
import pathlib
import shutil
import tempfile

import numpy as np

from .._validate import finite_number, integer
from ..schedule import one_cycle_schedules
from .core import Callback, CancelFitException, CancelValidException, _pyplot

__all__ = ["LRFinder", "ParamScheduler", "minimum", "slide", "steep", "suggest_lrs", "valley"]


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
        self._update_val(self.learn.pct_train)

    def _update_val(self, pos):
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


class LRFinder(ParamScheduler):
    """Training with an exponentially growing learning rate (fastai's, order 60).

    Before training batch ``i`` (counted over the fit) the learning rate is
    ``start_lr * (end_lr / start_lr) ** (i / num_it)``. After each batch the fit stops when
    ``num_it`` batches are done, or (with ``stop_div``) when the smoothed loss exceeds 4× the
    best smoothed loss so far, or as soon as a loss is NaN or Inf. Validation is skipped. The
    model and optimizer (weights, buffers, optimizer state and hyper-parameters) are saved
    before the first batch and restored when the fit ends, however it ends.

    Parameters
    ----------
    start_lr, end_lr : float, default 1e-7 and 10
    num_it : int, default 100
        At least 6 (smaller values are raised to 6, as fastai does).
    stop_div : bool, default True
    """

    def __init__(self, start_lr=1e-7, end_lr=10, num_it=100, stop_div=True):
        start_lr, end_lr = float(start_lr), float(end_lr)
        if not (0 < start_lr < end_lr and math.isfinite(end_lr)):
            raise ValueError(
                f"start_lr and end_lr must satisfy 0 < start_lr < end_lr < inf, got "
                f"start_lr={start_lr!r}, end_lr={end_lr!r}"
            )
        super().__init__({"lr": functools.partial(_exponential, start_lr, end_lr)})
        self.start_lr, self.end_lr = start_lr, end_lr
        self.num_it, self.stop_div = max(int(num_it), 6), bool(stop_div)
        self._folder = None

    def before_fit(self):
        super().before_fit()
        learn = self.learn
        self._folder = pathlib.Path(tempfile.mkdtemp(prefix="numbaconv-lr-find-"))
        self._had_state = len(learn.opt.state) > 0
        learn.save(self._folder / "start.npz", with_opt=self._had_state)
        self._hypers = [
            {k: v for k, v in group.items() if k != "params"} for group in learn.opt.param_groups
        ]
        self.best_loss = math.inf

    def before_batch(self):
        self._update_val(self.learn.train_iter / self.num_it)

    def after_loss(self):
        # A NaN or Inf loss is divergence: stop before it reaches the weights.
        if self.learn.training and not math.isfinite(float(self.learn.loss)):
            raise CancelFitException

    def after_batch(self):
        super().after_batch()
        smooth = self.learn.smooth_loss
        if smooth < self.best_loss:
            self.best_loss = smooth
        if self.stop_div and smooth > 4 * self.best_loss:
            raise CancelFitException
        if self.learn.train_iter >= self.num_it:
            raise CancelFitException

    def before_validate(self):
        raise CancelValidException

    def after_fit(self):
        super().after_fit()
        self._restore()

    def teardown(self):
        self._restore()

    def _restore(self):
        if self._folder is None:
            return
        folder, self._folder = self._folder, None
        learn = self.learn
        try:
            learn.opt.zero_grad()
            learn.load(folder / "start.npz", with_opt=self._had_state)
            if not self._had_state:
                learn.opt.state.clear()
            for group, hypers in zip(learn.opt.param_groups, self._hypers):
                group.update(hypers)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _exponential(start, end, pos):
    return start * (end / start) ** pos


def valley(lrs, losses, num_it):
    """The learning rate about half-way down the longest valley (fastai's default).

    The longest valley is the longest run of points whose losses strictly decrease (not
    necessarily adjacent: a longest decreasing subsequence); the suggestion lies
    ``⌊d/3⌋ + ⌊d/6⌋`` points after its start, where ``d`` is its length in points.

    Parameters
    ----------
    lrs, losses : array_like of float, shape (n,)
    num_it : int
        Unused; part of the suggestion-function signature.

    Returns
    -------
    (float, (float, float))
        The suggestion and the ``(lr, loss)`` point to mark.
    """
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    n = len(losses)
    # run[i]: length of the longest strictly decreasing subsequence ending at point i
    run = np.ones(n, np.int64)
    for i in range(1, n):
        higher = run[:i][losses[:i] > losses[i]]
        if higher.size:
            run[i] = higher.max() + 1
    end = int(np.argmax(run))  # the first longest
    start = max(end - int(run[end]), 0)
    third = (end - start) / 3
    idx = start + int(third) + int(third / 2)
    return float(lrs[idx]), (float(lrs[idx]), float(losses[idx]))


def slide(lrs, losses, num_it, lr_diff=15, thresh=0.005, adjust_value=1.0):
    """The interval slide rule: walk left from the end, comparing the loss gradient at two
    points ``lr_diff`` apart, until the gradients agree within ``thresh``.

    Parameters
    ----------
    lrs, losses : array_like of float, shape (n,)
    num_it : int
        Unused.
    lr_diff : int, default 15
    thresh : float, default 0.005
    adjust_value : float, default 1.0
        Multiplies the suggestion.

    Returns
    -------
    (float, (float, float))
    """
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    n = len(losses)
    if n <= lr_diff:
        raise ValueError(f"slide needs more than lr_diff={lr_diff} points, got {n}")
    grad = np.gradient(losses)
    right, left = n - 1, n - 1 - lr_diff
    found = lrs[left]
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        found = lrs[left]
        right, left = right - 1, left - 1
    suggestion = float(found) * adjust_value
    loss = float(np.interp(np.log10(suggestion), np.log10(lrs), losses))
    return suggestion, (suggestion, loss)


def minimum(lrs, losses, num_it):
    """A tenth of the learning rate at the lowest loss; marks the minimum itself."""
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    idx = int(np.argmin(losses))
    return float(lrs[idx]) / 10, (float(lrs[idx]), float(losses[idx]))


def steep(lrs, losses, num_it):
    """The learning rate where the loss falls fastest against ``log(lr)``."""
    lrs, losses = np.asarray(lrs, np.float64), np.asarray(losses, np.float64)
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    idx = int(np.argmin(slopes))
    return float(lrs[idx]), (float(lrs[idx]), float(losses[idx]))


def suggest_lrs(lrs, losses, num_it, suggest_funcs=(valley,)):
    """Apply suggestion functions to an ``lr_find`` curve as fastai does.

    The first ``num_it // 10`` and the last 5 points are dropped, and everything from the
    first NaN loss on.

    Parameters
    ----------
    lrs, losses : sequence of float
        ``recorder.lrs`` and ``recorder.losses`` after :class:`LRFinder`.
    num_it : int
    suggest_funcs : callable or sequence of callables
        Each ``func(lrs, losses, num_it) -> (lr, (lr, loss))``; ``functools.partial`` works.

    Returns
    -------
    result : namedtuple ``SuggestedLRs``
        One field per function, named after it (``result.valley``).
    points : list of (float, float)
        The point each function marks.
    names : list of str
    """
    funcs = list(suggest_funcs) if isinstance(suggest_funcs, (list, tuple)) else [suggest_funcs]
    lrs = np.asarray(lrs, np.float64)[num_it // 10 : -5]
    losses = np.asarray(losses, np.float64)[num_it // 10 : -5]
    nan = np.flatnonzero(np.isnan(losses))
    if nan.size:
        lrs, losses = lrs[: nan[0]], losses[: nan[0]]
    if len(losses) < 2:
        raise ValueError(
            f"lr_find recorded too few points to suggest a learning rate ({len(losses)} after "
            f"dropping the first num_it//10={num_it // 10} and the last 5); the loss diverged "
            "early: lower start_lr or raise num_it"
        )
    names, values, points = [], [], []
    for func in funcs:
        names.append(func.func.__name__ if isinstance(func, functools.partial) else func.__name__)
        value, point = func(lrs, losses, num_it)
        values.append(value)
        points.append(point)
    result = collections.namedtuple("SuggestedLRs", names)(*values)
    return result, points, names


class _ScheduledFits:
    """``fit_one_cycle`` and ``lr_find`` of :class:`numbaconv.Learner` (fastai defines both
    beside its schedules, in ``callback/schedule.py``)."""

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

    def lr_find(
        self,
        start_lr=1e-7,
        end_lr=10,
        num_it=100,
        stop_div=True,
        show_plot=True,
        suggest_funcs=(valley,),
    ):
        """fastai's learning-rate finder: a mock training with an exponentially growing lr.

        Trains on ``dls.train`` with :class:`~numbaconv.callbacks.LRFinder` (lr from
        ``start_lr`` to ``end_lr`` over ``num_it`` batches, stopped when the smoothed loss
        exceeds 4× its best), printing nothing, then puts the model and optimizer back as
        they were. The curve stays in ``recorder.lrs`` / ``recorder.losses``.

        Parameters
        ----------
        start_lr, end_lr : float, default 1e-7 and 10
        num_it : int, default 100
        stop_div : bool, default True
        show_plot : bool, default True
            Draw :meth:`~numbaconv.callbacks.Recorder.plot_lr_find` with the suggestions
            (needs matplotlib).
        suggest_funcs : callable or tuple of callables, default (valley,)
            From :mod:`numbaconv.callbacks`: ``valley``, ``minimum``, ``steep``, ``slide``.
            None: no suggestions.

        Returns
        -------
        SuggestedLRs or None
            A named tuple with one field per function (``result.valley``).
        """
        if show_plot:
            _pyplot()  # fail before training, not after it
        num_it = integer("num_it", num_it, minimum=1)
        finder = LRFinder(start_lr=start_lr, end_lr=end_lr, num_it=num_it, stop_div=stop_div)
        n_epoch = finder.num_it // len(self.dls.train) + 1
        if self.opt is None:
            self.create_opt()
        # fit() sets the lr before the finder saves the optimizer: give it the current one, so
        # that what is restored is what was there.
        lr = self.opt.param_groups[-1]["lr"]
        with self.no_logging():
            self.fit(n_epoch, lr=lr, cbs=finder)
        if suggest_funcs is None:
            if show_plot:
                self.recorder.plot_lr_find()
            return None
        result, points, names = suggest_lrs(
            self.recorder.lrs, self.recorder.losses, finder.num_it, suggest_funcs
        )
        if show_plot:
            self.recorder.plot_lr_find(suggestions=points, nms=names)
        return result
