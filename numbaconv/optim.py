"""Optimizers: PyTorch's SGD and fastai's Adam, with param groups and settable hypers.

The optimizers work on a duck type: any object with ``.data`` (a NumPy float array,
updated in place) and ``.grad`` (a NumPy array of the same shape, or ``None`` to skip
the parameter this step). ``numbaconv.nn.Parameter`` is such an object. Parameters whose
``.data`` is a CUDA device array (a model moved with ``.to("cuda")``) are updated by CUDA
kernels (``numbaconv.kernels.cuda.optim``) with the same math, their state buffers live on the
device, and a step copies nothing to the host.

Weight decay can be switched off per group with ``"do_wd": False`` (fastai's
``do_wd``): unlike setting the group's decay to 0, the flag survives schedules that
call ``set_hyper`` on the decay. :func:`split_bn_bias` builds such groups so that
biases and batch-norm parameters are not decayed, as fastai's ``wd_bn_bias=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from . import _backend
from ._validate import boolean as _flag
from ._validate import describe as _describe
from ._validate import finite_number

__all__ = ["SGD", "Adam", "Optimizer", "split_bn_bias"]


def _unit_interval(name: str, value) -> float:
    """A value in [0, 1): the moving-average coefficients (betas)."""
    value = finite_number(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def _closed_unit_interval(name: str, value) -> float:
    return finite_number(name, value, minimum=0, maximum=1)


class ParamState:
    """Per-parameter state, indexed by the parameter object itself.

    Keys are object identities, not values: parameters wrap arrays, whose ``==`` is
    elementwise and whose hash is undefined.
    """

    def __init__(self):
        self._entries: dict[int, tuple[object, dict]] = {}

    def __getitem__(self, param) -> dict:
        entry = self._entries.get(id(param))
        if entry is None:
            entry = (param, {})
            self._entries[id(param)] = entry
        return entry[1]

    def __contains__(self, param) -> bool:
        return id(param) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):
        """``(param, state dict)`` pairs for every parameter that has state."""
        return [(p, s) for p, s in self._entries.values()]

    def clear(self) -> None:
        self._entries.clear()


class Optimizer:
    """Base class: param groups, per-parameter state, ``zero_grad`` and ``set_hyper``.

    Parameters
    ----------
    params : iterable
        Either parameters (objects with ``.data`` and ``.grad``) or dicts, each with a
        ``"params"`` entry (an iterable of parameters) and optional per-group values of
        the optimizer's hyper-parameters, ``"do_wd"`` (bool, default True) and ``"name"``.
    defaults : dict
        Hyper-parameter values for groups that do not set them.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``"params"`` (list), ``"do_wd"`` and every hyper-parameter.
        Values may be assigned between steps (``opt.param_groups[0]["lr"] = 0.1``); they
        are validated again at each ``step()``.
    state : ParamState
        ``opt.state[param]`` is the dict of that parameter's buffers and counters.
    """

    #: Name of the momentum-like hyper-parameter that a one-cycle schedule drives.
    momentum_hyper: str = "momentum"

    def __init__(self, params, defaults: Mapping):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state = ParamState()
        if isinstance(params, (np.ndarray, Mapping)) or not isinstance(params, Iterable):
            raise TypeError(
                "params must be an iterable of parameters or of param-group dicts, "
                f"got {_describe(params)}"
            )
        items = list(params)
        if not items:
            raise ValueError("params is empty; the optimizer needs at least one parameter")
        if all(isinstance(item, Mapping) for item in items):
            for group in items:
                self.add_param_group(group)
        elif any(isinstance(item, Mapping) for item in items):
            raise TypeError("params must be all parameters or all param-group dicts, not a mix")
        else:
            self.add_param_group({"params": items})

    # Subclasses check their own hyper-parameters here; errors name the argument.
    def _check_hypers(self, group: dict) -> None:
        raise NotImplementedError

    def add_param_group(self, group: Mapping) -> None:
        """Append a group (a dict with ``"params"`` and optional overrides)."""
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"a param group must be a dict with a 'params' entry, got {group!r}")
        allowed = set(self.defaults) | {"params", "do_wd", "name"}
        unknown = sorted(set(group) - allowed)
        if unknown:
            raise ValueError(
                f"param group has unknown keys {unknown}; expected some of {sorted(allowed)}"
            )
        raw = group["params"]
        if isinstance(raw, (np.ndarray, Mapping)) or not isinstance(raw, Iterable):
            raw = [raw]
        params = list(raw)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not hasattr(p, "data") or not hasattr(p, "grad"):
                raise TypeError(
                    f"each parameter needs .data and .grad attributes, got {_describe(p)}"
                )
            on_host = isinstance(p.data, np.ndarray)
            if not (on_host or _backend.is_device_array(p.data)) or p.data.dtype.kind != "f":
                raise TypeError(
                    "parameter .data must be a floating-point NumPy or CUDA device array, got "
                    f"{_describe(p.data)}"
                )
            if id(p) in seen:
                raise ValueError("a parameter appears in more than one param group (or twice)")
            seen.add(id(p))
        new = dict(self.defaults)
        new.update({k: v for k, v in group.items() if k != "params"})
        new.setdefault("do_wd", True)
        new["do_wd"] = _flag("do_wd", new["do_wd"])
        new["params"] = params
        self._check_hypers(new)
        self.param_groups.append(new)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to ``None``."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def set_hyper(self, name: str, value) -> None:
        """Set hyper-parameter ``name`` in every group.

        ``value`` is one number for all groups or a sequence with one number per group.
        """
        if name not in self.defaults:
            raise ValueError(
                f"name must be one of {sorted(self.defaults)} for {type(self).__name__}, "
                f"got {name!r}"
            )
        if isinstance(value, (list, tuple, np.ndarray)):
            values = list(value)
            if len(values) != len(self.param_groups):
                raise ValueError(
                    f"value has {len(values)} entries; expected one per param group "
                    f"({len(self.param_groups)})"
                )
        else:
            values = [value] * len(self.param_groups)
        updated = []
        for group, v in zip(self.param_groups, values, strict=True):
            trial = dict(group)
            trial[name] = v
            self._check_hypers(trial)
            updated.append(trial[name])
        for group, v in zip(self.param_groups, updated, strict=True):
            group[name] = v

    def _params_with_grad(self, group: dict):
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            data = p.data
            on_device = _backend.is_device_array(data)
            if on_device != _backend.is_device_array(grad):
                raise TypeError(
                    f"grad lives on {'cpu' if on_device else 'cuda'} but the parameter's data "
                    f"lives on {'cuda' if on_device else 'cpu'}"
                )
            if not on_device:
                grad = np.asarray(grad)
            if tuple(grad.shape) != tuple(data.shape):
                raise ValueError(
                    f"grad has shape {tuple(grad.shape)}; expected {tuple(data.shape)}, the "
                    "shape of the parameter's data"
                )
            yield p, data, grad

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            self._check_hypers(group)
            for p, data, grad in self._params_with_grad(group):
                if _backend.is_device_array(data):
                    data, grad = _device_flat(data), _device_flat(grad, data.dtype)
                    self._update_device(group, self.state[p], data, grad)
                else:
                    self._update(group, self.state[p], data, grad)

    def _update(self, group: dict, state: dict, data: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def _update_device(self, group: dict, state: dict, data, grad) -> None:
        """As ``_update`` for flat (1-D) CUDA device arrays, in place."""
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hypers = ", ".join(f"{k}={group[k]!r}" for k in self.defaults)
            lines.append(
                f"  group {i}: {len(group['params'])} params, {hypers}, do_wd={group['do_wd']}"
            )
        lines.append(")")
        return "\n".join(lines)


def _device_flat(array, dtype=None):
    """A 1-D C-contiguous view (or, when needed, a copy) of a device array, in ``dtype``."""
    array = _backend.as_device_array(array)
    if not array.is_c_contiguous() or (dtype is not None and array.dtype != dtype):
        array = _backend.CUDA.contiguous(array, array.dtype if dtype is None else dtype)
    return array.reshape(array.size)


def _cuda_optim():
    return _backend.CUDA.kernels.optim


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
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        step = grad
        if weight_decay != 0 and group["do_wd"]:
            step = step + weight_decay * data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # PyTorch's first step: the buffer is the (decayed) gradient, undamped.
                buf = np.array(step, dtype=data.dtype, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= momentum
                buf += (1.0 - float(group["dampening"])) * step
            step = step + momentum * buf if group["nesterov"] else buf
        data -= lr * step

    def _update_device(self, group, state, data, grad):
        as_dtype = data.dtype.type
        momentum = float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        use_momentum = momentum != 0
        first = False
        buf = data  # not touched by the kernel without momentum
        if use_momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = _backend.CUDA.empty(data.shape, data.dtype)
                state["momentum_buffer"] = buf
                first = True
        _cuda_optim().sgd_step(
            data,
            grad,
            buf,
            as_dtype(group["lr"]),
            as_dtype(momentum),
            as_dtype(1.0 - float(group["dampening"])),
            as_dtype(weight_decay),
            bool(weight_decay != 0 and group["do_wd"]),
            use_momentum,
            first,
            bool(group["nesterov"]),
        )


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
        lr = float(group["lr"])
        mom = float(group["mom"])
        sqr_mom = float(group["sqr_mom"])
        wd = float(group["wd"])
        if wd != 0 and group["do_wd"]:
            if group["decouple_wd"]:
                data *= 1.0 - lr * wd
            else:
                grad = grad + wd * data
        if "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(data)
            state["sqr_avg"] = np.zeros_like(data)
            state["step"] = 0
        grad_avg = state["grad_avg"]
        sqr_avg = state["sqr_avg"]
        grad_avg *= mom
        grad_avg += (1.0 - mom) * grad
        sqr_avg *= sqr_mom
        sqr_avg += (1.0 - sqr_mom) * (grad * grad)
        state["step"] += 1
        step = state["step"]
        debias1 = 1.0 - mom**step
        debias2 = 1.0 - sqr_mom**step
        data -= (lr / debias1) * grad_avg / (np.sqrt(sqr_avg / debias2) + float(group["eps"]))

    def _update_device(self, group, state, data, grad):
        as_dtype = data.dtype.type
        lr = float(group["lr"])
        mom = float(group["mom"])
        sqr_mom = float(group["sqr_mom"])
        wd = float(group["wd"])
        decays = wd != 0 and group["do_wd"]
        if "grad_avg" not in state:
            state["grad_avg"] = _backend.CUDA.zeros(data.shape, data.dtype)
            state["sqr_avg"] = _backend.CUDA.zeros(data.shape, data.dtype)
            state["step"] = 0
        state["step"] += 1
        step = state["step"]
        _cuda_optim().adam_step(
            data,
            grad,
            state["grad_avg"],
            state["sqr_avg"],
            as_dtype(1.0 - lr * wd),
            bool(decays and group["decouple_wd"]),
            bool(decays and not group["decouple_wd"]),
            as_dtype(wd),
            as_dtype(mom),
            as_dtype(1.0 - mom),
            as_dtype(sqr_mom),
            as_dtype(1.0 - sqr_mom),
            as_dtype(lr / (1.0 - mom**step)),
            as_dtype(1.0 - sqr_mom**step),
            as_dtype(float(group["eps"])),
        )


def split_bn_bias(named_params: Iterable) -> list[dict]:
    """Param groups that exempt biases and batch-norm parameters from weight decay.

    Names alone cannot tell a batch-norm weight from a conv weight, so each item says
    whether its parameter belongs to a normalisation module.

    Parameters
    ----------
    named_params : iterable of (name, param, is_norm) triples
        ``name`` is the parameter's dotted name (``"0.1.bias"``), ``is_norm`` is True when
        its module is a batch-norm (or other normalisation) layer.

    Returns
    -------
    list of dict
        ``[{"params": decayed}, {"params": exempt, "do_wd": False}]``, where ``exempt``
        holds every parameter whose name ends with ``"bias"`` or that belongs to a
        normalisation module; an empty group is left out.
    """
    decayed, exempt = [], []
    for item in named_params:
        if not isinstance(item, tuple) or len(item) != 3:
            raise TypeError(
                f"named_params must yield (name, param, is_norm) triples, got {_describe(item)}"
            )
        name, param, is_norm = item
        if not isinstance(name, str):
            raise TypeError(f"parameter name must be a str, got {_describe(name)}")
        is_norm = _flag(f"is_norm (for {name!r})", is_norm)
        (exempt if is_norm or name.split(".")[-1].endswith("bias") else decayed).append(param)
    groups = []
    if decayed:
        groups.append({"params": decayed})
    if exempt:
        groups.append({"params": exempt, "do_wd": False})
    return groups
