"""Adam with fastai's semantics (``fastai.optimizer.Adam``), defaults included."""

from __future__ import annotations

from .._validate import boolean as _flag
from .._validate import finite_number
from ..ops import optim as optim_ops
from .optimizer import Optimizer, _unit_interval


class Adam(Optimizer):
    """Adam with fastai's semantics (``fastai.optimizer.Adam``), defaults included.

    For each parameter ``p`` with gradient ``g``, in this order::

        p *= 1 - lr * wd                            # if decouple_wd and do_wd and wd
        g = g + wd * p                              # instead, if not decouple_wd (L2)
        m = mom * m + (1 - mom) * g
        v = sqr_mom * v + (1 - sqr_mom) * g**2
        step += 1
        p -= lr / (1 - mom**step) * m / (sqrt(v / (1 - sqr_mom**step)) + eps)

    ``m`` and ``v`` start at zero; the bias corrections use the *current* ``mom`` and
    ``sqr_mom``, which a one-cycle schedule changes every step (``set_hyper("mom", ...)``).
    The L2 variant does not modify ``p.grad``.

    Parameters
    ----------
    params : iterable of parameters or of param-group dicts
        See :class:`Optimizer`; give biases and batch-norm parameters a group with
        ``"do_wd": False`` (see :func:`split_bn_bias`).
    lr : float, default 1e-3
        >= 0.
    mom : float, default 0.9
        β1, in [0, 1).
    sqr_mom : float, default 0.99
        β2, in [0, 1).
    eps : float, default 1e-5
        Added outside the square root, >= 0.
    wd : float, default 0.01
        Weight decay, >= 0.
    decouple_wd : bool, default True
        Decoupled (AdamW-style) decay; False adds ``wd * p`` to the gradient instead.
    """

    momentum_hyper = "mom"

    def __init__(self, params, lr=1e-3, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01, decouple_wd=True):
        defaults = {
            "lr": lr,
            "mom": mom,
            "sqr_mom": sqr_mom,
            "eps": eps,
            "wd": wd,
            "decouple_wd": decouple_wd,
        }
        self._check_hypers(defaults)
        super().__init__(params, defaults)

    def _check_hypers(self, group: dict) -> None:
        finite_number("lr", group["lr"], minimum=0)
        _unit_interval("mom", group["mom"])
        _unit_interval("sqr_mom", group["sqr_mom"])
        finite_number("eps", group["eps"], minimum=0)
        finite_number("wd", group["wd"], minimum=0)
        _flag("decouple_wd", group["decouple_wd"])

    def _update(self, group, state, data, grad):
        if "grad_avg" not in state:
            backend = self._device_of(data)
            state["grad_avg"] = backend.zeros(data.shape, data.dtype)
            state["sqr_avg"] = backend.zeros(data.shape, data.dtype)
            state["step"] = 0
        state["step"] += 1
        optim_ops.adam_step(
            data,
            grad,
            state["grad_avg"],
            state["sqr_avg"],
            step=state["step"],
            lr=group["lr"],
            mom=group["mom"],
            sqr_mom=group["sqr_mom"],
            eps=group["eps"],
            wd=group["wd"] if group["do_wd"] else 0.0,
            decouple_wd=group["decouple_wd"],
        )
