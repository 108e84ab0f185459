"""Autograd-aware losses: negative log-likelihood, cross-entropy and mean squared error.

The NLL loss and its gradient run :func:`numbaconv.ops.nll_loss` and
:func:`numbaconv.ops.nll_loss_grad` (CPU or CUDA kernels, following the arrays).
Re-exported by :mod:`numbaconv.nn.functional`.
"""

from __future__ import annotations

from .._validate import choice
from ..autograd import Tensor
from ..autograd.function import Function
from ..ops import loss as loss_ops
from ._args import _data, _tensor
from .activations import log_softmax


def _reduce(value: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return value
    return value.sum() if reduction == "sum" else value.mean()


class _NLLLoss(Function):
    """Per-element ``−input[n, target[n, ...], ...]``."""

    def forward(self, log_probs, *, target):
        self.target, self.in_shape = target, tuple(log_probs.shape)
        return loss_ops.nll_loss(log_probs, target)

    def backward(self, grad):
        return loss_ops.nll_loss_grad(grad, self.target, self.in_shape)


def nll_loss(input, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities.

    Parameters
    ----------
    input : Tensor, shape (N, C) or (N, C, d1, ...)
        Log-probabilities (e.g. from :func:`log_softmax` over dim 1).
    target : array_like of int, shape (N,) or (N, d1, ...)
        Class indices in [0, C).
    reduction : {"mean", "sum", "none"}, default "mean"

    Returns
    -------
    Tensor
        A scalar, or shape (N, d1, ...) with ``reduction="none"``.
    """
    x = _tensor("input", input)
    choice("reduction", reduction, ("mean", "sum", "none"))
    if x.ndim < 2:
        raise ValueError(f"input must have shape (N, C, ...), got shape {x.shape}")
    indices = loss_ops.nll_targets(_data(target), x.shape, x.device)
    return _reduce(_NLLLoss.apply(x, target=indices), reduction)


def cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy: ``nll_loss(log_softmax(input, 1), target)``.

    Stable for large logits (log-softmax subtracts the row maximum), and its
    gradient is ``(softmax(input) − onehot(target)) / N`` for the mean.

    Parameters
    ----------
    input : Tensor, shape (N, C) or (N, C, d1, ...)
        Unnormalised scores (logits), float32 or float64.
    target : array_like of int, shape (N,) or (N, d1, ...)
        Class indices in [0, C). Float targets raise TypeError; indices out of
        range raise ValueError.
    reduction : {"mean", "sum", "none"}, default "mean"
    """
    x = _tensor("input", input)
    choice("reduction", reduction, ("mean", "sum", "none"))
    if x.ndim < 2:
        raise ValueError(f"input must have shape (N, C, ...), got shape {x.shape}")
    # Before any work, so bad targets fail fast.
    indices = loss_ops.nll_targets(_data(target), x.shape, x.device)
    return _reduce(_NLLLoss.apply(log_softmax(x, 1), target=indices), reduction)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input − target)²``, reduced by mean, sum or not at all."""
    x = _tensor("input", input)
    y = _tensor("target", target)
    choice("reduction", reduction, ("mean", "sum", "none"))
    if x.shape != y.shape:
        raise ValueError(
            f"target has shape {y.shape}; expected {x.shape}, the shape of input "
            "(mse_loss does not broadcast)"
        )
    return _reduce((x - y) ** 2, reduction)
