""":class:`DataSource`: where a command's images come from (a bundled sample, a downloaded
archive, an image folder or IDX files), and the DataLoaders built from them."""

from __future__ import annotations

import os

import numpy as np

from .common import (
    BUNDLED_DATASETS,
    CHANNEL_CHOICES,
    DOWNLOADED_DATASETS,
    MIN_SIZE,
    CommandError,
    DownloadFailed,
)

#: A folder holding this file (or it gzipped) is read as MNIST's four IDX files.
IDX_MARKER = "train-images-idx3-ubyte"
#: Data source kinds a model file may name.
KINDS = ("bundled", "download", "folder", "idx")


class DataSource:
    """Where a command's images come from: a bundled sample, a download, an image folder or IDX.

    Attributes
    ----------
    kind : {"bundled", "download", "folder", "idx"}
    location : str
        The bundled or downloaded data set's name, or the folder's absolute path.
    train_name, valid_name : str
        Split folder names (image folders only).
    size : (int, int) or None
        (height, width) the images are resized to; None until :meth:`load` when not asked for
        (then the images' own size when they agree, else 28x28).
    channels : {1, 3} or None
        Channels the images are converted to; None until :meth:`load` when not asked for (then
        3 when any image is in colour, else 1).
    """

    def __init__(
        self,
        kind: str,
        location: str,
        train_name="train",
        valid_name="valid",
        size=None,
        channels=None,
    ):
        self.kind, self.location = kind, location
        self.train_name, self.valid_name = train_name, valid_name
        self.size = None if size is None else _pair(size)
        self.channels = channels

    @classmethod
    def from_args(cls, args, parser) -> DataSource | None:
        """The source named by ``--data``/``--dataset`` (None when neither is given), with the
        ``--size`` and ``--channels`` asked for."""
        geometry = {
            "size": getattr(args, "size", None),
            "channels": CHANNEL_CHOICES[getattr(args, "channels", None) or "auto"],
        }
        names_given = args.train_name is not None or args.valid_name is not None
        if names_given and args.data is None:
            parser.error(
                "arguments --train-name/--valid-name: only apply to an image folder --data"
            )
        if args.data is not None:
            folder = os.path.abspath(args.data)
            if not os.path.isdir(folder):
                raise CommandError(f"--data {args.data!r}: no such folder")
            if any(os.path.isfile(os.path.join(folder, IDX_MARKER + s)) for s in ("", ".gz")):
                if names_given:
                    parser.error(
                        f"arguments --train-name/--valid-name: {args.data!r} holds IDX files, "
                        "whose split names are fixed (train-*, t10k-*)"
                    )
                return cls("idx", folder, **geometry)
            train, valid = args.train_name or "train", args.valid_name or "valid"
            return cls("folder", folder, train, valid, **geometry)
        if args.dataset in DOWNLOADED_DATASETS:
            _, train, valid, _ = DOWNLOADED_DATASETS[args.dataset]
            return cls("download", args.dataset, train, valid, **geometry)
        if args.dataset is not None:
            return cls("bundled", args.dataset, **geometry)
        return None

    def describe(self) -> str:
        if self.kind == "bundled":
            return BUNDLED_DATASETS[self.location]
        if self.kind == "download":
            return DOWNLOADED_DATASETS[self.location][3]
        if self.kind == "idx":
            return f"the IDX files in {self.location}"
        return f"the image folder {self.location} ({self.train_name}/, {self.valid_name}/)"

    def load(self):
        """``(train_images, train_labels, valid_images, valid_labels, vocab)``.

        Images are uint8 of shape (N, C, H, W) with C 1 or 3 and H, W >= 8, resized and
        converted as :attr:`size` and :attr:`channels` ask; afterwards both attributes hold
        what the images have. Anything the loaders refuse with a ValueError (they name the
        file or folder) is a :class:`CommandError`.
        """
        try:
            xt, yt, xv, yv, vocab = self._read()
            xt, xv = self._conformed(xt), self._conformed(xv)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        xt, xv = self._checked(xt, "training"), self._checked(xv, "validation")
        self.channels, self.size = int(xt.shape[1]), tuple(int(s) for s in xt.shape[2:])
        return xt, yt, xv, yv, tuple(vocab)

    def _read(self):
        from .. import datasets
        from ..data import idx_folder_dataset, image_folder_dataset

        if self.kind == "bundled":
            loader = getattr(datasets, self.location)
            if self.location == "mnist_sample":
                vocab = datasets.MNIST_SAMPLE_VOCAB
            else:
                vocab = datasets.MNIST_CLASSES
            return (*loader("train"), *loader("valid"), vocab)
        if self.kind == "idx":
            splits = idx_folder_dataset(self.location)
            (xt, yt), (xv, yv) = splits["train"], splits["valid"]
            top = max(int(yt.max(initial=0)), int(yv.max(initial=0)))
            return xt, yt, xv, yv, tuple(str(label) for label in range(top + 1))
        folder = self.location if self.kind == "folder" else self._downloaded()
        # fastai's PILImageBW / PILImage: Pillow's luma conversion or RGB, then its Resize.
        data = image_folder_dataset(
            folder,
            train=self.train_name,
            valid=self.valid_name,
            mode={None: "auto", 1: "L", 3: "RGB"}[self.channels],
            size="auto" if self.size is None else self.size,
        )
        return (*data.train[:2], *data.valid[:2], data.vocab)

    def _downloaded(self) -> str:
        """Download and unpack the archive (once) into the data root; its folder."""
        from ..data import SOURCES, default_data_root, untar_data

        key = DOWNLOADED_DATASETS[self.location][0]
        try:
            return os.fspath(untar_data(key, progress=True))
        except OSError as exc:  # DownloadError, ChecksumError, a data root it cannot write
            url = SOURCES[key].url
            stem = os.path.basename(url).rsplit(".", 1)[0]
            raise DownloadFailed(
                f"--dataset {self.location}: cannot download {url} ({exc}); without a network, "
                f"fetch that file elsewhere and unpack it into {default_data_root() / stem} "
                f"(or any folder, then pass --data FOLDER --train-name {self.train_name} "
                f"--valid-name {self.valid_name})"
            ) from None

    def _conformed(self, images: np.ndarray) -> np.ndarray:
        """Bundled and IDX arrays (N, H, W) resized and converted as asked (folders already are)."""
        if images.ndim == 3:
            images = images[:, None]
        if self.kind not in ("bundled", "idx") or images.dtype != np.uint8:
            return images
        if self.size is not None and tuple(images.shape[2:]) != self.size:
            images = _resized(images, self.size)
        if self.channels == 3 and images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)  # as Pillow's L -> RGB conversion
        return images

    def _checked(self, images: np.ndarray, split: str) -> np.ndarray:
        if images.dtype != np.uint8:
            raise CommandError(
                f"{self.describe()}: the {split} images are {images.dtype}; expected uint8 pixels"
            )
        channels, height, width = images.shape[1:]
        if channels not in (1, 3) or min(height, width) < MIN_SIZE:
            raise CommandError(
                f"{self.describe()}: the {split} images are {width}x{height} pixels with "
                f"{channels} channel(s); the models take 1 or 3 channels of at least "
                f"{MIN_SIZE}x{MIN_SIZE} pixels (see --size and --channels)"
            )
        return images


def _pair(size) -> tuple[int, int]:
    pair = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    return int(pair[0]), int(pair[1])


def _resized(images: np.ndarray, size) -> np.ndarray:
    """uint8 (N, C, H, W) grayscale images resized one by one as fastai's Resize."""
    from PIL import Image

    from ..data import resize_image

    out = np.empty((len(images), images.shape[1], *size), dtype=np.uint8)
    for i, image in enumerate(images):
        for c, plane in enumerate(image):
            out[i, c] = np.asarray(resize_image(Image.fromarray(plane), size), dtype=np.uint8)
    return out


def _dataloaders(arrays, bs, normalize, device, data_desc):
    from ..data import DataLoaders

    xt, yt, xv, yv, vocab = arrays
    if len(xt) < bs:
        raise CommandError(
            f"--bs {bs} is more than the {len(xt)} training images of {data_desc}; the training "
            "loader drops its last partial batch (as fastai's), so no batch would be left"
        )
    try:
        return DataLoaders.from_arrays(
            xt, yt, xv, yv, bs=bs, normalize=normalize, vocab=vocab, device=device
        )
    except ValueError as exc:
        raise CommandError(f"{data_desc}: {exc}") from None
