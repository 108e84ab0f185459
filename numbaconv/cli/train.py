"""``numbaconv train``: fit one of the chapter's CNNs and print fastai's epoch table; optionally
save the model (:func:`~numbaconv.cli.model_file.save_model`) and chapter 13's training figures
(:func:`save_plots`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import warnings

import numpy as np

from .._warmup import warmup_training
from .common import (
    DEFAULT_SEED,
    CommandError,
    _add_data_arguments,
    _add_model_arguments,
    _choose_model,
    _model_flags,
    _nonnegative_int,
    _positive_float,
    _positive_int,
    _require_device,
    build_model,
)
from .data_source import DataSource, _dataloaders
from .model_file import save_model

#: ``numbaconv train`` with no arguments. Measured on the bundled 3-vs-7 sample over seeds 0-15,
#: it reached 98.5-99.5 % validation accuracy with every seed (fit_one_cycle(4, 0.01) at bs 32
#: dipped to 97.5 %, (5, 0.01) at bs 64 to 97 %): the cheapest recipe tried that never missed 98 %.
DEFAULT_RECIPE = {"epochs": 5, "lr": 0.01, "bs": 32, "opt": "adam", "schedule": "one_cycle"}

# The SGD the --opt sgd choice builds: momentum as fastai's one-cycle expects to schedule.
_SGD_MOMENTUM = 0.9
_FIRST_RUN_NOTE = (
    "(a first run also compiles the Numba kernels, up to a minute; later runs reuse the cache)"
)


def _pyplot_agg():
    try:
        import matplotlib
    except ImportError:
        raise CommandError(
            '--plots needs matplotlib, which is not installed: pip install "numbaconv[plot]"'
        ) from None
    # Files only: a headless machine has no display for an interactive backend.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _prepare_output_paths(args) -> None:
    """Fail before training, not after it, when --save or --plots cannot be written."""
    if args.save is not None:
        folder = os.path.dirname(os.path.abspath(args.save))
        if not os.path.isdir(folder):
            raise CommandError(f"--save {args.save!r}: folder {folder!r} does not exist")
    if args.plots is not None:
        _pyplot_agg()
        try:
            os.makedirs(args.plots, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"--plots {args.plots!r}: cannot create the folder: {exc}") from None


def _penultimate_conv(bn: bool) -> int:
    # ActivationStats hooks every conv (and BN): -2 is the conv before the last one without BN,
    # -4 its raw output with BN, as chapter 13 plots them (§3.6).
    return -4 if bn else -2


def save_plots(learn, folder, bn: bool) -> list[str]:
    """Save chapter 13's training figures as PNGs in ``folder``; return their paths.

    ``sched.png`` (``recorder.plot_sched()``), ``layer_stats_first.png`` and
    ``layer_stats_penultimate.png`` (``activation_stats.plot_layer_stats(0)`` and of the
    penultimate convolution) and ``color_dim.png`` (its ``color_dim``).
    """
    plt = _pyplot_agg()
    stats = learn.activation_stats
    penultimate = _penultimate_conv(bn)
    figures = {
        "sched.png": lambda: learn.recorder.plot_sched(),
        "layer_stats_first.png": lambda: stats.plot_layer_stats(0),
        "layer_stats_penultimate.png": lambda: stats.plot_layer_stats(penultimate),
        "color_dim.png": lambda: stats.color_dim(penultimate),
    }
    written = []
    for name, draw in figures.items():
        figure = draw()
        path = os.path.join(folder, name)
        try:
            figure.savefig(path)
        finally:
            plt.close(figure)
        written.append(path)
    return written


def _sgd(params, lr):
    """SGD with momentum 0.9 (scheduled 0.95-0.85-0.95 by one-cycle)."""
    from ..optim import SGD

    return SGD(params, lr, momentum=_SGD_MOMENTUM)


def _optimizer(name: str):
    from ..optim import Adam

    return Adam if name == "adam" else _sgd


def _count_params(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))


def _add_setup_arguments(group) -> None:
    """--bs, --opt, --normalize, --seed and --device: what ``train`` and ``lr-find`` share."""
    recipe = DEFAULT_RECIPE
    group.add_argument(
        "--bs",
        type=_positive_int,
        default=recipe["bs"],
        help=f"batch size (default: {recipe['bs']})",
    )
    group.add_argument(
        "--opt",
        choices=("adam", "sgd"),
        default=recipe["opt"],
        help="fastai's Adam (eps 1e-5, decoupled wd 0.01), or SGD with momentum 0.9 "
        "(default: adam)",
    )
    group.add_argument(
        "--normalize",
        action="store_true",
        help="normalise batches with the mean and std of one training batch, as fastai's "
        "Normalize() (off by default, as chapter 13's 3-vs-7 model)",
    )
    group.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=DEFAULT_SEED,
        help=f"seeds weight initialisation and shuffling (default: {DEFAULT_SEED})",
    )
    group.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where to train (default: cpu); cuda needs an NVIDIA GPU and numbaconv[cuda]",
    )


def _add_no_bar_argument(group) -> None:
    group.add_argument(
        "--no-bar",
        action="store_true",
        help="draw no progress bars (for logs); the epoch table still prints",
    )


def _add_train_parser(subparsers) -> None:
    recipe = DEFAULT_RECIPE
    parser = subparsers.add_parser(
        "train",
        help="train a chapter-13 CNN (default: 3 vs 7 on the bundled sample) and print the table",
        description=(
            "Train one of fastbook chapter 13's CNNs with numbaconv's Learner and print fastai's "
            "epoch table (epoch, train_loss, valid_loss, accuracy, time). With no arguments: "
            "simple_cnn_3v7 on the bundled 3-vs-7 MNIST sample (800 training and 200 validation "
            f"images), fit_one_cycle({recipe['epochs']}, {recipe['lr']}) with Adam at batch size "
            f"{recipe['bs']} and seed {DEFAULT_SEED}, which reaches 98.5-99.5 % validation "
            "accuracy. A first run also compiles the Numba kernels (up to a minute); later runs "
            "load them from the on-disk cache."
        ),
    )
    _add_data_arguments(parser, "mnist_sample", "default: mnist_sample")
    _add_model_arguments(parser)
    group = parser.add_argument_group("training")
    group.add_argument(
        "--epochs",
        type=_positive_int,
        default=recipe["epochs"],
        help=f"epochs (default: {recipe['epochs']})",
    )
    group.add_argument(
        "--lr",
        type=_positive_float,
        default=recipe["lr"],
        help=f"learning rate; the peak of the one-cycle schedule (default: {recipe['lr']}; "
        "numbaconv lr-find suggests one)",
    )
    group.add_argument(
        "--schedule",
        choices=("one_cycle", "constant"),
        default=recipe["schedule"],
        help="fit_one_cycle (cosine warm-up to --lr and annealing, momentum 0.95-0.85-0.95) or "
        "fit at a constant --lr (default: one_cycle)",
    )
    _add_setup_arguments(group)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--save",
        metavar="PATH",
        help="save the trained model (weights, model name, vocab, Normalize statistics) as .npz",
    )
    output.add_argument(
        "--plots",
        metavar="DIR",
        help="record ActivationStats(with_hist=True) and save sched.png, "
        "layer_stats_first.png, layer_stats_penultimate.png and color_dim.png in DIR "
        "(needs matplotlib)",
    )
    _add_no_bar_argument(output)
    parser.set_defaults(handler=_run_train, parser=parser)


class TrainingSetup:
    """What ``train`` and ``lr-find`` build from their arguments: data, model and Learner.

    Attributes
    ----------
    source : DataSource
    name : str
        The model's builder name.
    bn, bn_first : bool
    vocab : tuple of str
    dls : numbaconv.data.DataLoaders
    learn : numbaconv.Learner
    """

    def __init__(self, args, cbs=None):
        from ..data import Normalize
        from ..learner import Learner
        from ..metrics import accuracy
        from ..random import manual_seed

        self.source = DataSource.from_args(args, args.parser)
        self.bn, self.bn_first = _model_flags(args)
        _require_device(args.device)
        manual_seed(args.seed)
        arrays = self.source.load()
        self.vocab = arrays[4]
        self.name = _choose_model(args.model, self.vocab)
        normalize = Normalize() if args.normalize else None
        self.dls = _dataloaders(arrays, args.bs, normalize, args.device, self.source.describe())
        model = build_model(
            self.name, self.bn, self.bn_first, self.source.channels, self.source.size
        )
        if args.device == "cuda":
            model.to("cuda")
        self.learn = Learner(
            self.dls, model, opt_func=_optimizer(args.opt), metrics=accuracy, cbs=cbs
        )

    def describe(self) -> str:
        """The first line both commands print: model, parameters, data and classes."""
        bn_text = f", batch norm {'bn-relu' if self.bn_first else 'relu-bn'}" if self.bn else ""
        return (
            f"{self.name}{bn_text} ({_count_params(self.learn.model):,} parameters) on "
            f"{self.source.describe()}: {self.dls.train.n} training / {self.dls.valid.n} "
            f"validation images, classes {', '.join(self.vocab)}"
        )


def _run_train(args: argparse.Namespace) -> int:
    import time

    from ..callbacks import ActivationStats

    _prepare_output_paths(args)
    cbs = [ActivationStats(with_hist=True)] if args.plots is not None else None
    with _collapse_line_only():
        setup = TrainingSetup(args, cbs)
        learn, dls = setup.learn, setup.dls
        fit = "fit_one_cycle" if args.schedule == "one_cycle" else "fit"
        normalize = dls.train.normalize
        scaling = "pixels / 255, no normalize" if normalize is None else f"normalize {normalize!r}"
        print(f"numbaconv train: {setup.describe()}")
        print(
            f"recipe: {fit}({args.epochs}, {args.lr}), {args.opt}, bs {args.bs}, seed "
            f"{args.seed}, device {args.device}, {scaling}"
        )
        print(_FIRST_RUN_NOTE, flush=True)
        if args.device == "cpu":
            # Two cores compile at once when the kernel cache is cold.
            warmup_training(np.float32, batch_norm=setup.bn)
        start = time.perf_counter()
        with _bars(learn, args.no_bar):
            if args.schedule == "one_cycle":
                learn.fit_one_cycle(args.epochs, args.lr)
            else:
                learn.fit(args.epochs, args.lr)
    elapsed = time.perf_counter() - start
    _, valid_loss, acc = learn.recorder.values[-1]
    correct = round(acc * dls.valid.n)
    print(
        f"validation accuracy {acc:.6f} ({correct} of {dls.valid.n} images), valid_loss "
        f"{valid_loss:.6f}; {args.epochs} epoch(s) in {elapsed:.1f} s"
    )
    if args.save is not None:
        save_model(
            args.save, learn.model, setup.name, setup.bn, setup.bn_first, setup.vocab, normalize,
            setup.source,
        )  # fmt: skip
        print(f"saved model to {args.save}")
    if args.plots is not None:
        for path in save_plots(learn, args.plots, setup.bn):
            print(f"saved plot {path}")
    return 0


def _bars(learn, no_bar: bool):
    return learn.no_bar() if no_bar else contextlib.nullcontext()


@contextlib.contextmanager
def _collapse_line_only():
    """The collapse line under the table says it all; a second copy on stderr is noise."""
    from ..callbacks import CollapseWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=CollapseWarning)
        yield
