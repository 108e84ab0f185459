"""``Function``: one differentiable operation, and the reverse pass over a graph of them.

Every operation follows one pattern (minitorch / tinygrad style): a subclass
defines ``forward(self, *arrays, **options)`` on plain arrays and
``backward(self, grad)`` returning one gradient per positional input. The
instance itself is the context: ``forward`` stores what ``backward`` needs with
``save_for_backward``, and ``needs_input_grad`` says which inputs want a
gradient so that ``backward`` can skip expensive work.

``Fn.apply(*inputs, **options)`` unwraps Tensor inputs, runs ``forward`` and,
when grad mode is on and some input requires grad, links the result to the
instance so that :func:`backward` can walk the graph later.
"""

from __future__ import annotations

import numpy as np

from .._backend import xp as _xp
from . import grad_mode


class Function:
    """Base class of every differentiable operation.

    Attributes
    ----------
    saved_tensors : tuple
        What ``forward`` passed to :meth:`save_for_backward` (NumPy arrays).
    needs_input_grad : tuple of bool
        One flag per positional input: True when it is a Tensor that requires grad.
    """

    def __init__(self):
        self.saved_tensors: tuple = ()
        self.needs_input_grad: tuple = ()
        self._inputs: tuple = ()
        self._freed = False

    def save_for_backward(self, *arrays) -> None:
        """Keep ``arrays`` for :meth:`backward` (available as ``self.saved_tensors``)."""
        self.saved_tensors = arrays

    def forward(self, *arrays, **options):
        """Compute the result from NumPy arrays (Tensor inputs arrive unwrapped)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad):
        """Return the gradient for each positional input (None where not needed).

        A single array may be returned for a one-input function.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    @classmethod
    def apply(cls, *inputs, **options):
        """Run the operation on Tensors, arrays or scalars and return a Tensor.

        Positional Tensor inputs are differentiated; anything else (arrays,
        numbers, None) is a constant. Keyword options go to ``forward`` as they are.
        """
        from .tensor import Tensor

        ctx = cls()
        _check_same_device(cls, inputs, Tensor)
        arrays = tuple(x.data if isinstance(x, Tensor) else x for x in inputs)
        ctx.needs_input_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        result = ctx.forward(*arrays, **options)
        if not (grad_mode.is_grad_enabled() and any(ctx.needs_input_grad)):
            return Tensor._from_array(result)
        ctx._inputs = tuple(
            x if isinstance(x, Tensor) and x.requires_grad else None for x in inputs
        )
        return Tensor._from_array(result, ctx=ctx)

    def __repr__(self) -> str:
        return f"<{type(self).__name__.lstrip('_')}Backward>"


def _check_same_device(cls, inputs, tensor_type) -> None:
    """TypeError when a CUDA Tensor meets a CPU Tensor (or a non-scalar NumPy array)."""
    on_device = [_xp.is_device(x.data if isinstance(x, tensor_type) else x) for x in inputs]
    if not any(on_device):
        return
    arrays = {
        f"input {position}": getattr(x, "data", x)
        for position, (x, device) in enumerate(zip(inputs, on_device, strict=True))
        if device or isinstance(x, tensor_type) or (isinstance(x, np.ndarray) and x.ndim > 0)
    }
    if len(arrays) > sum(on_device):
        raise _xp.mixed_device_error(cls.__name__.lstrip("_"), **arrays)


def _topological_order(root) -> list:
    """Tensors reachable from ``root`` with every input before its users.

    Iterative post-order depth-first search: deep graphs (long chains of small
    operations) would overflow Python's recursion limit otherwise.
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx._freed:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time: the buffers of "
                    f"{ctx!r} were freed by an earlier backward(). Call "
                    "backward(retain_graph=True) the first time if you need to go through the "
                    "graph again."
                )
            for parent in ctx._inputs:
                if parent is not None and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _as_gradient_tuple(ctx, grads, n_inputs: int) -> tuple:
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != n_inputs:
        raise RuntimeError(
            f"{type(ctx).__name__}.backward returned {len(grads)} gradients; expected "
            f"{n_inputs}, one per positional input of forward"
        )
    return grads


def backward(root, gradient=None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    Parameters
    ----------
    root : Tensor
        The output to differentiate; it must require grad.
    gradient : array_like, optional
        d(something)/d(root), shaped like ``root``. May be omitted only when
        ``root`` has one element, where it is taken as 1.
    retain_graph : bool, default False
        Keep the saved arrays so that backward can run through this graph again.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad and has no graph: "
            "create the inputs with requires_grad=True and do not compute it under no_grad()"
        )
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient works only for a tensor with one element; "
                f"this tensor has shape {root.shape}. Pass gradient=<array of shape "
                f"{root.shape}> or reduce it first (e.g. .sum() or .mean())"
            )
        seed = _xp.namespace(root.data).ones(root.shape, dtype=root.dtype)
    else:
        from .tensor import Tensor

        seed = _xp.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
        if tuple(seed.shape) != root.shape:
            raise ValueError(
                f"gradient has shape {tuple(seed.shape)}; expected {root.shape}, the shape of "
                "the tensor backward() was called on"
            )
        if _xp.is_device(seed) != _xp.is_device(root.data):
            raise _xp.mixed_device_error("backward", gradient=seed, tensor=root.data)
        if seed.dtype != root.dtype:
            seed = _xp.astype(seed, root.dtype)

    order = _topological_order(root)
    grads = {id(root): seed}
    for node in reversed(order):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        ctx = node._ctx
        if ctx is None:
            node._accumulate_grad(grad)
            continue
        input_grads = _as_gradient_tuple(ctx, ctx.backward(grad), len(ctx._inputs))
        for parent, parent_grad in zip(ctx._inputs, input_grads, strict=True):
            if parent is None or parent_grad is None:
                continue
            parent_grad = _xp.asarray(parent_grad)
            if tuple(parent_grad.shape) != parent.shape:
                raise RuntimeError(
                    f"{type(ctx).__name__}.backward returned a gradient of shape "
                    f"{tuple(parent_grad.shape)} for an input of shape {parent.shape}"
                )
            if parent_grad.dtype != parent.dtype:
                parent_grad = _xp.astype(parent_grad, parent.dtype)
            key = id(parent)
            # Never add in place: a backward may hand the same array to several inputs.
            if key in grads:
                parent_grad = _xp.namespace(parent_grad).add(grads[key], parent_grad)
            grads[key] = parent_grad
        if not retain_graph:
            ctx.saved_tensors = ()
            ctx._freed = True
