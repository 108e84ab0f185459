"""Mini-batches for training: DataLoader, the train/valid DataLoaders pair, and Normalize.

The defaults follow fastai as chapter 13 relies on them (chapter13.md §3.1): pixels go from uint8
to float32 divided by 255 (``IntToFloatTensor``); the training loader shuffles and drops its last
partial batch, the validation loader keeps order and its last batch (``drop_last=shuffle``,
``bs=val_bs or bs``); :class:`Normalize` with no statistics estimates them from one training
batch over axes (0, 2, 3), the std unbiased plus 1e-7.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import numpy as np

from .. import _backend
from .. import random as nc_random
from .._validate import boolean, integer
from .._validate import describe as _describe
from .normalize import Normalize

__all__ = ["DataLoader", "DataLoaders", "Normalize"]


def _check_device(device) -> str:
    if device in ("cuda", "cuda:0"):
        try:
            _backend._require_cuda()
        except RuntimeError as exc:
            raise RuntimeError(
                f"device={device!r}: DataLoader cannot place batches there. {exc}"
            ) from None
        return "cuda"
    if device != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:0', got {_describe(device)}")
    return device


def _check_images(name: str, images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype != np.uint8 and arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected uint8 pixels (0-255, divided by 255) or "
            "float32/float64 already on the scale you want (use .astype(np.uint8) for 0-255 "
            "integers)"
        )
    if arr.ndim == 3:
        return arr[:, np.newaxis]
    if arr.ndim != 4:
        raise ValueError(f"{name} must have shape (N, H, W) or (N, C, H, W), got {_describe(arr)}")
    return arr


def _check_labels(name: str, labels, count: int, images_name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.size == 0 and arr.dtype.kind == "f" and not isinstance(labels, np.ndarray):
        arr = arr.astype(np.int64)  # np.asarray([]) is float64; an empty list has no type
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, got {_describe(labels)}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {_describe(arr)}")
    if arr.shape[0] != count:
        raise ValueError(
            f"{name} has {arr.shape[0]} labels but {images_name} has {count} images; expected "
            "one label per image"
        )
    return arr.astype(np.int64)


def _check_vocab(vocab, labels: np.ndarray, labels_name: str) -> tuple[str, ...] | None:
    if vocab is None:
        return None
    if isinstance(vocab, str) or not isinstance(vocab, Sequence):
        raise TypeError(f"vocab must be a sequence of class names, got {_describe(vocab)}")
    vocab = tuple(str(name) for name in vocab)
    if labels.size and (labels.min() < 0 or labels.max() >= len(vocab)):
        raise ValueError(
            f"{labels_name} span {labels.min()}..{labels.max()} but vocab has {len(vocab)} "
            f"classes; expected labels in 0..{len(vocab) - 1}"
        )
    return vocab


def _make_rng(seed) -> np.random.Generator:
    if seed is None:
        # Drawn from numbaconv's default generator so that numbaconv.random.manual_seed makes a
        # whole run, shuffling included, repeat.
        return np.random.default_rng(nc_random.default_generator().integers(2**63))
    if isinstance(seed, np.random.Generator):
        return seed
    seed = integer("seed", seed, minimum=0)
    return np.random.default_rng(seed)


class DataLoader:
    """Mini-batches of images and labels, as fastai's ``DataLoader`` yields them.

    Parameters
    ----------
    images : array_like, shape (N, H, W) or (N, C, H, W)
        uint8 pixels (divided by 255 per batch), or float32/float64 values used as they are
        (cast to float32). (N, H, W) gets a channel axis, C = 1. Not copied: batches are
        gathered from it when iterated.
    labels : array_like of int, shape (N,)
        Class indices.
    bs : int
        Batch size, >= 1.
    shuffle : bool
        Visit the images in a new random order each epoch.
    drop_last : bool, optional
        Leave out the last batch when it has fewer than ``bs`` images; default ``shuffle``, as
        fastai.
    seed : int or numpy.random.Generator, optional
        Seeds the shuffling: the same seed gives the same sequence of epoch permutations. With
        None a seed is drawn from :func:`numbaconv.random.default_generator`, so
        :func:`numbaconv.random.manual_seed` makes runs repeat.
    normalize : Normalize, optional
        Applied to each batch after the /255 step. If it has no statistics yet, they are
        estimated here from :meth:`one_batch`.
    device : {"cpu", "cuda"}
        Where batches live: NumPy arrays, or CUDA device arrays (copied to the GPU batch by
        batch, after normalisation on the host). "cuda" raises RuntimeError when CUDA is not
        usable here.
    vocab : sequence of str, optional
        Class names, indexed by label; labels must then lie in ``0..len(vocab)-1``.

    Yields
    ------
    x : ndarray of float32, shape (B, C, H, W)
    y : ndarray of int64, shape (B,)
        B is ``bs`` except for a last partial batch when ``drop_last`` is False.

    Raises
    ------
    TypeError
        Images not uint8/float32/float64, labels not integers, or a non-integer ``bs``/``seed``.
    ValueError
        Wrong array shapes, a label count that differs from the image count, ``bs < 1``,
        labels outside the vocab, or an unknown device.
    RuntimeError
        ``device="cuda"`` where CUDA is not usable.

    Examples
    --------
    >>> images = np.zeros((10, 28, 28), np.uint8); labels = np.arange(10) % 2
    >>> dl = DataLoader(images, labels, bs=4)
    >>> len(dl), [x.shape for x, y in dl]
    (3, [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)])
    """

    def __init__(
        self,
        images,
        labels,
        bs: int = 64,
        shuffle: bool = False,
        drop_last: bool | None = None,
        seed=None,
        normalize: Normalize | None = None,
        device: str = "cpu",
        vocab=None,
    ):
        self.images = _check_images("images", images)
        self.labels = _check_labels("labels", labels, self.images.shape[0], "images")
        self.bs = integer("bs", bs, minimum=1)
        self.shuffle = boolean("shuffle", shuffle)
        self.drop_last = self.shuffle if drop_last is None else boolean("drop_last", drop_last)
        self.device = _check_device(device)
        self.vocab = _check_vocab(vocab, self.labels, "labels")
        if normalize is not None and not isinstance(normalize, Normalize):
            raise TypeError(f"normalize must be a Normalize or None, got {_describe(normalize)}")
        self._rng = _make_rng(seed)
        self.normalize = None
        if normalize is not None and not normalize.is_setup:
            if len(self) == 0:
                raise ValueError(
                    f"Normalize() has no statistics and this DataLoader has no batch to estimate "
                    f"them from ({self.n} images, bs={self.bs}, drop_last={self.drop_last})"
                )
            normalize.setup(self._host_batch(self._peek_order()[: self.bs])[0])
        self.normalize = normalize

    @property
    def n(self) -> int:
        """Number of images."""
        return self.images.shape[0]

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.n // self.bs
        return -(-self.n // self.bs)

    def _epoch_order(self, rng: np.random.Generator) -> np.ndarray:
        if self.shuffle:
            return rng.permutation(self.n)
        return np.arange(self.n)

    def _peek_order(self) -> np.ndarray:
        """The next epoch's order, without advancing the shuffling generator."""
        return self._epoch_order(copy.deepcopy(self._rng))

    def _batch(self, index: np.ndarray):
        x, y = self._host_batch(index)
        if self.device == "cuda":
            # One host-to-device copy per batch; the step that follows reads nothing back.
            return _backend.to_device(x), _backend.to_device(y)
        return x, y

    def _host_batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # take copies, so batches never alias the user's arrays.
        x = np.take(self.images, index, axis=0)
        if x.dtype == np.uint8:
            x = x.astype(np.float32)
            x /= np.float32(255)
        else:
            x = x.astype(np.float32, copy=False)
        if self.normalize is not None:
            x = self.normalize(x)
        return x, np.take(self.labels, index)

    def _iterate(self, order: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(self) * self.bs, self.bs):
            yield self._batch(order[start : start + self.bs])

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch of ``(x, y)`` batches; a shuffling loader draws its permutation now."""
        return self._iterate(self._epoch_order(self._rng))

    def one_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The first batch the next epoch will yield, without consuming any randomness.

        Returns
        -------
        x : ndarray of float32, shape (B, C, H, W)
        y : ndarray of int64, shape (B,)

        Raises
        ------
        ValueError
            If the loader yields no batch (no images, or fewer than ``bs`` with ``drop_last``).
        """
        if len(self) == 0:
            raise ValueError(
                f"this DataLoader yields no batch ({self.n} images, bs={self.bs}, "
                f"drop_last={self.drop_last})"
            )
        return self._batch(self._peek_order()[: self.bs])

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={self.n}, item_shape={self.images.shape[1:]}, bs={self.bs}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})"
        )


class DataLoaders:
    """A training and a validation :class:`DataLoader`, as fastai's ``DataLoaders``.

    Parameters
    ----------
    train, valid : DataLoader
    vocab : sequence of str, optional
        Class names indexed by label; default ``train.vocab``.

    Attributes
    ----------
    train, valid : DataLoader
    vocab : tuple of str or None
    """

    def __init__(self, train: DataLoader, valid: DataLoader, vocab=None):
        for name, loader in (("train", train), ("valid", valid)):
            if not isinstance(loader, DataLoader):
                raise TypeError(f"{name} must be a DataLoader, got {_describe(loader)}")
        if train.images.shape[1:] != valid.images.shape[1:]:
            raise ValueError(
                f"train images have (C, H, W) {train.images.shape[1:]} but valid images have "
                f"{valid.images.shape[1:]}; expected the same"
            )
        self.train, self.valid = train, valid
        if vocab is None:
            vocab = train.vocab if train.vocab is not None else valid.vocab
        else:
            _check_vocab(vocab, train.labels, "train labels")
            vocab = _check_vocab(vocab, valid.labels, "valid labels")
        self.vocab = vocab

    def __getitem__(self, index: int) -> DataLoader:
        """``dls[0]`` is the training loader, ``dls[1]`` the validation loader."""
        return (self.train, self.valid)[index]

    def one_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The training loader's :meth:`DataLoader.one_batch`."""
        return self.train.one_batch()

    @classmethod
    def from_arrays(
        cls,
        train_images,
        train_labels,
        valid_images,
        valid_labels,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        seed=None,
        normalize: Normalize | None = None,
        vocab=None,
        device: str = "cpu",
    ) -> DataLoaders:
        """Build both loaders from arrays with fastai's defaults.

        Parameters
        ----------
        train_images, valid_images : array_like, shape (N, H, W) or (N, C, H, W)
            uint8, or float32/float64 (see :class:`DataLoader`); both with one (C, H, W).
        train_labels, valid_labels : array_like of int, shape (N,)
        bs : int
            Training batch size (fastai's default 64).
        val_bs : int, optional
            Validation batch size; default ``bs``.
        shuffle : bool
            Shuffle the training loader (and drop its last partial batch); the validation loader
            is always in order and keeps its last batch.
        seed : int or numpy.random.Generator, optional
            Seeds the training loader's shuffling.
        normalize : Normalize, optional
            Shared by both loaders; without statistics it is set up from one training batch.
        vocab : sequence of str, optional
            Class names indexed by label.
        device : {"cpu", "cuda"}

        Returns
        -------
        DataLoaders
        """
        train = DataLoader(
            train_images,
            train_labels,
            bs=bs,
            shuffle=shuffle,
            drop_last=shuffle,
            seed=seed,
            normalize=normalize,
            device=device,
            vocab=vocab,
        )
        valid = DataLoader(
            valid_images,
            valid_labels,
            bs=bs if val_bs is None else val_bs,
            shuffle=False,
            drop_last=False,
            normalize=normalize,
            device=device,
            vocab=vocab,
        )
        return cls(train, valid, vocab)

    @classmethod
    def from_folder(
        cls,
        path,
        train: str = "train",
        valid: str = "valid",
        mode: str | None = None,
        bs: int = 64,
        val_bs: int | None = None,
        shuffle: bool = True,
        seed=None,
        normalize: Normalize | None = None,
        device: str = "cpu",
    ) -> DataLoaders:
        """Load an image folder (see :func:`~numbaconv.data.folders.image_folder_dataset`).

        Parameters
        ----------
        path : str or os.PathLike
            Root holding ``<train>/<class>/<image>`` and ``<valid>/<class>/<image>``.
        train, valid : str
            Split folder names (``"training", "testing"`` for fastai's full MNIST).
        mode : {"L", "RGB", None}
            Convert images to grayscale or RGB, or keep them as stored.
        bs, val_bs, shuffle, seed, normalize, device
            As :meth:`from_arrays`.

        Returns
        -------
        DataLoaders
            With ``vocab`` the sorted class folder names.
        """
        from .folders import image_folder_dataset

        data = image_folder_dataset(path, train=train, valid=valid, mode=mode)
        return cls.from_arrays(
            data.train.images,
            data.train.labels,
            data.valid.images,
            data.valid.labels,
            bs=bs,
            val_bs=val_bs,
            shuffle=shuffle,
            seed=seed,
            normalize=normalize,
            vocab=data.vocab,
            device=device,
        )

    def __repr__(self) -> str:
        return f"DataLoaders(train={self.train!r}, valid={self.valid!r}, vocab={self.vocab!r})"
