"""``Module``: the base of every layer and model, holding parameters, buffers and sub-modules."""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from .. import _backend
from .._backend import xp as _xp
from ..autograd import Tensor
from ..autograd.tensor import _check_device
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(self._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()
        return False


def _host_copy(array) -> np.ndarray:
    if _xp.is_device(array):
        return _backend.to_host(array)  # already a fresh host array
    return np.array(array, copy=True)


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class for layers and models, modelled on ``torch.nn.Module``.

    Subclasses call ``super().__init__()`` first, assign Parameters, sub-modules
    and buffers (:meth:`register_buffer`) as attributes, and define ``forward``.
    Calling the module runs forward pre-hooks, ``forward`` and forward hooks.
    """

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------ attributes
    def _require_init(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run; call "
                "super().__init__() first in your __init__"
            )

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._require_init(name)
            self._discard(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._require_init(name)
            self._discard(name)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter {name!r}: expected "
                    "a Parameter or None"
                )
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = None if value is None else self._buffer_array(name, value)
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to sub-module {name!r}: expected "
                    "a Module or None"
                )
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails.
        for store in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(store)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    @staticmethod
    def _buffer_array(name, value):
        if isinstance(value, Tensor):
            value = value.data
        if _xp.is_device(value):
            return _backend.as_device_array(value)
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"buffer {name!r} must be a NumPy array, a CUDA device array or None, got "
                f"{type(value).__name__}"
            )
        return value

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Register a NumPy array (e.g. running statistics) saved in ``state_dict``.

        Buffers are state, not learnable: they get no gradient. ``persistent=False``
        keeps the buffer out of ``state_dict``.
        """
        self._require_init(name)
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ValueError(f"attribute {name!r} already names a parameter or sub-module")
        self._buffers[name] = None if array is None else self._buffer_array(name, array)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"param must be a Parameter or None, got {type(param).__name__}")
        self._require_init(name)
        self._discard(name)
        self._parameters[name] = param

    def add_module(self, name: str, module) -> None:
        """Register ``module`` (a Module or None) as a child called ``name``."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"module name must be a non-empty string without '.', got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"module must be a Module or None, got {type(module).__name__}")
        self._require_init(name)
        self._discard(name)
        self._modules[name] = module

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix: str = ""):
        """Yield ``(qualified_name, module)`` for this module and all descendants, once each."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, store: str, recurse: bool):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for module_name, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, recurse: bool = True):
        """Yield ``(qualified_name, Parameter)``; a shared parameter appears once."""
        yield from self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse):
            yield param

    def named_buffers(self, recurse: bool = True):
        yield from self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True):
        for _, buf in self.named_buffers(recurse):
            yield buf

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant (children first) and on self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True):
        """Set training mode (``mode=True``) or evaluation mode on self and descendants."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses its running statistics."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to None, or to zeros in place)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            elif _xp.is_device(param.grad):
                param.grad = _xp.cuda.zeros_like(param.grad)
            else:
                param.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True):
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def to(self, target):
        """Move to a device ("cpu" or "cuda") or cast floating state to a dtype, in place.

        A device moves every parameter's values and gradient and every floating buffer (batch
        norm's running statistics) there; the Parameter objects stay the same, so an optimizer
        built before the move keeps working. Integer buffers (``num_batches_tracked``) stay on
        the host: they are counters the layer reads in Python. "cuda" raises RuntimeError when
        CUDA is not usable. A dtype casts every floating parameter and buffer in place.
        """
        if isinstance(target, str):
            return self._move(_check_device(target))
        return self._cast(np.dtype(target))

    def cuda(self):
        """Move parameters, gradients and floating buffers to the CUDA device; return self."""
        return self.to("cuda")

    def cpu(self):
        """Move parameters, gradients and buffers to the host; return self."""
        return self.to("cpu")

    def _move(self, device: str):
        move = _xp.to_device if device == "cuda" else _backend.to_host

        def moved(array):
            return array if _xp.is_device(array) == (device == "cuda") else move(array)

        for module in self.modules():
            for param in module._parameters.values():
                if param is None:
                    continue
                param.data = moved(param.data)
                if param.grad is not None:
                    param.grad = moved(param.grad)
            for name, buf in module._buffers.items():
                if buf is not None and (buf.dtype.kind == "f" or device == "cpu"):
                    module._buffers[name] = moved(buf)
        return self

    def _cast(self, dtype: np.dtype):
        if dtype.kind != "f":
            raise TypeError(f"modules can be cast to a floating dtype only, got {dtype}")
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None and param.dtype != dtype:
                    param.data = _xp.astype(param.data, dtype)
                    if param.grad is not None:
                        param.grad = _xp.astype(param.grad, dtype)
            for name, buf in module._buffers.items():
                if buf is not None and buf.dtype.kind == "f" and buf.dtype != dtype:
                    module._buffers[name] = _xp.astype(buf, dtype)
        return self

    def float(self):
        """Cast floating parameters and buffers to float32 (in place); return self."""
        return self._cast(np.dtype(np.float32))

    def double(self):
        """Cast floating parameters and buffers to float64 (in place); return self."""
        return self._cast(np.dtype(np.float64))

    # ------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """Copies of every parameter and persistent buffer, keyed by qualified name.

        Returns
        -------
        collections.OrderedDict of str to numpy.ndarray
            e.g. ``"0.0.weight"`` for ``model[0][0].weight``; host copies, also for a model
            on the CUDA device.
        """
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[prefix + name] = _host_copy(param.data)
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    state[prefix + name] = _host_copy(buf)
        return state

    def _state_targets(self) -> OrderedDict:
        """Qualified name -> (module, attribute, kind) for what ``state_dict`` saves."""
        targets = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    targets[prefix + name] = (module, name, "parameter")
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    targets[prefix + name] = (module, name, "buffer")
        return targets

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Everything is checked before anything is copied, so a failed load leaves
        the module unchanged.

        Parameters
        ----------
        state_dict : mapping of str to array_like or Tensor
            As returned by :meth:`state_dict` or :func:`numbaconv.load`.
        strict : bool, default True
            Raise when keys are missing or unexpected; otherwise report them.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)`` lists.

        Raises
        ------
        ValueError
            Missing or unexpected keys (with ``strict``), or a value whose shape differs
            from the parameter's (always), naming the key.
        TypeError
            ``state_dict`` is not a mapping, or a value is not numeric.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(
                f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}"
            )
        targets = self._state_targets()
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict.keys() if key not in targets]
        if strict and (missing or unexpected):
            raise ValueError(
                f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        staged = []
        for key, (module, name, kind) in targets.items():
            if key not in state_dict:
                continue
            raw = state_dict[key]
            value = np.asarray(raw.data if isinstance(raw, Tensor) else raw)
            current = (
                module._parameters[name].data if kind == "parameter" else module._buffers[name]
            )
            if value.dtype.kind not in "biuf":
                raise TypeError(f"state_dict[{key!r}] has non-numeric dtype {value.dtype}")
            if value.shape != tuple(current.shape):
                raise ValueError(
                    f"size mismatch for {kind} {key!r}: the state dict has shape {value.shape}, "
                    f"the model has shape {tuple(current.shape)}"
                )
            staged.append((current, value))
        for current, value in staged:
            if _xp.is_device(current):
                current.copy_to_device(np.ascontiguousarray(value, dtype=current.dtype))
            else:
                current[...] = value.astype(current.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward.

        A hook that returns something other than None replaces the output.
        Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None result replaces
        the inputs (a tuple, or a single value)."""
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    # ------------------------------------------------------------ display
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + _addindent(repr(child), 2) for name, child in self._modules.items()
        ]
        lines = extra_lines + child_lines
        text = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"

    def __dir__(self):
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )
