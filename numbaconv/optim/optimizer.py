"""The Optimizer base class: param groups, per-parameter state, settable hypers, state dicts.

The optimizers work on a duck type: any object with ``.data`` (a NumPy float array,
updated in place) and ``.grad`` (a NumPy array of the same shape, or ``None`` to skip
the parameter this step). ``numbaconv.nn.Parameter`` is such an object. Parameters whose
``.data`` is a CUDA device array (a model moved with ``.to("cuda")``) are updated by CUDA
kernels with the same math (through :mod:`numbaconv.ops.optim`, as host ones), their state
buffers live on the device, and a step copies nothing to the host.

Weight decay can be switched off per group with ``"do_wd": False`` (fastai's
``do_wd``): unlike setting the group's decay to 0, the flag survives schedules that
call ``set_hyper`` on the decay. :func:`split_bn_bias` builds such groups so that
biases and batch-norm parameters are not decayed, as fastai's ``wd_bn_bias=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .. import _backend
from .._validate import boolean as _flag
from .._validate import describe as _describe
from .._validate import finite_number

__all__ = ["Optimizer", "ParamState"]


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

    @staticmethod
    def _device_of(data):
        """The backend whose ``empty``/``zeros`` allocate state next to ``data``."""
        return _backend.backend_of(data)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place.

        The update itself is an ``numbaconv.ops`` optimizer step (CPU or CUDA kernels,
        following the parameter's device); it checks the gradient's shape and device.
        """
        for group in self.param_groups:
            self._check_hypers(group)
            for p in group["params"]:
                if p.grad is not None:
                    self._update(group, self.state[p], p.data, p.grad)

    def _update(self, group: dict, state: dict, data, grad) -> None:
        """Update ``data`` (NumPy or device array) in place from ``grad`` and ``state``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's form.

        Returns
        -------
        dict
            ``{"state": {index: {name: value}}, "param_groups": [{hyper: value, ...,
            "params": [index, ...]}]}``: parameters are numbered in group order from 0; state
            values are the optimizer's own arrays (NumPy or device, not copies) and ints.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (from this or an identical optimizer).

        Hyper-parameters come from ``state_dict``; parameters stay this optimizer's own, and
        state arrays are copied onto each parameter's device in its dtype.

        Raises
        ------
        ValueError
            The groups or their sizes differ, a state entry's index or shape does not fit.
        """
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(
                "state_dict must be a dict with keys 'state' and 'param_groups', got "
                f"{_describe(state_dict)}"
            )
        saved = list(state_dict["param_groups"])
        sizes = [len(g["params"]) for g in self.param_groups]
        if [len(g["params"]) for g in saved] != sizes:
            raise ValueError(
                f"state_dict has groups of {[len(g['params']) for g in saved]} parameters; "
                f"this optimizer has {sizes}"
            )
        params = {}
        groups = []
        for group, packed in zip(self.param_groups, saved, strict=True):
            params.update(zip(packed["params"], group["params"], strict=True))
            new = {k: v for k, v in packed.items() if k != "params"}
            new["params"] = group["params"]
            self._check_hypers(new)
            groups.append(new)
        restored = {}
        for key, entries in dict(state_dict["state"]).items():
            if key not in params:
                raise ValueError(
                    f"state_dict holds state for parameter {key!r}, which no group has"
                )
            restored[key] = {n: _state_value(n, v, params[key]) for n, v in entries.items()}
        self.param_groups[:] = groups
        self.state.clear()
        for key, entries in restored.items():
            self.state[params[key]].update(entries)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hypers = ", ".join(f"{k}={group[k]!r}" for k in self.defaults)
            lines.append(
                f"  group {i}: {len(group['params'])} params, {hypers}, do_wd={group['do_wd']}"
            )
        lines.append(")")
        return "\n".join(lines)


def _state_value(name: str, value, param):
    """A saved state entry, ready for ``param``: ints as ints, arrays copied to its device."""
    if isinstance(value, (int, np.integer)) or (
        getattr(value, "ndim", None) == 0 and value.dtype.kind in "iu"
    ):
        return int(value)
    data = param.data
    if tuple(value.shape) != tuple(data.shape):
        raise ValueError(
            f"state_dict entry {name!r} has shape {tuple(value.shape)}; expected "
            f"{tuple(data.shape)}, the parameter's shape"
        )
    xp = _backend.backend_of(data).xp
    moved = _backend.to_device(value) if xp is not np else _backend.to_host(value)
    return xp.astype(moved, data.dtype) if xp is not np else np.array(moved, dtype=data.dtype)
