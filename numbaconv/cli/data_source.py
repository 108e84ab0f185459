""":class:`DataSource`: where a command's images come from (a bundled sample, an image folder
or IDX files), and the DataLoaders built from them."""

from __future__ import annotations

import os

import numpy as np

from .common import BUNDLED_DATASETS, IMAGE_SHAPE, CommandError

#: A folder holding this file (or it gzipped) is read as MNIST's four IDX files.
IDX_MARKER = "train-images-idx3-ubyte"


class DataSource:
    """Where a command's images come from: a bundled sample, an image folder or IDX files.

    Attributes
    ----------
    kind : {"bundled", "folder", "idx"}
    location : str
        The bundled data set's name, or the folder's absolute path.
    train_name, valid_name : str
        Split folder names (image folders only).
    """

    def __init__(self, kind: str, location: str, train_name="train", valid_name="valid"):
        self.kind, self.location = kind, location
        self.train_name, self.valid_name = train_name, valid_name

    @classmethod
    def from_args(cls, args, parser) -> DataSource | None:
        """The source named by ``--data``/``--dataset`` (None when neither is given)."""
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
                return cls("idx", folder)
            return cls("folder", folder, args.train_name or "train", args.valid_name or "valid")
        if args.dataset is not None:
            return cls("bundled", args.dataset)
        return None

    def describe(self) -> str:
        if self.kind == "bundled":
            return BUNDLED_DATASETS[self.location]
        if self.kind == "idx":
            return f"the IDX files in {self.location}"
        return f"the image folder {self.location} ({self.train_name}/, {self.valid_name}/)"

    def load(self):
        """``(train_images, train_labels, valid_images, valid_labels, vocab)``.

        Images are uint8 of shape (N, 1, 28, 28); anything else is a :class:`CommandError`, as
        is anything the loaders refuse with a ValueError (they name the file or folder).
        """
        try:
            xt, yt, xv, yv, vocab = self._read()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        xt, xv = self._checked(xt, "training"), self._checked(xv, "validation")
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
        # Pillow's luma conversion, as fastai's PILImageBW opens images for this chapter.
        data = image_folder_dataset(
            self.location, train=self.train_name, valid=self.valid_name, mode="L"
        )
        return (*data.train[:2], *data.valid[:2], data.vocab)

    def _checked(self, images: np.ndarray, split: str) -> np.ndarray:
        if images.ndim == 3:
            images = images[:, None]
        if images.dtype != np.uint8:
            raise CommandError(
                f"{self.describe()}: the {split} images are {images.dtype}; expected uint8 pixels"
            )
        if images.shape[1:] != IMAGE_SHAPE:
            channels, height, width = images.shape[1:]
            raise CommandError(
                f"{self.describe()}: the {split} images are {width}x{height} pixels with "
                f"{channels} channel(s); the chapter's models take 28x28 grayscale images"
            )
        return images


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
