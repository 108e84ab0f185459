"""Cosine and one-cycle hyper-parameter schedules, as fastai defines them.

A schedule is a function of the training position ``pos`` in [0, 1] (fastai's
``pct_train``: step ``i`` of ``total`` training steps is at ``i / total``). Every
function here takes a Python float (and returns one) or a NumPy array of positions
(and returns an array of the same shape). Plotting belongs to the Learner; this
module only computes the values (see :func:`schedule_values`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import numpy as np

from ._validate import finite_number

__all__ = [
    "combined_cos",
    "one_cycle_schedules",
    "sched_cos",
    "schedule_values",
    "training_positions",
]


def _positions(pos):
    """``pos`` as a float64 array plus whether the caller gave a scalar."""
    if isinstance(pos, (bool, np.bool_)):
        raise TypeError(f"pos must be a real number or an array of them, got {pos!r}")
    arr = np.asarray(pos)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"pos must be a real number or an array of them, got dtype {arr.dtype} ({pos!r})"
        )
    arr = arr.astype(np.float64)
    if arr.size and not (np.all(arr >= 0.0) and np.all(arr <= 1.0)):
        bad = arr[~((arr >= 0.0) & (arr <= 1.0))].ravel()[0]
        raise ValueError(f"pos must lie in [0, 1] (the fraction of training done), got {bad}")
    return arr, arr.ndim == 0


def _cos_weight(pos: np.ndarray) -> np.ndarray:
    # 0 at pos 0 and 1 at pos 1 exactly (cos(pi) rounds to -1, cos(0) is 1).
    return (1.0 + np.cos(np.pi * (1.0 - pos))) / 2.0


def _lerp(start: float, end: float, weight: np.ndarray) -> np.ndarray:
    # fastai writes start + w*(end - start); this form is the same up to rounding but
    # lands exactly on start and end at the phase ends.
    return start * (1.0 - weight) + end * weight


def sched_cos(start, end, pos):
    """Cosine annealing from ``start`` (pos 0) to ``end`` (pos 1).

    ``start + (1 + cos(π(1 − pos))) (end − start) / 2``, fastai's ``sched_cos``.

    Parameters
    ----------
    start, end : float
        Values at ``pos = 0`` and ``pos = 1`` (returned exactly there).
    pos : float or array_like of float
        Position(s) in [0, 1].

    Returns
    -------
    float or numpy.ndarray of float64
        A float for a scalar ``pos``, else an array of ``pos``'s shape.
    """
    start = finite_number("start", start)
    end = finite_number("end", end)
    arr, scalar = _positions(pos)
    values = _lerp(start, end, _cos_weight(arr))
    return float(values) if scalar else values


def combined_cos(pct, start, middle, end) -> Callable:
    """Two cosine phases: ``start → middle`` over ``[0, pct)``, ``middle → end`` after.

    fastai's ``combined_cos(pct, start, middle, end)``, i.e.
    ``combine_scheds([pct, 1 - pct], [SchedCos(start, middle), SchedCos(middle, end)])``:
    phase 1 runs at ``pos / pct`` and phase 2 at ``(pos − pct) / (1 − pct)``; ``pos ==
    pct`` belongs to phase 2 (value ``middle``). ``pct = 0`` is phase 2 only, ``pct =
    1`` phase 1 only.

    Parameters
    ----------
    pct : float
        Length of the first phase, in [0, 1].
    start, middle, end : float
        Values at ``pos = 0``, ``pos = pct`` and ``pos = 1``.

    Returns
    -------
    callable
        ``f(pos)`` for a float or an array of positions in [0, 1] (see :func:`sched_cos`).
    """
    pct = finite_number("pct", pct, minimum=0, maximum=1)
    start = finite_number("start", start)
    middle = finite_number("middle", middle)
    end = finite_number("end", end)

    def schedule(pos):
        arr, scalar = _positions(pos)
        in_second = arr >= pct if pct < 1.0 else np.zeros(arr.shape, dtype=bool)
        # Where a phase does not apply its position is replaced by 0, so no 0/0 appears.
        first_pos = np.where(in_second, 0.0, arr / pct if pct > 0 else 0.0)
        second_pos = np.where(in_second, (arr - pct) / (1.0 - pct) if pct < 1 else 0.0, 0.0)
        values = np.where(
            in_second,
            _lerp(middle, end, _cos_weight(second_pos)),
            _lerp(start, middle, _cos_weight(first_pos)),
        )
        return float(values) if scalar else values

    schedule.__doc__ = f"combined_cos(pct={pct}, start={start}, middle={middle}, end={end})"
    return schedule


def one_cycle_schedules(
    lr_max, div=25.0, div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95)
) -> tuple[Callable, Callable]:
    """The learning-rate and momentum schedules of fastai's ``fit_one_cycle``.

    ``lr = combined_cos(pct_start, lr_max/div, lr_max, lr_max/div_final)`` and
    ``mom = combined_cos(pct_start, *moms)``.

    Parameters
    ----------
    lr_max : float
        Peak learning rate, reached at ``pos = pct_start``; >= 0.
    div : float, default 25
        The start value is ``lr_max / div``; > 0.
    div_final : float, default 1e5
        The final value is ``lr_max / div_final``; > 0.
    pct_start : float, default 0.25
        Fraction of training spent warming up, in [0, 1].
    moms : (float, float, float) or None, default (0.95, 0.85, 0.95)
        Momentum at the start, at ``pct_start`` and at the end; None means the default.

    Returns
    -------
    (lr_fn, mom_fn) : tuple of callables
        Functions of a float or an array of positions in [0, 1].
    """
    lr_max = finite_number("lr_max", lr_max)
    if lr_max < 0:
        raise ValueError(f"lr_max must be >= 0, got {lr_max}")
    div = finite_number("div", div)
    div_final = finite_number("div_final", div_final)
    for name, value in (("div", div), ("div_final", div_final)):
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    pct_start = finite_number("pct_start", pct_start, minimum=0, maximum=1)
    if moms is None:
        moms = (0.95, 0.85, 0.95)
    if isinstance(moms, (str, bytes)) or not hasattr(moms, "__len__") or len(moms) != 3:
        raise ValueError(f"moms must be three numbers (start, middle, end), got {moms!r}")
    mom_values = [finite_number(f"moms[{i}]", m) for i, m in enumerate(moms)]
    lr_fn = combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final)
    mom_fn = combined_cos(pct_start, *mom_values)
    return lr_fn, mom_fn


def training_positions(n_steps) -> np.ndarray:
    """``i / n_steps`` for every ``i`` in ``range(n_steps)``: where each training step sits.

    Parameters
    ----------
    n_steps : int
        Number of training steps (batches × epochs), >= 0.

    Returns
    -------
    numpy.ndarray of float64, shape (n_steps,)
    """
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, numbers.Integral):
        raise TypeError(f"n_steps must be an integer, got {n_steps!r}")
    n_steps = int(n_steps)
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    return np.arange(n_steps, dtype=np.float64) / max(n_steps, 1)


def schedule_values(schedules: Mapping[str, Callable], n_steps) -> dict[str, np.ndarray]:
    """Values of each schedule at every training step, ready for ``plot_sched``.

    Parameters
    ----------
    schedules : mapping of str to callable
        Hyper-parameter name to schedule, e.g. ``dict(zip(("lr", "mom"),
        one_cycle_schedules(0.01)))``.
    n_steps : int
        Number of training steps; step ``i`` is at position ``i / n_steps``.

    Returns
    -------
    dict of str to numpy.ndarray of float64, shape (n_steps,)
    """
    if not isinstance(schedules, Mapping):
        raise TypeError(f"schedules must be a mapping of name to callable, got {schedules!r}")
    positions = training_positions(n_steps)
    values = {}
    for name, fn in schedules.items():
        if not callable(fn):
            raise TypeError(f"schedules[{name!r}] must be callable, got {fn!r}")
        values[name] = np.asarray(fn(positions), dtype=np.float64).reshape(positions.shape)
    return values
