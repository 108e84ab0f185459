"""``Parameter``: a Tensor that a Module registers as learnable when assigned to it."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` by default.

    Assigning a Parameter to a Module attribute registers it, so it appears in
    ``parameters()`` and ``state_dict()``.

    Parameters
    ----------
    data : array_like or Tensor
        The initial values (a floating array; shared, not copied).
    requires_grad : bool, default True
    """

    def __init__(self, data, requires_grad: bool = True):
        source = data.data if isinstance(data, Tensor) else data
        super().__init__(source, requires_grad=False)
        if self.dtype.kind != "f":
            raise TypeError(f"a Parameter must hold floating values, got dtype {self.dtype}")
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (Parameter, (np.array(self.data), self.requires_grad))
