"""Class probabilities of a model over a batch of images, in batches: the one forward pass
behind :func:`numbaconv.dask.predict` (in each task) and ``numbaconv predict FOLDER``."""

from __future__ import annotations

import numpy as np

from ._inference import _softmax
from ._validate import describe
from .autograd import Tensor, no_grad


def prepare(images, normalize=None) -> np.ndarray:
    """Images as the validation loader prepares them: float32 (B, C, H, W).

    Parameters
    ----------
    images : ndarray, shape (B, H, W) or (B, C, H, W)
        uint8 pixels (divided by 255) or float32/float64 values used as they are.
    normalize : Normalize, optional
        Applied after the /255 step.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255)
    elif x.dtype in (np.float32, np.float64):
        x = x.astype(np.float32, copy=False)
    else:
        raise TypeError(
            f"images must be uint8 pixels or float32/float64 values, got {describe(images)}"
        )
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(
            f"images must have shape (B, H, W) or (B, C, H, W), got {describe(images)}"
        )
    return normalize(x) if normalize is not None else x


def probabilities(model, images, normalize=None, batch_size=256) -> np.ndarray:
    """Softmax of ``model``'s outputs, in eval mode without gradients, ``batch_size`` images
    at a time.

    Returns
    -------
    ndarray of float32, shape (B, K)
    """
    model.eval()
    parts = []
    with no_grad():
        for start in range(0, len(images), batch_size):
            x = prepare(images[start : start + batch_size], normalize)
            logits = np.asarray(model(Tensor(x)).data)
            parts.append(_softmax(logits).astype(np.float32, copy=False))
    if not parts:
        return np.empty((0, 0), np.float32)
    return np.concatenate(parts)
