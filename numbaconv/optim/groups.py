"""Param groups that exempt biases and batch-norm parameters from weight decay."""

from __future__ import annotations

from collections.abc import Iterable

from .._validate import boolean as _flag
from .._validate import describe as _describe


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
