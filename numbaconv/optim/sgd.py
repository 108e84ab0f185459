"""SGD with PyTorch's semantics (``torch.optim.SGD``)."""

from __future__ import annotations

from .._validate import boolean as _flag
from .._validate import finite_number
from ..ops import optim as optim_ops
from .optimizer import Optimizer, _closed_unit_interval


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's ``torch.optim.SGD`` semantics.

    For each parameter ``p`` with gradient ``g`` (shapes equal, any float dtype)::

        g = g + weight_decay * p                    # if weight_decay and do_wd
        if momentum:
            buf = g.copy() on the first step, else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g

    Parameters
    ----------
    params : iterable of parameters or of param-group dicts
        See :class:`Optimizer`.
    lr : float
        Learning rate, >= 0.
    momentum : float, default 0
        >= 0.
    dampening : float, default 0
        In [0, 1].
    weight_decay : float, default 0
        L2 penalty added to the gradient, >= 0.
    nesterov : bool, default False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        self._check_hypers(defaults)
        super().__init__(params, defaults)

    def _check_hypers(self, group: dict) -> None:
        finite_number("lr", group["lr"], minimum=0)
        momentum = finite_number("momentum", group["momentum"], minimum=0)
        dampening = _closed_unit_interval("dampening", group["dampening"])
        finite_number("weight_decay", group["weight_decay"], minimum=0)
        if _flag("nesterov", group["nesterov"]) and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening == 0, got momentum={momentum} "
                f"and dampening={dampening}"
            )

    def _update(self, group, state, data, grad):
        momentum = group["momentum"]
        buf = state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if first:
            buf = self._device_of(data).empty(data.shape, data.dtype)
        optim_ops.sgd_step(
            data,
            grad,
            buf if momentum != 0 else None,
            lr=group["lr"],
            momentum=momentum,
            dampening=group["dampening"],
            weight_decay=group["weight_decay"] if group["do_wd"] else 0.0,
            nesterov=group["nesterov"],
            first_step=first,
        )
        if first:
            state["momentum_buffer"] = buf
