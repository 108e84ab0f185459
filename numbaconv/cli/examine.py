"""``numbaconv evaluate``, ``predict`` and ``summary``: look at a model without training it
(a saved one for ``evaluate`` and ``predict``, a fresh one for ``summary``)."""

from __future__ import annotations

import argparse
import os

import numpy as np

from .common import (
    CHANNEL_CHOICES,
    DEFAULT_SEED,
    CommandError,
    _add_data_arguments,
    _add_model_arguments,
    _choose_model,
    _model_flags,
    _nonnegative_int,
    _positive_int,
    _require_device,
    build_model,
)
from .data_source import DataSource, _dataloaders
from .model_file import load_model, read_model_input


def _add_model_path(parser) -> None:
    parser.add_argument(
        "--model-path",
        required=True,
        metavar="PATH",
        help="a model saved by numbaconv train --save",
    )


def _add_evaluate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="loss and accuracy of a saved model on a validation split",
        description=(
            "Load a model saved by 'numbaconv train --save' and print its cross-entropy loss "
            "and accuracy on the validation split of the data it was trained on, or of --data / "
            "--dataset (whose classes must be the model's)."
        ),
    )
    _add_model_path(parser)
    _add_data_arguments(parser, None, "default: the data the model was trained on")
    parser.add_argument("--bs", type=_positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)"
    )
    parser.set_defaults(handler=_run_evaluate, parser=parser)


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..data import DataLoaders
    from ..learner import Learner
    from ..metrics import accuracy

    source = DataSource.from_args(args, args.parser)
    _require_device(args.device)
    saved = load_model(args.model_path)
    source = source or saved.source
    _apply_saved_geometry(source, args, saved)
    xt, yt, xv, yv, vocab = source.load()
    if vocab != saved.vocab:
        raise CommandError(
            f"{source.describe()} has classes {list(vocab)} but the model in "
            f"{args.model_path!r} was trained on {list(saved.vocab)}"
        )
    # Only the validation split is used: an empty training loader completes the pair.
    dls = DataLoaders.from_arrays(
        xt[:0],
        yt[:0],
        xv,
        yv,
        bs=args.bs,
        shuffle=False,
        normalize=saved.normalize,
        vocab=vocab,
        device=args.device,
    )
    if args.device == "cuda":
        saved.model.to("cuda")
    learn = Learner(dls, saved.model, metrics=accuracy)
    valid_loss, acc = learn.validate()
    correct = round(acc * dls.valid.n)
    print(f"model: {args.model_path} ({saved.name}, classes {', '.join(saved.vocab)})")
    print(f"data: validation split of {source.describe()}, {dls.valid.n} images")
    print(f"valid_loss  {valid_loss:.6f}")
    print(f"accuracy    {acc:.6f}  ({correct} of {dls.valid.n} images)")
    return 0


def _apply_saved_geometry(source, args, saved) -> None:
    """Prepare the data at the model's size and channels; --size/--channels may only agree."""
    size = None if args.size is None else (args.size, args.size)
    channels = CHANNEL_CHOICES[args.channels or "auto"]
    if size not in (None, saved.size) or channels not in (None, saved.channels):
        raise CommandError(
            f"--size/--channels: the model in {args.model_path!r} takes {saved.channels} "
            f"channel(s) of {saved.size[1]}x{saved.size[0]} pixels"
        )
    source.size, source.channels = saved.size, saved.channels


def _add_predict_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="label and probability of a saved model for image files or folders",
        description=(
            "Classify image files with a model saved by 'numbaconv train --save'. Each image "
            "is read with Pillow and converted to grayscale, divided by 255 and normalised "
            "as the training data was. The chapter's models take 28x28 images of light digits "
            "on a dark background, as MNIST's: other sizes are refused unless --resize is given, "
            "and --invert turns dark-on-light drawings around. Given a folder (searched "
            "recursively), or --out or --scheduler, it classifies every image in batches and "
            "writes a CSV (path,label,probability, sorted by path) with a progress bar, and "
            "prints the accuracy when the images' folders are named after the classes."
        ),
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...) or folders"
    )
    _add_model_path(parser)
    parser.add_argument(
        "--resize",
        action="store_true",
        help="resize images of another size to 28x28 (Pillow's Lanczos filter) instead of "
        "refusing them; the digit should fill the image roughly as MNIST's do",
    )
    parser.add_argument(
        "--invert", action="store_true", help="use 255 - pixel (for dark ink on a light background)"
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS|processes|threads",
        help="run on Dask: a running scheduler's address (tcp://host:8786), 'processes' for a "
        "local cluster, or 'threads'; default: in-process (needs numbaconv[dask])",
    )
    parser.add_argument(
        "--out", metavar="CSV", help="write the predictions here (default: standard output)"
    )
    parser.add_argument(
        "--bs", type=_positive_int, default=256, help="images per task (default: 256)"
    )
    parser.set_defaults(handler=_run_predict, parser=parser)


def _read_digit(path: str, resize: bool, invert: bool, saved) -> np.ndarray:
    from ..data import read_image

    pixels = read_image(path, mode="L" if saved.channels == 1 else "RGB")
    if pixels.shape[1:] != saved.size:
        height, width = pixels.shape[1:]
        if not resize:
            raise CommandError(
                f"image {path!r} is {width}x{height} pixels; the model takes "
                f"{saved.size[1]}x{saved.size[0]} images (pass --resize to scale it)"
            )
        # Resized as the training images were (fastai's Resize: centre crop, bilinear).
        pixels = read_model_input(path, saved.size, saved.channels)
    return 255 - pixels if invert else pixels


def _run_predict(args: argparse.Namespace) -> int:
    from ..data import DataLoaders
    from ..learner import Learner

    saved = load_model(args.model_path)
    if args.out or args.scheduler or any(os.path.isdir(path) for path in args.images):
        from .predict import run_folder_predict

        return run_folder_predict(args, saved)
    digits = [_read_digit(path, args.resize, args.invert, saved) for path in args.images]
    empty_images = np.zeros((0, saved.channels, *saved.size), np.uint8)
    empty_labels = np.zeros(0, np.int64)
    # Learner.predict prepares an item as the validation loader would: /255, then Normalize.
    dls = DataLoaders.from_arrays(
        empty_images,
        empty_labels,
        empty_images,
        empty_labels,
        normalize=saved.normalize,
        vocab=saved.vocab,
    )
    learn = Learner(dls, saved.model)
    width = max(len("image"), *(len(path) for path in args.images))
    print(f"{'image':<{width}}  label  probability")
    for path, digit in zip(args.images, digits, strict=True):
        label, index, probs = learn.predict(digit)
        print(f"{path:<{width}}  {label:<5}  {float(probs[index]):.6f}")
    return 0


def _add_summary_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "summary",
        help="print Learner.summary() of a model on one batch of data",
        description=(
            "Print the layer table of chapter 13 §2.3 (output shape, parameters and trainable "
            "flag per layer, totals) for a model on one training batch of the chosen data, "
            "then the optimizer, loss function and callbacks."
        ),
    )
    _add_data_arguments(parser, "mnist_sample", "default: mnist_sample")
    _add_model_arguments(parser)
    parser.add_argument("--bs", type=_positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument(
        "--normalize", action="store_true", help="normalise batches as train --normalize"
    )
    parser.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=DEFAULT_SEED,
        help=f"seeds initialisation and shuffling (default: {DEFAULT_SEED})",
    )
    parser.set_defaults(handler=_run_summary, parser=parser)


def _run_summary(args: argparse.Namespace) -> int:
    from ..data import Normalize
    from ..learner import Learner
    from ..metrics import accuracy
    from ..random import manual_seed

    source = DataSource.from_args(args, args.parser)
    bn, bn_first = _model_flags(args)
    manual_seed(args.seed)
    arrays = source.load()
    name = _choose_model(args.model, arrays[4])
    dls = _dataloaders(
        arrays, args.bs, Normalize() if args.normalize else None, "cpu", source.describe()
    )
    model = build_model(name, bn, bn_first, source.channels, source.size)
    learn = Learner(dls, model, metrics=accuracy)
    print(learn.summary())
    return 0
