"""``Sequential``: modules applied one after another, indexable like a list."""

from __future__ import annotations

import numbers
from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """Chain of modules; ``forward`` feeds each output to the next module.

    Parameters
    ----------
    *modules : Module
        Registered under the names "0", "1", ...; or one OrderedDict of name -> Module.

    Examples
    --------
    >>> model = Sequential(Sequential(Conv2d(1, 4, 3, stride=2, padding=1), ReLU()), Flatten())
    >>> model[0][0].weight.shape
    (4, 1, 3, 3)
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                if not isinstance(module, Module):
                    raise TypeError(
                        f"Sequential takes Modules; argument {index} is a {type(module).__name__}"
                    )
                self.add_module(str(index), module)

    def _index(self, idx) -> int:
        if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
            raise TypeError(f"Sequential indices must be integers or slices, got {idx!r}")
        size = len(self._modules)
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range for a Sequential of length {size}")
        return int(idx) % size

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module) -> None:
        key = list(self._modules.keys())[self._index(idx)]
        self.add_module(key, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module) -> Sequential:
        """Add ``module`` at the end (named by its position) and return self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x
