"""Running a model outside ``fit``: ``validate``, ``get_preds`` and ``predict`` (mixed into
:class:`numbaconv.Learner`).

All three run the Learner's own validation loop, so every callback sees the usual events;
``get_preds`` adds a :class:`~numbaconv.callbacks.GatherPreds` callback to collect the outputs.
"""

from __future__ import annotations

import numpy as np

from .autograd import Tensor
from .callbacks.core import GatherPreds
from .callbacks.recorder import Recorder
from .nn import CrossEntropyLoss
from .nn import functional as F


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class _Inference:
    """``validate``, ``get_preds`` and ``predict`` of :class:`numbaconv.Learner`."""

    def validate(self, dl=None) -> list:
        """Run the model over ``dl`` (default ``dls.valid``) in eval mode.

        Returns
        -------
        list of float
            ``[valid_loss, *metrics]``, sample-weighted means over ``dl``.
        """
        recorder = self.__dict__.get("recorder")
        if not isinstance(recorder, Recorder):
            raise RuntimeError("validate() needs the Recorder callback (learn.recorder)")
        recorder._wrap_metrics()  # pick up metrics changed since the last fit
        self.training = False
        self.model.eval()
        with self.no_logging():
            self._do_epoch_validate(dl)
        return recorder.valid_values()

    def _default_activation(self):
        if self.loss_func is F.cross_entropy or isinstance(self.loss_func, CrossEntropyLoss):
            return _softmax
        return None

    def get_preds(self, dl=None, act="auto"):
        """Predictions and targets over ``dl`` (default ``dls.valid``), in eval mode.

        Runs the validation loop (every callback sees its events) with a
        :class:`~numbaconv.callbacks.GatherPreds` callback, printing nothing.

        Parameters
        ----------
        dl : iterable of (x, y) or (x,) batches, optional
            With ``len()``. Batches without targets give an empty ``targets``.
        act : callable, None or "auto"
            Applied to the model's outputs (an ndarray). "auto": softmax when the loss is
            cross-entropy (so the result is probabilities), else nothing.

        Returns
        -------
        preds : ndarray, shape (N, C)
        targets : ndarray, shape (N,)
        """
        act = self._default_activation() if act == "auto" else act
        was_training = self.model.training
        gather = GatherPreds()
        try:
            with self.no_logging(), self.added_cbs(gather):
                self._do_epoch_validate(dl)
        finally:
            self.model.train(was_training)
        preds, targets = gather.result()
        return (preds if act is None or not len(preds) else act(preds)), targets

    def _prepare_item(self, item) -> np.ndarray:
        x = np.asarray(item.data if isinstance(item, Tensor) else item)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255)
        elif x.dtype.kind == "f":
            x = x.astype(np.float32)
        else:
            raise TypeError(
                f"item must be uint8 pixels or a float array, got dtype {x.dtype} (shape {x.shape})"
            )
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"item must have shape (H, W) or (C, H, W), got shape {x.shape}")
        normalize = getattr(self.dls.valid, "normalize", None)
        batch = x[None]
        return normalize(batch) if normalize is not None else batch

    def predict(self, item):
        """Classify one image, prepared as the validation loader prepares its images.

        Parameters
        ----------
        item : ndarray or Tensor, shape (H, W) or (C, H, W)
            One image, without a batch axis: uint8 pixels (divided by 255) or floats; then
            ``dls.valid.normalize`` if any.

        Returns
        -------
        label : str or int
            ``dls.vocab[index]`` when the data has a vocab, else ``index``.
        index : int
            The predicted class.
        probs : ndarray of float32, shape (C,)
            Softmax of the model's output (raw output for a non-cross-entropy loss).
        """
        batch = Tensor(self._prepare_item(item))
        first = next(iter(self.model.parameters()), None)
        if first is not None and first.device != batch.device:  # a model on the GPU
            batch = batch.to(first.device)
        preds, _ = self.get_preds(dl=[(batch,)])
        probs = preds[0]
        index = int(np.argmax(probs))
        vocab = getattr(self.dls, "vocab", None)
        label = vocab[index] if vocab is not None else index
        return label, index, probs
