"""``numbaconv lr-find``: the suggestions it prints equal Learner.lr_find's on the same data,
model and seed; --plot writes the figure; bad arguments are one-line errors. And ``--no-bar``."""

from __future__ import annotations

import re

import pytest

import numbaconv
from numbaconv.callbacks import minimum, valley
from numbaconv.cli import main
from numbaconv.data import DataLoaders
from numbaconv.datasets import MNIST_SAMPLE_VOCAB, mnist_sample
from numbaconv.learner import Learner
from numbaconv.metrics import accuracy
from numbaconv.models import simple_cnn_3v7

pytest.importorskip("matplotlib")

ARGS = ["--num-it", "12", "--bs", "64", "--seed", "5", "--no-bar"]


def test_lr_find_prints_the_learners_suggestions(tmp_path, capsys):
    plot = tmp_path / "lr.png"
    argv = ["lr-find", *ARGS, "--suggest", "valley", "minimum", "--plot", str(plot)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    printed = dict(re.findall(r"^(valley|minimum): (\S+)$", out, flags=re.MULTILINE))
    assert "all 12 steps, lr 1e-07 to" in out and f"saved plot {plot}" in out
    assert plot.stat().st_size > 0 and "\r" not in out

    # The same in Python: the CLI's data, model, optimizer and seed.
    numbaconv.manual_seed(5)
    dls = DataLoaders.from_arrays(
        *mnist_sample("train"), *mnist_sample("valid"), bs=64, vocab=MNIST_SAMPLE_VOCAB
    )
    learn = Learner(dls, simple_cnn_3v7(), metrics=accuracy)
    result = learn.lr_find(num_it=12, show_plot=False, suggest_funcs=(valley, minimum))
    assert printed == {"valley": f"{result.valley:.3g}", "minimum": f"{result.minimum:.3g}"}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["lr-find", "--num-it", "3"], "--num-it"),
        (["lr-find", "--start-lr", "1", "--end-lr", "0.5"], "--start-lr/--end-lr"),
        (["lr-find", "--suggest", "best"], "--suggest"),
    ],
)
def test_bad_arguments_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_train_no_bar_keeps_the_table(capsys):
    argv = ["train", "--epochs", "1", "--bs", "64", "--no-bar", "--dataset", "mnist_sample"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "\r" not in out
    assert re.search(r"^epoch     train_loss  valid_loss  accuracy  time    $", out, re.MULTILINE)
    assert re.search(r"^0         \d\.\d{6}", out, re.MULTILINE)
