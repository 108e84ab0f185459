"""Weight initialisers that fill a tensor in place, drawing from a seedable generator.

Each takes ``rng=None`` (the package default generator, see
:func:`numbaconv.random.manual_seed`) or a ``numpy.random.Generator``. Values are
drawn in float64 and cast, so a seed gives the same numbers in float32 and float64.
"""

from __future__ import annotations

import math

import numpy as np

from .. import random as nc_random
from ..autograd import Tensor


def _target(name: str, tensor) -> np.ndarray:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(tensor).__name__}")
    return tensor.data


def _fill(tensor: Tensor, values) -> Tensor:
    tensor.data[...] = np.asarray(values, dtype=np.float64).astype(tensor.dtype)
    return tensor


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` as PyTorch computes them.

    For a weight of shape ``(out, in, *kernel)`` — Linear (out, in) or Conv2d
    (out, in/groups, kh, kw) — fan_in = in·prod(kernel), fan_out = out·prod(kernel).
    """
    data = _target("tensor", tensor)
    if data.ndim < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 axes, got shape {data.shape}"
        )
    receptive = int(np.prod(data.shape[2:])) if data.ndim > 2 else 1
    return data.shape[1] * receptive, data.shape[0] * receptive


def uniform_(tensor, a: float = 0.0, b: float = 1.0, rng=None) -> Tensor:
    """Fill ``tensor`` with U(a, b) in place and return it."""
    data = _target("tensor", tensor)
    if not a <= b:
        raise ValueError(f"uniform_ needs a <= b, got a={a}, b={b}")
    return _fill(tensor, nc_random.get_generator(rng).uniform(a, b, size=data.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill ``tensor`` with N(mean, std²) in place and return it."""
    data = _target("tensor", tensor)
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    return _fill(tensor, nc_random.get_generator(rng).normal(mean, std, size=data.shape))


def constant_(tensor, value: float) -> Tensor:
    """Fill ``tensor`` with ``value`` in place and return it."""
    _target("tensor", tensor)[...] = value
    return tensor


def zeros_(tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor) -> Tensor:
    return constant_(tensor, 1.0)


def _gain(nonlinearity: str, a: float) -> float:
    if nonlinearity in ("linear", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + a * a))
    raise ValueError(
        f"nonlinearity must be one of 'relu', 'leaky_relu', 'linear', 'conv2d', 'sigmoid', "
        f"got {nonlinearity!r}"
    )


def kaiming_uniform_(tensor, a: float = 0.0, nonlinearity: str = "leaky_relu", rng=None):
    """U(−bound, bound) with bound = gain·sqrt(3/fan_in), as ``torch.nn.init.kaiming_uniform_``.

    With ``a=sqrt(5)`` (PyTorch's Conv2d/Linear default) the bound is 1/sqrt(fan_in).
    """
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    bound = _gain(nonlinearity, a) * math.sqrt(3.0 / fan_in) if fan_in else 0.0
    return uniform_(tensor, -bound, bound, rng=rng)


def kaiming_normal_(tensor, a: float = 0.0, nonlinearity: str = "leaky_relu", rng=None):
    """N(0, std²) with std = gain/sqrt(fan_in), as ``torch.nn.init.kaiming_normal_``."""
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    std = _gain(nonlinearity, a) / math.sqrt(fan_in) if fan_in else 0.0
    return normal_(tensor, 0.0, std, rng=rng)


def default_layer_init_(weight, bias=None, rng=None) -> None:
    """PyTorch's ``reset_parameters`` for Linear and Conv2d.

    Weight and bias both ~ U(−1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
    in_features, or in_channels/groups·kh·kw.
    """
    generator = nc_random.get_generator(rng)
    kaiming_uniform_(weight, a=math.sqrt(5.0), rng=generator)
    if bias is not None:
        fan_in, _ = calculate_fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
        uniform_(bias, -bound, bound, rng=generator)
