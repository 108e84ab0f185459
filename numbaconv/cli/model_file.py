"""Model files: :func:`save_model` writes what ``numbaconv train --save`` keeps, :func:`load_model`
rebuilds it as a :class:`SavedModel` for ``evaluate`` and ``predict``.

A model file is an ``.npz`` (read with ``allow_pickle=False``) holding the state dict under its
usual keys and, under ``meta::`` keys, what is needed to rebuild and use the model: its builder
name, batch-norm flags, vocabulary, Normalize statistics, the input size and channels, and the
data it was trained on. :func:`read_model_input` prepares an image file as the model's training
images were prepared.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..serialization import _atomic_savez
from .common import (
    BUNDLED_DATASETS,
    DOWNLOADED_DATASETS,
    IMAGE_SHAPE,
    MODEL_OUTPUTS,
    CommandError,
    build_model,
)
from .data_source import KINDS, DataSource

MODEL_FORMAT = "numbaconv-cli-model/1"
_META = "meta::"


def _text(value: str) -> np.ndarray:
    return np.array(value, dtype=np.str_)


def save_model(path, model, name, bn, bn_first, vocab, normalize, source) -> None:
    """Write ``model``'s weights and what rebuilds it to ``path`` as ``.npz``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Written exactly as given; the folder must exist.
    model : Module
    name : str
        Builder name (a key of :data:`MODEL_OUTPUTS`).
    bn, bn_first : bool
        Batch-norm flags passed to :func:`build_model`.
    vocab : tuple of str
        Class names indexed by output.
    normalize : Normalize or None
        Its statistics are stored so that evaluation and prediction prepare images alike.
    source : DataSource
        The training data, evaluated by default; its ``size`` and ``channels`` (set by
        :meth:`DataSource.load`) are the model's input size and channels.

    Notes
    -----
    Keys: the state dict's own (``"0.0.weight"``, ...) and ``meta::format``, ``meta::model``,
    ``meta::bn``, ``meta::bn_first``, ``meta::vocab`` (str array), ``meta::data_kind``,
    ``meta::data_location``, ``meta::train_name``, ``meta::valid_name``, ``meta::size``
    (int64 (height, width)), ``meta::channels`` (int64) and, with Normalize,
    ``meta::normalize_mean`` / ``meta::normalize_std`` (float32, one per channel). No object
    arrays, so ``np.load(path, allow_pickle=False)`` reads it.
    """
    arrays = dict(model.state_dict())
    arrays.update(
        {
            f"{_META}format": _text(MODEL_FORMAT),
            f"{_META}model": _text(name),
            f"{_META}bn": np.array(bool(bn)),
            f"{_META}bn_first": np.array(bool(bn_first)),
            f"{_META}vocab": np.array(list(vocab), dtype=np.str_),
            f"{_META}data_kind": _text(source.kind),
            f"{_META}data_location": _text(source.location),
            f"{_META}train_name": _text(source.train_name),
            f"{_META}valid_name": _text(source.valid_name),
            f"{_META}size": np.array(source.size or IMAGE_SHAPE[1:], dtype=np.int64),
            f"{_META}channels": np.array(source.channels or IMAGE_SHAPE[0], dtype=np.int64),
        }
    )
    if normalize is not None:
        arrays[f"{_META}normalize_mean"] = normalize.mean.ravel().astype(np.float32)
        arrays[f"{_META}normalize_std"] = normalize.std.ravel().astype(np.float32)
    # A crash mid-write must never leave a half-written model where a good one was.
    _atomic_savez(path, arrays)


class SavedModel:
    """A model file read by :func:`load_model`: the model and its ``meta::`` entries.

    ``size`` is the (height, width) and ``channels`` the channel count of the images the model
    was trained on (files written before they were stored: (28, 28) and 1).
    """

    def __init__(self, model, name, bn, bn_first, vocab, normalize, source, size, channels):
        self.model, self.name, self.bn, self.bn_first = model, name, bn, bn_first
        self.vocab, self.normalize, self.source = vocab, normalize, source
        self.size, self.channels = size, channels


def read_model_input(path, size, channels) -> np.ndarray:
    """Read an image file as a model's training images were prepared.

    Pillow converts it to grayscale (``channels`` 1, luma) or RGB (3) and resizes it to
    ``size`` as fastai's ``Resize`` (centre crop to the aspect ratio, bilinear), exactly as
    ``numbaconv train`` prepared the image folder it trained on.

    Parameters
    ----------
    path : str or os.PathLike
        An image file Pillow reads.
    size : (int, int)
        The model's (height, width), :attr:`SavedModel.size`.
    channels : {1, 3}
        :attr:`SavedModel.channels`.

    Returns
    -------
    ndarray of uint8, shape (channels, height, width)
        Pixels 0-255: ``Learner.predict`` divides by 255 and normalises as in training.

    Raises
    ------
    ImageReadError
        (an OSError) naming the file when Pillow cannot read it; FileNotFoundError.
    """
    from ..data import read_image

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    return read_image(path, mode="L" if channels == 1 else "RGB", size=tuple(size))


def load_model(path) -> SavedModel:
    """Rebuild the model saved by :func:`save_model` at ``path``.

    Raises
    ------
    CommandError
        The file is missing, unreadable, not written by :func:`save_model`, or its weights do
        not fit the model it names.
    """
    from ..data import Normalize

    path = os.fspath(path)
    where = f"--model-path {path!r}"
    if not os.path.isfile(path):
        raise CommandError(f"{where}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CommandError(
            f"{where}: not a model file written by numbaconv train ({exc})"
        ) from None
    except AttributeError:  # np.load gave a single array, which has no .files
        raise CommandError(f"{where}: holds one array, not a model file (.npz)") from None
    meta = {k[len(_META) :]: v for k, v in arrays.items() if k.startswith(_META)}
    weights = {k: v for k, v in arrays.items() if not k.startswith(_META)}
    if str(meta.get("format", "")) != MODEL_FORMAT:
        raise CommandError(
            f"{where}: not a model file written by numbaconv train (no {_META}format "
            f"{MODEL_FORMAT!r} entry)"
        )
    try:
        name = str(meta["model"])
        bn, bn_first = bool(meta["bn"]), bool(meta["bn_first"])
        vocab = tuple(str(v) for v in meta["vocab"])
        source = DataSource(
            str(meta["data_kind"]),
            str(meta["data_location"]),
            str(meta["train_name"]),
            str(meta["valid_name"]),
        )
        size = tuple(int(s) for s in meta.get("size", IMAGE_SHAPE[1:]))
        channels = int(meta.get("channels", IMAGE_SHAPE[0]))
    except KeyError as exc:
        raise CommandError(
            f"{where}: the model file lacks its {_META}{exc.args[0]} entry"
        ) from None
    if name not in MODEL_OUTPUTS:
        raise CommandError(f"{where}: names an unknown model {name!r}")
    known = {"bundled": BUNDLED_DATASETS, "download": DOWNLOADED_DATASETS}
    if source.kind not in KINDS or source.location not in known.get(source.kind, [source.location]):
        raise CommandError(f"{where}: names an unknown data source {source.kind!r}")
    if len(size) != 2 or min(size) < 8 or channels not in (1, 3):
        raise CommandError(f"{where}: has an unusable input size {size} or channels {channels}")
    source.size, source.channels = size, channels
    normalize = None
    if "normalize_mean" in meta:
        normalize = Normalize(meta["normalize_mean"], meta["normalize_std"])
    model = build_model(name, bn, bn_first, channels, size)
    try:
        model.load_state_dict(weights)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"{where}: the weights do not fit {name}: {exc}") from None
    return SavedModel(model, name, bn, bn_first, vocab, normalize, source, size, channels)
