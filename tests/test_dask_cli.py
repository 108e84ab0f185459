"""``numbaconv predict FOLDER``: CSV rows equal single-file ``predict`` (the same image loader
and model), in sorted path order, recursively; the same CSV in-process, on Dask's threads, on
a running cluster's scheduler and on a local cluster; accuracy from the folder names."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from numbaconv import datasets, models
from numbaconv.cli import main
from numbaconv.cli.data_source import DataSource
from numbaconv.cli.model_file import save_model
from numbaconv.data import Normalize


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """24 real digits as PNGs under valid/3, valid/7 and nested/deeper/{3,7}, a stray text
    file, and a model file (an untrained model: rows are checked against single-file
    predict, not against the truth)."""
    root = tmp_path_factory.mktemp("predict")
    images, labels = datasets.mnist_sample("valid")
    picks = np.r_[0:12, len(images) - 12 : len(images)]  # both classes
    for n, i in enumerate(picks):
        parent = root / "digits" / ("valid" if n % 2 else "nested/deeper")
        path = parent / datasets.MNIST_SAMPLE_VOCAB[labels[i]] / f"{n:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(path)
    (root / "digits" / "valid" / "notes.txt").write_text("not an image")
    model_path = root / "m.npz"
    source = DataSource("bundled", "mnist_sample")
    model = models.simple_cnn_3v7(seed=4)
    save_model(
        model_path, model, "simple_cnn_3v7", False, True, ("3", "7"), Normalize(0.1, 0.3), source
    )
    return root


def _predict_folder(folder, capsys, *extra):
    out = folder / "predictions.csv"
    code = main(
        [
            "predict",
            str(folder / "digits"),
            "--model-path",
            str(folder / "m.npz"),
            "--out",
            str(out),
            "--bs",
            "5",
            *extra,
        ]
    )
    assert code == 0
    with open(out, newline="") as stream:
        rows = list(csv.reader(stream))
    return rows, capsys.readouterr()


def _single_file_table(folder, paths, capsys):
    assert main(["predict", *paths, "--model-path", str(folder / "m.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    return [line.split() for line in lines]


def test_folder_rows_equal_single_file_predict_in_sorted_order(folder, capsys):
    rows, printed = _predict_folder(folder, capsys)
    assert rows[0] == ["path", "label", "probability"]
    paths = [row[0] for row in rows[1:]]
    found = sorted(
        os.path.join(d, name)
        for d, _, names in os.walk(folder / "digits")
        for name in names
        if name.endswith(".png")
    )
    assert paths == found and len(paths) == 24
    table = _single_file_table(folder, paths, capsys)
    assert [row[1:] for row in rows[1:]] == [[label, p] for _, label, p in table]
    truths = [os.path.basename(os.path.dirname(p)) for p in paths]
    correct = sum(t == row[1] for t, row in zip(truths, rows[1:]))
    assert f"accuracy {correct / 24:.6f} ({correct} of 24" in printed.out
    assert "24/24" not in printed.out and "5/5 batches" in printed.err  # the progress bar


def test_the_same_csv_on_threads_a_cluster_and_a_local_cluster(folder, capsys, dask_client):
    want, _ = _predict_folder(folder, capsys)
    for scheduler in ("threads", dask_client.scheduler.address, "processes"):
        got, _ = _predict_folder(folder, capsys, "--scheduler", scheduler)
        assert got == want, scheduler


def test_csv_on_stdout_and_no_accuracy_without_class_folders(tmp_path, folder, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for n, path in enumerate(sorted((folder / "digits" / "valid" / "3").glob("*.png"))[:3]):
        (flat / f"{n}.png").write_bytes(path.read_bytes())
    assert main(["predict", str(flat), "--model-path", str(folder / "m.npz")]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0] == "path,label,probability" and len(lines) == 4
    assert "3 images (no accuracy: not every folder is a class)" in printed.err


def test_an_empty_folder_is_a_one_line_error(tmp_path, folder, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--model-path", str(folder / "m.npz")]) == 1
    assert "no image files" in capsys.readouterr().err
