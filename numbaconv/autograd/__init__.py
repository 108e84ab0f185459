"""Reverse-mode automatic differentiation over NumPy arrays.

``Tensor`` records the operations applied to it as a graph of ``Function``
instances; ``Tensor.backward`` walks that graph in reverse topological order and
accumulates gradients into the leaves' ``.grad``.
"""

from .function import Function, backward
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor, cat, stack, tensor

__all__ = [
    "Function",
    "Tensor",
    "backward",
    "cat",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
    "stack",
    "tensor",
]
