"""The ``numbaconv`` command line.

Subcommands
-----------
edges
    Fastbook chapter 13's first demo: the four hand-made edge kernels applied with
    :func:`numbaconv.ops.conv2d` to a real '3' from the bundled MNIST sample, shown as text
    (and optionally as a PNG figure).
train
    Train one of the chapter's CNNs and print fastai's epoch table. With no arguments it trains
    the 3-vs-7 ``simple_cnn_3v7`` on the bundled sample with :data:`DEFAULT_RECIPE`, which
    reaches 98.5-99.5 % validation accuracy. ``--save`` writes a model file, ``--plots`` the
    schedule and activation-statistics figures.
evaluate
    Loss and accuracy of a saved model on a validation split.
predict
    Label and probability of a saved model for image files.
summary
    ``Learner.summary()`` (chapter 13 §2.3) of a model on one batch of data.
lr-find
    ``Learner.lr_find()`` on the data and model ``train`` would use: prints fastai's suggested
    learning rates (``--plot`` saves the curve).

Each subcommand's ``_add_<name>_parser`` function registers its options and sets ``handler``;
:func:`main` only dispatches, and turns the errors a user can cause (bad data, a missing file,
CUDA unavailable, a diverging fit) into a one-line message and exit status 1. Argument errors
exit through argparse with status 2.

Modules
-------
``__init__``
    :func:`main`, :func:`build_parser` and the error plumbing around them; re-exports the
    public names of the modules below, so ``from numbaconv.cli import X`` works for each.
``__main__``
    ``python -m numbaconv.cli``.
``common``
    Constants, :class:`CommandError`, argument types, the data and model argument groups, the
    chapter's models by builder name (:func:`build_model`) and the ``--device`` check.
``data_source``
    :class:`DataSource` (bundled sample, image folder or IDX files) and the DataLoaders built
    from it.
``edges``
    The ``edges`` subcommand and its text and PNG renderings.
``train``
    The ``train`` subcommand, optimizer choice, the training figures (:func:`save_plots`) and
    the data, model and Learner set-up it shares with ``lr-find``.
``lr_find``
    The ``lr-find`` subcommand.
``examine``
    The ``evaluate``, ``predict`` and ``summary`` subcommands.
``model_file``
    Model files: ``train --save`` writes an ``.npz`` (read with ``allow_pickle=False``) holding
    the state dict under its usual keys and, under ``meta::`` keys, what is needed to rebuild
    and use the model: its builder name, batch-norm flags, vocabulary, Normalize statistics and
    the data it was trained on (see :func:`save_model` and :func:`load_model`).
"""

from __future__ import annotations

import argparse
import sys

from .common import (
    BN_ORDERS,
    BUNDLED_DATASETS,
    DEFAULT_SEED,
    IMAGE_SHAPE,
    MODEL_OUTPUTS,
    CommandError,
    build_model,
)
from .data_source import IDX_MARKER, DataSource
from .edges import (
    EDGE_KERNELS,
    _add_edges_parser,
    ascii_ink,
    ascii_signed,
    edge_kernels,
    save_edges_png,
)
from .examine import _add_evaluate_parser, _add_predict_parser, _add_summary_parser
from .lr_find import _add_lr_find_parser
from .model_file import MODEL_FORMAT, SavedModel, load_model, save_model
from .train import DEFAULT_RECIPE, _add_train_parser, save_plots

__all__ = [
    "BN_ORDERS",
    "BUNDLED_DATASETS",
    "DEFAULT_RECIPE",
    "DEFAULT_SEED",
    "EDGE_KERNELS",
    "IDX_MARKER",
    "IMAGE_SHAPE",
    "MODEL_FORMAT",
    "MODEL_OUTPUTS",
    "CommandError",
    "DataSource",
    "SavedModel",
    "ascii_ink",
    "ascii_signed",
    "build_model",
    "build_parser",
    "edge_kernels",
    "load_model",
    "main",
    "save_edges_png",
    "save_model",
    "save_plots",
]


class _ArgumentParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``numbaconv`` argument parser with every subcommand registered."""
    parser = _ArgumentParser(
        prog="numbaconv",
        description="numbaconv: 2-D convolutions and small CNNs in Numba (fastbook chapter 13).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_edges_parser(subparsers)
    _add_train_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_predict_parser(subparsers)
    _add_summary_parser(subparsers)
    _add_lr_find_parser(subparsers)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user's arguments or data cause, reported in one line; anything else is a bug."""
    from ..callbacks import NonFiniteLossError
    from ..data import IDXFormatError, ImageFolderError

    # OSError covers missing files and folders, permissions and Pillow's ImageReadError.
    return (CommandError, OSError, ImageFolderError, IDXFormatError, NonFiniteLossError)


def _one_line(exc: BaseException) -> str:
    # A callback's error chains the original (same type) under "Exception occured in ...":
    # the user needs the original's words.
    while type(exc.__cause__) is type(exc):
        exc = exc.__cause__
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ == "NonFiniteLossError":
        text += "; try a lower --lr"
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the ``numbaconv`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Exit status: 0 on success; 1 after a one-line ``numbaconv COMMAND: error: ...`` on
        stderr for bad data, missing or unreadable files, CUDA being unavailable or a loss that
        became NaN/Inf; 2 after such a line when ``--dataset mnist-full`` (or
        ``mnist-sample-full``) cannot be downloaded; 130 when interrupted. Usage errors exit
        through argparse (``SystemExit(2)``).
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return args.handler(args)
    except _user_errors() as exc:
        print(f"numbaconv {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return getattr(exc, "exit_status", 1)
    except KeyboardInterrupt:
        print(f"numbaconv {args.command}: interrupted", file=sys.stderr)
        return 130
