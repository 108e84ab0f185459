"""``numbaconv lr-find``: fastai's learning-rate finder on the data and model ``train`` would use;
prints the suggested learning rates and optionally saves the loss-against-lr plot."""

from __future__ import annotations

import argparse
import os

from .common import CommandError, _add_data_arguments, _add_model_arguments, _positive_float
from .train import (
    TrainingSetup,
    _add_no_bar_argument,
    _add_setup_arguments,
    _bars,
    _collapse_line_only,
    _pyplot_agg,
)

#: ``--suggest`` choices: the suggestion functions of :mod:`numbaconv.callbacks`.
SUGGESTIONS = ("valley", "minimum", "steep", "slide")


def _add_lr_find_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "lr-find",
        help="run fastai's learning-rate finder and print the suggested learning rates",
        description=(
            "Learner.lr_find() on the data and model that train would use: a mock training whose "
            "learning rate grows exponentially from --start-lr to --end-lr over --num-it batches "
            "(stopped when the smoothed loss exceeds 4x its best); prints fastai's suggestions "
            "(valley by default). The model is not saved; pass a suggestion to train --lr."
        ),
    )
    _add_data_arguments(parser, "mnist_sample", "default: mnist_sample")
    _add_model_arguments(parser)
    group = parser.add_argument_group("finder")
    group.add_argument(
        "--start-lr", type=_positive_float, default=1e-7, help="first lr (default: 1e-07)"
    )
    group.add_argument("--end-lr", type=_positive_float, default=10.0, help="last lr (default: 10)")
    group.add_argument(
        "--num-it",
        type=int,
        default=100,
        help="batches of the mock training (default: 100)",
    )
    group.add_argument(
        "--suggest",
        nargs="+",
        choices=SUGGESTIONS,
        default=["valley"],
        help="suggestion functions to print (default: valley)",
    )
    _add_setup_arguments(group)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--plot",
        metavar="PNG",
        help="save recorder.plot_lr_find() with the suggestions marked (needs matplotlib)",
    )
    _add_no_bar_argument(output)
    parser.set_defaults(handler=_run_lr_find, parser=parser)


def _run_lr_find(args: argparse.Namespace) -> int:
    from .. import callbacks

    if args.num_it < 6:
        args.parser.error(f"argument --num-it: expected an integer >= 6, got {args.num_it}")
    if args.start_lr >= args.end_lr:
        args.parser.error(
            f"arguments --start-lr/--end-lr: expected start < end, got {args.start_lr} and "
            f"{args.end_lr}"
        )
    plt = None
    if args.plot is not None:
        plt = _pyplot_agg()
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise CommandError(f"--plot {args.plot!r}: folder {folder!r} does not exist")
    with _collapse_line_only():
        setup = TrainingSetup(args)
        learn = setup.learn
        print(f"numbaconv lr-find: {setup.describe()}")
        print(
            f"lr_find(start_lr={args.start_lr:g}, end_lr={args.end_lr:g}, num_it={args.num_it}), "
            f"{args.opt}, bs {args.bs}, seed {args.seed}, device {args.device}",
            flush=True,
        )
        with _bars(learn, args.no_bar):
            learn.lr_find(
                args.start_lr, args.end_lr, args.num_it, show_plot=False, suggest_funcs=None
            )
    lrs, losses = learn.recorder.lrs, learn.recorder.losses
    funcs = [getattr(callbacks, name) for name in args.suggest]
    try:
        result, points, names = callbacks.suggest_lrs(lrs, losses, args.num_it, funcs)
    except ValueError as exc:  # too few points before the loss diverged
        raise CommandError(str(exc)) from None
    ended = "all" if len(lrs) >= args.num_it else "stopped when the loss diverged after"
    print(f"{ended} {len(lrs)} steps, lr {lrs[0]:.3g} to {lrs[-1]:.3g}")
    for name, value in result._asdict().items():
        print(f"{name}: {value:.3g}")
    if plt is not None:
        figure = learn.recorder.plot_lr_find(suggestions=points, nms=names)
        try:
            figure.savefig(args.plot)
        finally:
            plt.close(figure)
        print(f"saved plot {args.plot}")
    return 0
