"""Image folders in fastai's layout: ``root/train/<class>/*.png``, ``root/valid/<class>/*.png``.

This mirrors what chapter 13's ``DataBlock`` does with ``get_image_files`` (every image file under
the root, by extension, hidden files and folders skipped), ``GrandparentSplitter(train_name,
valid_name)`` (the split is the name of an image's grandparent folder) and ``parent_label`` (the
class is the name of its parent folder). Unlike fastai, nothing is skipped silently: an image that
is not at ``split/class/image`` depth, an empty split, a class folder with no image, a file Pillow
cannot read and a size that differs from the first image's are all errors naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderData",
    "ImageFolderError",
    "ImageReadError",
    "ImageSplit",
    "get_image_files",
    "image_folder_dataset",
    "read_image",
    "resize_image",
]

#: File extensions (lower case) taken as images, as fastai's ``image_extensions`` for the
#: formats Pillow reads.
IMAGE_EXTENSIONS = frozenset(
    {
        ".bmp",
        ".gif",
        ".jpeg",
        ".jpg",
        ".pbm",
        ".pgm",
        ".png",
        ".pnm",
        ".ppm",
        ".tif",
        ".tiff",
        ".webp",
    }
)

_MODES = ("L", "RGB", None)
_FOLDER_MODES = ("L", "RGB", "auto", None)
_CHANNELS = {"L": 1, "RGB": 3}


#: Pillow modes holding no colour: taken as one channel by ``mode="auto"``.
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
#: ``size="auto"`` when the training images differ in size: MNIST's side.
DEFAULT_SIZE = 28


class ImageFolderError(ValueError):
    """A folder tree that does not have the ``split/class/image`` layout, or images that differ."""


class ImageReadError(OSError):
    """Pillow could not read an image file (corrupt, truncated, not an image, unsupported mode)."""


class ImageSplit(NamedTuple):
    """One split of an image folder.

    Attributes
    ----------
    images : ndarray of uint8, shape (N, C, H, W)
        C is 1 for grayscale and 3 for RGB.
    labels : ndarray of int64, shape (N,)
        Positions in ``vocab`` of each image's class folder name.
    vocab : tuple of str
        The sorted class names (shared by both splits of a data set).
    files : list of pathlib.Path
        The image files, in the order of ``images``.
    """

    images: np.ndarray
    labels: np.ndarray
    vocab: tuple[str, ...]
    files: list[Path]


class ImageFolderData(NamedTuple):
    """Both splits of an image folder and their common vocabulary."""

    train: ImageSplit
    valid: ImageSplit
    vocab: tuple[str, ...]


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def get_image_files(path) -> list[Path]:
    """Every image file under ``path``, recursively, sorted, as fastai's ``get_image_files``.

    Parameters
    ----------
    path : str or os.PathLike
        A folder.

    Returns
    -------
    list of pathlib.Path
        Files whose lower-cased extension is in :data:`IMAGE_EXTENSIONS`, sorted by path.
        Hidden files and everything below hidden folders (names starting with ``.``) are left
        out, as fastai leaves them out. Symbolic links to folders are not followed.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist; NotADirectoryError if it is not a folder.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"image folder {os.fspath(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"image folder {os.fspath(root)!r} is not a folder")
    found = []

    def raise_walk_error(exc: OSError) -> None:
        raise exc

    for folder, subfolders, files in os.walk(root, onerror=raise_walk_error):
        subfolders[:] = [name for name in subfolders if not _is_hidden(name)]
        found.extend(
            Path(folder, name)
            for name in files
            if not _is_hidden(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
        )
    return sorted(found)


def _size_pair(size) -> tuple[int, int]:
    """``size`` (an int or a (height, width) pair of ints >= 1) as a pair."""
    pair = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if len(pair) != 2 or not all(
        isinstance(side, (int, np.integer)) and not isinstance(side, bool) and side >= 1
        for side in pair
    ):
        raise ValueError(f"size must be a positive int or a (height, width) pair, got {size!r}")
    return int(pair[0]), int(pair[1])


def resize_image(image, size):
    """Resize a Pillow image to ``size`` as fastai's ``Resize(size)`` does at validation time.

    fastai's default ``ResizeMethod.Crop``: the largest centred box with the target's aspect
    ratio is cropped, then resized with bilinear resampling (fastai crops at a random place in
    training; here every item is prepared once, so both splits take the centre).

    Parameters
    ----------
    image : PIL.Image.Image
    size : int or (int, int)
        Target (height, width); an int is a square.

    Returns
    -------
    PIL.Image.Image
        The image itself when it already has that size.
    """
    from PIL import Image

    height, width = _size_pair(size)
    w, h = image.size
    if (h, w) == (height, width):
        return image
    scale = min(w / width, h / height)
    crop_w, crop_h = max(1, int(scale * width)), max(1, int(scale * height))
    left, top = int(0.5 * (w - crop_w)), int(0.5 * (h - crop_h))
    box = (left, top, left + crop_w, top + crop_h)
    return image.crop(box).resize((width, height), Image.Resampling.BILINEAR)


def read_image(path, mode: str | None = None, size=None) -> np.ndarray:
    """Read one image with Pillow as a uint8 (C, H, W) array.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    mode : {"L", "RGB", None}
        ``"L"`` converts to grayscale (C = 1, Pillow's ITU-R 601-2 luma) and ``"RGB"`` to colour
        (C = 3; alpha is dropped), as fastai's ``PILImageBW`` and ``PILImage`` do. ``None`` keeps
        grayscale (``"L"``, and 1-bit ``"1"`` as 0/255) as one channel and ``"RGB"`` as three;
        any other stored mode (palette, RGBA, 16-bit, ...) is then an error asking for a mode.
    size : int or (int, int), optional
        Resize to this (height, width) with :func:`resize_image` (fastai's ``Resize``); by
        default the image keeps its size.

    Returns
    -------
    ndarray of uint8, shape (C, H, W)

    Raises
    ------
    ImageReadError
        (an OSError) naming the file, if Pillow cannot read it, or if ``mode`` is None and the
        image is in a mode with no unambiguous channel count.
    ValueError
        If ``mode`` is not one of the choices.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'L', 'RGB' or None, got {mode!r}")
    if size is not None:
        size = _size_pair(size)
    from PIL import Image

    name = os.fspath(path)
    try:
        with Image.open(name) as image:
            image.load()
            stored_mode = image.mode
            if mode is not None:
                image = image.convert(mode)
            elif stored_mode == "1":
                image = image.convert("L")
            elif stored_mode not in _CHANNELS:
                raise ImageReadError(
                    f"image {name!r} has Pillow mode {stored_mode!r}; with mode=None only "
                    "grayscale ('L' or '1') and 'RGB' images are kept as they are: pass "
                    "mode='L' or mode='RGB' to convert"
                )
            if size is not None:
                image = resize_image(image, size)
            pixels = np.asarray(image, dtype=np.uint8)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBomb...
        raise ImageReadError(f"cannot read image {name!r}: {type(exc).__name__}: {exc}") from exc
    if pixels.ndim == 2:
        return pixels[np.newaxis]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(
        entry.name for entry in split_dir.iterdir() if entry.is_dir() and not _is_hidden(entry.name)
    )


def _split_files(split_dir: Path, vocab: tuple[str, ...]) -> list[Path]:
    classes = _class_folders(split_dir)
    if not classes:
        raise ImageFolderError(
            f"split folder {os.fspath(split_dir)!r} has no class folders; expected "
            f"{os.fspath(split_dir)}/<class>/<image files>"
        )
    unknown = [name for name in classes if name not in vocab]
    if unknown:
        raise ImageFolderError(
            f"class folder(s) {[os.fspath(split_dir / name) for name in unknown]} have no "
            f"counterpart in the training split; its classes are {list(vocab)}"
        )
    files = get_image_files(split_dir)
    if not files:
        raise ImageFolderError(f"split folder {os.fspath(split_dir)!r} holds no image files")
    for file in files:
        # GrandparentSplitter + parent_label: anything at another depth would belong to no split
        # (fastai drops it without a word); here it is an error.
        if file.parent.parent != split_dir:
            raise ImageFolderError(
                f"image {os.fspath(file)!r} is not directly inside a class folder of "
                f"{os.fspath(split_dir)!r}; expected the layout split/class/image"
            )
    per_class = {name: 0 for name in classes}
    for file in files:
        per_class[file.parent.name] += 1
    empty = [os.fspath(split_dir / name) for name, count in per_class.items() if count == 0]
    if empty:
        raise ImageFolderError(f"class folder(s) {empty} hold no image files")
    return files


def _header(file: Path) -> tuple[str, tuple[int, int]]:
    """Pillow mode and (height, width) of an image, from its header only."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            return image.mode, image.size[::-1]
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ImageReadError(
            f"cannot read image {os.fspath(file)!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _load_split(files: list[Path], vocab, mode, size) -> ImageSplit:
    first = read_image(files[0], mode, size)
    images = np.empty((len(files), *first.shape), dtype=np.uint8)
    images[0] = first
    for i, file in enumerate(files[1:], start=1):
        pixels = read_image(file, mode, size)
        if pixels.shape != first.shape:
            raise ImageFolderError(
                f"image {os.fspath(file)!r} has (channels, height, width) {pixels.shape}, but "
                f"{os.fspath(files[0])!r} has {first.shape}; all images must have one size and "
                "channel count (pass mode='L' or 'RGB' to unify channels)"
            )
        images[i] = pixels
    index = {name: i for i, name in enumerate(vocab)}
    labels = np.array([index[file.parent.name] for file in files], dtype=np.int64)
    return ImageSplit(images, labels, vocab, files)


def _resolve(files: dict, mode, size):
    """``mode="auto"`` and ``size="auto"`` made concrete from the images' headers."""
    if mode != "auto" and size != "auto":
        return mode, size
    headers = {name: [_header(f) for f in split] for name, split in files.items()}
    if mode == "auto":
        every = [m for split in headers.values() for m, _ in split]
        mode = "L" if all(m in _GREY_MODES for m in every) else "RGB"
    if size == "auto":
        sizes = {hw for _, hw in next(iter(headers.values()))}
        size = sizes.pop() if len(sizes) == 1 else (DEFAULT_SIZE, DEFAULT_SIZE)
    return mode, size


def _checked_folder_arguments(train, valid, mode, size):
    """``size`` as a pair (or None/"auto") after checking the split names and ``mode``."""
    for name, value in (("train", train), ("valid", valid)):
        if not isinstance(value, str) or not value or os.sep in value or value in (".", ".."):
            raise ValueError(f"{name} must be the name of a split folder, got {value!r}")
    if train == valid:
        raise ValueError(f"train and valid must name different folders, both are {train!r}")
    if mode not in _FOLDER_MODES:
        raise ValueError(f"mode must be 'L', 'RGB', 'auto' or None, got {mode!r}")
    return _size_pair(size) if size is not None and size != "auto" else size


def _split_dirs(root: Path, train: str, valid: str) -> dict[str, Path]:
    """{split name: its folder under ``root``}, or FileNotFoundError naming what is there."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder root {os.fspath(root)!r} does not exist")
    split_dirs = {}
    for name in (train, valid):
        split_dir = root / name
        if not split_dir.is_dir():
            present = sorted(e.name for e in root.iterdir() if e.is_dir())
            raise FileNotFoundError(
                f"split folder {os.fspath(split_dir)!r} does not exist; {os.fspath(root)!r} "
                f"holds the folders {present}"
            )
        split_dirs[name] = split_dir
    return split_dirs


def image_folder_dataset(
    path, train: str = "train", valid: str = "valid", mode: str | None = None, size=None
) -> ImageFolderData:
    """Load an image folder tree in fastai's layout into uint8 NCHW arrays.

    Parameters
    ----------
    path : str or os.PathLike
        The root folder, holding ``<train>/<class>/<image>`` and ``<valid>/<class>/<image>``.
    train, valid : str
        Names of the split folders, as in fastai's ``GrandparentSplitter(train_name,
        valid_name)``; full MNIST uses ``train="training", valid="testing"``.
    mode : {"L", "RGB", "auto", None}
        Convert every image to grayscale (``"L"``, C = 1) or colour (``"RGB"``, C = 3), or keep
        each as stored (``None``: grayscale gives C = 1, RGB gives C = 3). See :func:`read_image`.
        ``"auto"``: ``"RGB"`` when any image of either split is stored in a colour mode
        (RGB, RGBA, palette, CMYK, ...), else ``"L"``.
    size : int, (int, int) or "auto", optional
        Resize every image to this (height, width) as fastai's ``Resize`` (see
        :func:`resize_image`). ``"auto"``: the training images' size when they all have one,
        else 28×28. None (default): keep the sizes, which must then all agree.

    Returns
    -------
    ImageFolderData
        ``(train, valid, vocab)``. Each split is an :class:`ImageSplit` ``(images, labels, vocab,
        files)`` with images uint8 of shape (N, C, H, W), labels int64 of shape (N,) and the files
        sorted by path. ``vocab`` is the sorted tuple of the training split's class folder
        names (fastai's ``CategoryBlock`` sorts its vocabulary the same way); the validation
        split may lack some classes but may not add any.

    Raises
    ------
    FileNotFoundError
        If the root or a split folder does not exist.
    ImageFolderError
        (a ValueError) naming the folder or file: a split with no class folders or no images,
        a class folder with no images, an image outside ``split/class/``, a validation class
        the training split lacks, or an image whose size or channel count differs from the
        first image of its split or of the training split.
    ImageReadError
        (an OSError) naming the file Pillow could not read.

    Examples
    --------
    >>> data = image_folder_dataset("mnist_sample")  # doctest: +SKIP
    >>> data.train.images.shape, data.vocab  # doctest: +SKIP
    ((12396, 1, 28, 28), ('3', '7'))
    """
    size = _checked_folder_arguments(train, valid, mode, size)
    split_dirs = _split_dirs(Path(path), train, valid)
    vocab = tuple(_class_folders(split_dirs[train]))
    files = {name: _split_files(split_dirs[name], vocab) for name in (train, valid)}
    mode, size = _resolve(files, mode, size)
    train_split = _load_split(files[train], vocab, mode, size)
    valid_split = _load_split(files[valid], vocab, mode, size)
    if valid_split.images.shape[1:] != train_split.images.shape[1:]:
        raise ImageFolderError(
            f"image {os.fspath(valid_split.files[0])!r} has (channels, height, width) "
            f"{valid_split.images.shape[1:]}, but the training images such as "
            f"{os.fspath(train_split.files[0])!r} have {train_split.images.shape[1:]}"
        )
    return ImageFolderData(train_split, valid_split, vocab)
