"""What the subcommands share: constants, :class:`CommandError`, argument types and groups,
and the chapter's models by builder name (:func:`build_model`)."""

from __future__ import annotations

import argparse

import numpy as np

#: ``--seed`` of ``train`` and ``summary``: seeds weight initialisation and shuffling.
DEFAULT_SEED = 0
#: Builder name -> number of outputs (classes). ``simple_cnn_bn`` is ``simple_cnn(bn=True)``.
MODEL_OUTPUTS = {"simple_cnn_3v7": 2, "simple_cnn": 10, "simple_cnn_bn": 10}
#: ``--bn-order`` choice -> ``bn_first`` of :func:`numbaconv.models.conv`.
BN_ORDERS = {"bn-relu": True, "relu-bn": False}
#: The bundled data sets: loader name in :mod:`numbaconv.datasets` -> description.
BUNDLED_DATASETS = {
    "mnist_sample": "the bundled MNIST sample, 3 vs 7",
    "mnist": "the bundled MNIST sample, digits 0-9",
}
#: fastai's archives that ``--dataset`` downloads (once, into the data root) ->
#: (key of :data:`numbaconv.data.SOURCES`, training split, validation split, description).
DOWNLOADED_DATASETS = {
    "mnist-full": ("MNIST", "training", "testing", "fastai's full MNIST (60,000 / 10,000)"),
    "mnist-sample-full": (
        "MNIST_SAMPLE",
        "train",
        "valid",
        "fastai's MNIST_SAMPLE, 3 vs 7 (12,396 / 2,038)",
    ),
}
#: What the chapter's models take: one grey channel of 28x28 pixels, as MNIST.
IMAGE_SHAPE = (1, 28, 28)
#: ``--channels`` choice -> channels (None: 3 when any image is colour, else 1).
CHANNEL_CHOICES = {"auto": None, "1": 1, "3": 3}
#: The smallest ``--size`` the stride-2 models take.
MIN_SIZE = 8


class CommandError(Exception):
    """A problem with the user's arguments, files or data, reported as one line (exit 1)."""

    #: The command's exit status.
    exit_status = 1


class DownloadFailed(CommandError):
    """A data set that could not be downloaded: one line, exit status 2 (as usage errors)."""

    exit_status = 2


def _int_at_least(minimum: int, expected: str):
    """An argparse ``type`` reading an int >= ``minimum``; errors say "expected <expected>"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_nonnegative_int = _int_at_least(0, "a non-negative integer")
_positive_int = _int_at_least(1, "a positive integer")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text!r}")
    return value


def _add_data_arguments(parser, default_dataset: str | None, default_help: str) -> None:
    group = parser.add_argument_group("data")
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        metavar="DIR",
        help=(
            "an image folder in fastai's layout (TRAIN/<class>/<image>, VALID/<class>/<image>; "
            "RGB or grayscale images of any size, see --size and --channels) or a folder with "
            "MNIST's four IDX files (train-images-idx3-ubyte, ..., raw or .gz)"
        ),
    )
    source.add_argument(
        "--dataset",
        choices=[*BUNDLED_DATASETS, *DOWNLOADED_DATASETS],
        default=default_dataset,
        help="a bundled sample: 3 vs 7 (800/200 images) or 10 digits (4000/1000); or fastai's "
        "full MNIST (mnist-full) or MNIST_SAMPLE (mnist-sample-full), downloaded once into "
        f"$NUMBACONV_DATA (default ~/.numbaconv/data) ({default_help})",
    )
    group.add_argument(
        "--size",
        type=_int_at_least(MIN_SIZE, f"an integer >= {MIN_SIZE}"),
        help="resize images to SIZE x SIZE as fastai's Resize (centre crop, bilinear) "
        "(default: the training images' size when they all agree, else 28; evaluate: the "
        "model's)",
    )
    group.add_argument(
        "--channels",
        choices=list(CHANNEL_CHOICES),
        help="1: grayscale, 3: RGB, auto: 3 when any image is in colour (default: auto; "
        "evaluate: the model's)",
    )
    group.add_argument(
        "--train-name", help="name of the training split folder of --data (default: train)"
    )
    group.add_argument(
        "--valid-name", help="name of the validation split folder of --data (default: valid)"
    )


def _add_model_arguments(parser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        choices=list(MODEL_OUTPUTS),
        help=(
            "simple_cnn_3v7: 2 classes, 6,722 parameters (§1.6); simple_cnn: 10 classes (§1.12); "
            "simple_cnn_bn: simple_cnn with batch norm (§1.16) (default: the one whose outputs "
            "match the data's classes)"
        ),
    )
    group.add_argument(
        "--bn", action="store_true", help="add batch norm after every convolution (§1.16)"
    )
    group.add_argument(
        "--bn-order",
        choices=list(BN_ORDERS),
        help="with batch norm: conv-BN-ReLU (bn-relu, the book's, default) or conv-ReLU-BN",
    )


def _model_flags(args) -> tuple[bool, bool]:
    bn = _has_bn(args.model or "", args.bn)
    if args.bn_order is not None and not bn:
        args.parser.error("argument --bn-order: needs --bn or --model simple_cnn_bn")
    return bn, BN_ORDERS[args.bn_order or "bn-relu"]


def _has_bn(name: str, bn: bool) -> bool:
    return bn or name == "simple_cnn_bn"


def build_model(name: str, bn: bool = False, bn_first: bool = True, channels=1, size=28):
    """One of the chapter's models by builder name, initialised from the default generator.

    Parameters
    ----------
    name : {"simple_cnn_3v7", "simple_cnn", "simple_cnn_bn"}
    bn : bool
        Batch norm after every convolution (``simple_cnn_bn`` always has it).
    bn_first : bool
        Conv → BN → ReLU (True, the book's order) or Conv → ReLU → BN.
    channels : int, default 1
        Input channels (3 for RGB).
    size : int or (int, int), default 28
        Input height and width (see :mod:`numbaconv.models`).

    Returns
    -------
    numbaconv.nn.Sequential
        Input (N, channels, H, W), output (N, ``MODEL_OUTPUTS[name]``).
    """
    from .. import models

    if name not in MODEL_OUTPUTS:
        raise CommandError(f"unknown model {name!r}; expected one of {list(MODEL_OUTPUTS)}")
    builder = models.simple_cnn_3v7 if name == "simple_cnn_3v7" else models.simple_cnn
    bn = _has_bn(name, bn)
    geometry = {"in_channels": int(channels), "size": tuple(int(s) for s in _pair(size))}
    if not bn:
        return builder(**geometry)
    return builder(bn=True, bn_first=bn_first, **geometry)


def _pair(size) -> tuple[int, int]:
    return tuple(size) if isinstance(size, (tuple, list)) else (size, size)


def _choose_model(requested: str | None, vocab: tuple[str, ...]) -> str:
    if requested is None:
        for name, outputs in MODEL_OUTPUTS.items():
            if outputs == len(vocab):
                return name
    elif MODEL_OUTPUTS[requested] == len(vocab):
        return requested
    offers = ", ".join(f"{name} ({n})" for name, n in MODEL_OUTPUTS.items())
    if requested is None:
        mismatch = "no model has that many outputs"
    else:
        mismatch = f"--model {requested} has {MODEL_OUTPUTS[requested]} outputs"
    raise CommandError(
        f"the data has {len(vocab)} classes {list(vocab)} but {mismatch}; the chapter's models "
        f"have: {offers}"
    )


def _require_device(device: str) -> None:
    if device == "cuda":
        from .._backend import _require_cuda

        try:
            _require_cuda()
        except RuntimeError as exc:
            raise CommandError(f"--device cuda: {exc}") from None
