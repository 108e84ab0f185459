"""The ``numbaconv`` command line: edges, train, evaluate, predict and summary, and its errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from PIL import Image
from scipy.signal import correlate2d

from numbaconv import serialization
from numbaconv.cli import (
    EDGE_KERNELS,
    DataSource,
    ascii_ink,
    ascii_signed,
    build_model,
    edge_kernels,
    load_model,
    main,
    save_model,
)
from numbaconv.datasets import mnist_sample
from numbaconv.random import manual_seed

# Chapter 13 §1.3, typed in by hand from the book rather than taken from numbaconv.cli.
BOOK_KERNELS = {
    "left_edge": [[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]],
    "top_edge": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "diag1_edge": [[0, -1, 1], [-1, 1, 0], [1, 0, 0]],
    "diag2_edge": [[1, -1, 0], [0, 1, -1], [0, 0, 1]],
}
MAP_LINE = re.compile(
    r"^(\w+) \(26x26\): min ([-+]\d+\.\d+)  max ([-+]\d+\.\d+)$", flags=re.MULTILINE
)


def _threes() -> np.ndarray:
    images, labels = mnist_sample("train")
    return images[labels == 0]


def _reference_maps(index: int) -> dict[str, np.ndarray]:
    """The four maps computed with SciPy in float64 on the same [0, 1] float32 digit."""
    digit = (_threes()[index].astype(np.float32) / np.float32(255.0)).astype(np.float64)
    return {
        name: correlate2d(digit, np.array(kernel, dtype=np.float64), mode="valid")
        for name, kernel in BOOK_KERNELS.items()
    }


def test_edge_kernels_are_the_books():
    weight = edge_kernels()
    assert weight.shape == (4, 1, 3, 3)
    assert weight.dtype == np.float32
    assert list(EDGE_KERNELS) == list(BOOK_KERNELS)
    np.testing.assert_array_equal(weight[:, 0], np.array(list(BOOK_KERNELS.values())))


@pytest.mark.parametrize("index", [0, 17, 399])
def test_edges_report_matches_scipy(capsys, index):
    argv = ["edges"] if index == 0 else ["edges", "--index", str(index)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "conv2d: (1, 1, 28, 28) -> (1, 4, 26, 26)" in out.splitlines()
    assert f"'3' number {index} of 400" in out

    reference = _reference_maps(index)
    found = MAP_LINE.findall(out)
    assert [name for name, _, _ in found] == list(BOOK_KERNELS)
    for name, low, high in found:
        # Printed with 6 decimals from a float32 result: rounding plus float32 error.
        assert abs(float(low) - reference[name].min()) <= 2e-6
        assert abs(float(high) - reference[name].max()) <= 2e-6


def test_edges_report_draws_the_digit_and_maps(capsys):
    assert main(["edges", "--index", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("input digit (28x28), darker = more ink:") + 1
    digit_rows = lines[start : start + 28]
    digit = _threes()[3]
    for row_text, pixels in zip(digit_rows, digit, strict=True):
        assert len(row_text) == 56
        cells = row_text[::2]
        assert cells == row_text[1::2]
        for cell, pixel in zip(cells, pixels, strict=True):
            if pixel == 0:
                assert cell == " "
            if pixel == 255:
                assert cell == "@"
    reference = _reference_maps(3)
    for name, feature_map in reference.items():
        header = next(i for i, line in enumerate(lines) if line.startswith(f"{name} (26x26)"))
        rows = lines[header + 1 : header + 27]
        assert all(len(row) == 52 for row in rows)
        strongest = np.unravel_index(np.argmax(np.abs(feature_map)), feature_map.shape)
        expected = "#" if feature_map[strongest] > 0 else "="
        assert rows[strongest[0]][2 * strongest[1]] == expected


def test_ascii_signed_hand_computed():
    feature_map = np.array([[-1.0, -0.4, 0.0], [0.2, 0.5, 1.0]])
    # Scaled by max |value| = 1 to levels -2 -1 0 0 1 2 (rint of 2 * value).
    assert ascii_signed(feature_map) == ["==--  ", "  ++##"]
    assert ascii_signed(2 * feature_map) == ascii_signed(feature_map)
    assert ascii_signed(np.zeros((2, 2))) == ["    ", "    "]


def test_ascii_ink_hand_computed():
    image = np.array([[0.0, 1 / 9, 0.5, 1.0]])
    assert ascii_ink(image) == ["  ..==@@"]


def test_edges_output_is_identical_across_thread_counts(capsys, thread_counts):
    previous = numba.get_num_threads()
    outputs = []
    try:
        for threads in thread_counts:
            numba.set_num_threads(threads)
            main(["edges", "--index", "5"])
            outputs.append(capsys.readouterr().out)
    finally:
        numba.set_num_threads(previous)
    assert outputs[0] == outputs[1]


def test_edges_output_writes_a_png(tmp_path, capsys):
    path = tmp_path / "edges.png"
    assert main(["edges", "--index", "2", "--output", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    with Image.open(path) as figure:
        assert figure.format == "PNG"
        pixels = np.asarray(figure.convert("L"))
    # The first panel is the digit, 6x nearest-neighbour, ink black on white (255 - pixel).
    digit = _threes()[2].astype(np.int64)
    panel = pixels[22 : 22 + 168 : 6, 8 : 8 + 168 : 6].astype(np.int64)
    assert np.abs(panel - (255 - digit)).max() <= 1
    # Each feature-map panel spans its whole range: its min is white and its max black.
    for position in range(1, 5):
        left = 8 + position * (168 + 8) + 6
        feature_panel = pixels[28 : 28 + 156, left : left + 156]
        assert feature_panel.min() == 0
        assert feature_panel.max() == 255


def test_edges_output_to_an_unwritable_path(tmp_path, capsys):
    path = tmp_path / "missing-dir" / "edges.png"
    with pytest.raises(SystemExit) as info:
        main(["edges", "--output", str(path)])
    assert info.value.code == 2
    assert "--output" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["400", "100000", "-1", "three", "1.5"])
def test_bad_index_is_an_argparse_error(capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["edges", "--index", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --index" in err
    assert value in err


def test_missing_subcommand_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


# ------------------------------------------------------------------ train / evaluate / predict
# The CLI runs as a user runs it, in a fresh interpreter. One Numba thread: on a shared 2-core
# machine parallel kernels wait on busy cores, and results do not depend on the thread count
# (test_training_is_identical_across_thread_counts checks that through the CLI).
REPO = Path(__file__).resolve().parents[1]
HEADER = "epoch     train_loss  valid_loss  accuracy  time    "
ROW = re.compile(r"^(\d+)\s+(\d+\.\d{6})\s+(\d+\.\d{6})\s+(\d\.\d{6})\s+\d\d:\d\d\s*$", re.M)
FINAL = re.compile(r"^validation accuracy (\d\.\d{6}) \((\d+) of (\d+) images\)", re.M)
TRAIN_PER_CLASS, VALID_PER_CLASS = 24, 10


def run_cli(*args, threads=1, env=None):
    environment = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": str(threads)}
    environment.pop("NUMBA_ENABLE_CUDASIM", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "numbaconv.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def assert_one_line_error(result, status, *fragments):
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def write_digit_folder(root: Path, train_per_class: int, valid_per_class: int) -> Path:
    """Real 3s and 7s from the bundled sample as PNGs in fastai's layout."""
    for split, per_class in (("train", train_per_class), ("valid", valid_per_class)):
        images, labels = mnist_sample(split)
        for label, name in enumerate(("3", "7")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i, pixels in enumerate(images[labels == label][:per_class]):
                Image.fromarray(pixels, mode="L").save(folder / f"{i:03d}.png")
    return root


def folder_split(root: Path, split: str):
    """(uint8 images (N, 28, 28), labels) of a digit folder, read independently of numbaconv."""
    files = sorted((root / split).glob("*/*.png"))
    images = np.stack([np.asarray(Image.open(f)) for f in files])
    labels = np.array([["3", "7"].index(f.parent.name) for f in files])
    return images, labels


def reference_logits(weights, normalize, images):
    """simple_cnn_3v7 in float64 NumPy: stride-2 3x3 convs with padding 1, ReLU, flatten."""
    x = images.astype(np.float64)[:, None] / 255.0
    if normalize is not None:
        x = (x - normalize[0].reshape(1, -1, 1, 1)) / normalize[1].reshape(1, -1, 1, 1)
    names = ["0.0", "1.0", "2.0", "3.0", "4"]
    for i, name in enumerate(names):
        w = weights[f"{name}.weight"].astype(np.float64)
        b = weights[f"{name}.bias"].astype(np.float64)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
        x = np.einsum("nchwij,ocij->nohw", windows[:, :, ::2, ::2], w) + b[None, :, None, None]
        if i < len(names) - 1:
            x = np.maximum(x, 0.0)
    return x.reshape(len(x), -1)


def log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def saved_model(path: Path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    weights = {k: v for k, v in arrays.items() if not k.startswith("meta::")}
    normalize = None
    if "meta::normalize_mean" in arrays:
        normalize = (arrays["meta::normalize_mean"], arrays["meta::normalize_std"])
    return arrays, weights, normalize


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    return write_digit_folder(tmp_path_factory.mktemp("digits"), TRAIN_PER_CLASS, VALID_PER_CLASS)


TINY_RECIPE = ["--epochs", "2", "--bs", "16", "--lr", "0.01", "--normalize", "--seed", "3"]


@pytest.fixture(scope="module")
def trained(digit_folder, tmp_path_factory):
    """One tiny training run on the PNG folder, saved; shared by the tests below."""
    model_path = tmp_path_factory.mktemp("model") / "digits.npz"
    result = run_cli("train", "--data", digit_folder, *TINY_RECIPE, "--save", model_path)
    assert result.returncode == 0, result.stderr
    return result, model_path


def test_train_prints_the_epoch_table(trained, digit_folder):
    result, _ = trained
    out = result.stdout.splitlines()
    assert HEADER in out
    rows = ROW.findall(result.stdout)
    assert [int(epoch) for epoch, *_ in rows] == [0, 1]
    assert out.index(HEADER) < out.index(next(line for line in out if line.startswith("0 ")))
    assert "simple_cnn_3v7" in result.stdout
    assert f"{2 * TRAIN_PER_CLASS} training / {2 * VALID_PER_CLASS} validation images" in (
        result.stdout
    )
    accuracy, correct, total = FINAL.search(result.stdout).groups()
    # The summary line repeats the last row's accuracy, as a count out of the valid split.
    assert accuracy == rows[-1][3]
    assert int(total) == 2 * VALID_PER_CLASS
    assert int(correct) == round(float(accuracy) * int(total))
    assert result.stderr == ""


def test_saved_model_holds_its_metadata_without_pickle(trained, digit_folder):
    _, model_path = trained
    arrays, weights, normalize = saved_model(model_path)
    assert str(arrays["meta::model"]) == "simple_cnn_3v7"
    assert arrays["meta::vocab"].tolist() == ["3", "7"]
    assert not bool(arrays["meta::bn"])
    assert str(arrays["meta::data_kind"]) == "folder"
    assert Path(str(arrays["meta::data_location"])) == digit_folder.resolve()
    assert sum(w.size for w in weights.values()) == 6722
    assert all(a.dtype != object for a in arrays.values())
    # --normalize: one statistic per channel, estimated from a batch of [0, 1] pixels.
    mean, std = normalize
    assert mean.shape == std.shape == (1,)
    assert 0.0 < mean[0] < 1.0 and 0.0 < std[0] < 1.0


def test_evaluate_matches_a_numpy_forward_pass(trained, digit_folder):
    result, model_path = trained
    # No --data: the model file remembers the folder it was trained on.
    evaluation = run_cli("evaluate", "--model-path", model_path, "--bs", "7")
    assert evaluation.returncode == 0, evaluation.stderr
    loss = float(re.search(r"^valid_loss\s+(\S+)$", evaluation.stdout, re.M).group(1))
    accuracy, correct, total = re.search(
        r"^accuracy\s+(\S+)\s+\((\d+) of (\d+) images\)$", evaluation.stdout, re.M
    ).groups()

    _, weights, normalize = saved_model(model_path)
    images, labels = folder_split(digit_folder, "valid")
    logits = reference_logits(weights, normalize, images)
    expected_loss = -log_softmax(logits)[np.arange(len(labels)), labels].mean()
    expected_correct = int((logits.argmax(axis=1) == labels).sum())
    assert int(total) == len(labels)
    assert int(correct) == expected_correct
    assert float(accuracy) == pytest.approx(expected_correct / len(labels), abs=1e-6)
    assert loss == pytest.approx(expected_loss, rel=1e-4, abs=2e-6)
    # The same model on the same split: train's last row and evaluate agree.
    assert float(accuracy) == float(FINAL.search(result.stdout).group(1))


def test_predict_matches_a_numpy_forward_pass(trained, digit_folder, tmp_path):
    _, model_path = trained
    images, _ = folder_split(digit_folder, "valid")
    picks = images[[0, 5, 12, 19]]
    paths = []
    for i, pixels in enumerate(picks):
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(pixels, mode="L").save(paths[-1])
    # A dark-on-light drawing: --invert must turn it back into the MNIST digit it came from.
    paths.append(tmp_path / "inverted.png")
    Image.fromarray(255 - picks[0], mode="L").save(paths[-1])
    result = run_cli("predict", *paths[:4], "--model-path", model_path)
    inverted = run_cli("predict", paths[4], "--model-path", model_path, "--invert")
    assert result.returncode == 0 and inverted.returncode == 0, result.stderr + inverted.stderr

    _, weights, normalize = saved_model(model_path)
    probs = np.exp(log_softmax(reference_logits(weights, normalize, picks)))
    rows = result.stdout.strip().splitlines()
    assert rows[0].split() == ["image", "label", "probability"]
    assert len(rows) == 5
    for row, path, expected in zip(rows[1:], paths[:4], probs, strict=True):
        name, label, probability = row.split()
        assert name == str(path)
        assert label == ["3", "7"][int(expected.argmax())]
        assert float(probability) == pytest.approx(expected.max(), abs=2e-6)
    assert inverted.stdout.strip().splitlines()[1].split()[1:] == rows[1].split()[1:]


def test_predict_refuses_other_sizes_unless_resize(trained, tmp_path):
    _, model_path = trained
    images, _ = mnist_sample("valid")
    big = tmp_path / "big.png"
    Image.fromarray(images[0], mode="L").resize((56, 56), Image.Resampling.NEAREST).save(big)
    refused = run_cli("predict", big, "--model-path", model_path)
    assert_one_line_error(refused, 1, "56x56", "28x28", "--resize", str(big))
    resized = run_cli("predict", big, "--model-path", model_path, "--resize")
    assert resized.returncode == 0, resized.stderr
    _, label, probability = resized.stdout.strip().splitlines()[1].split()
    assert label in ("3", "7")
    assert 0.5 <= float(probability) <= 1.0


def test_training_is_identical_across_thread_counts(trained, digit_folder, tmp_path):
    """Two threads, and ActivationStats hooked in for --plots: the same weights, bit for bit."""
    first_result, first_path = trained
    second_path = tmp_path / "two-threads.npz"
    plots = tmp_path / "plots"
    result = run_cli(
        "train",
        "--data",
        digit_folder,
        *TINY_RECIPE,
        "--save",
        second_path,
        "--plots",
        plots,
        threads=2,
    )
    assert result.returncode == 0, result.stderr
    first, second = saved_model(first_path)[0], saved_model(second_path)[0]
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert ROW.findall(result.stdout) == ROW.findall(first_result.stdout)

    # fastai's figure sizes at matplotlib's default 100 dpi (chapter13.md §2.5).
    expected = {
        "sched.png": (1200, 400),
        "layer_stats_first.png": (1200, 300),
        "layer_stats_penultimate.png": (1200, 300),
        "color_dim.png": (1000, 500),
    }
    assert sorted(p.name for p in plots.iterdir()) == sorted(expected)
    for name, size in expected.items():
        with Image.open(plots / name) as figure:
            assert figure.format == "PNG"
            assert figure.size == size
            # Something was drawn: not a single flat colour.
            assert len(figure.convert("L").getcolors(maxcolors=2**16)) > 1


BOOK_SUMMARY_ROWS = [
    ("Conv2d", "64 x 4 x 14 x 14", "40", "True"),
    ("ReLU", "64 x 4 x 14 x 14", "0", "False"),
    ("Conv2d", "64 x 8 x 7 x 7", "296", "True"),
    ("ReLU", "64 x 8 x 7 x 7", "0", "False"),
    ("Conv2d", "64 x 16 x 4 x 4", "1,168", "True"),
    ("ReLU", "64 x 16 x 4 x 4", "0", "False"),
    ("Conv2d", "64 x 32 x 2 x 2", "4,640", "True"),
    ("ReLU", "64 x 32 x 2 x 2", "0", "False"),
    ("Conv2d", "64 x 2 x 1 x 1", "578", "True"),
    ("Flatten", "64 x 2", "0", "False"),
]
SUMMARY_ROW = re.compile(r"^(\w+)\s{2,}(\d+(?: x \d+)*)\s+([\d,]+)\s+(True|False)\s*$", re.M)


def test_summary_prints_the_books_table():
    result = run_cli("summary")
    assert result.returncode == 0, result.stderr
    assert "Sequential (Input shape: ['64 x 1 x 28 x 28'])" in result.stdout
    assert SUMMARY_ROW.findall(result.stdout) == BOOK_SUMMARY_ROWS
    assert "Total params: 6,722" in result.stdout
    assert "Total trainable params: 6,722" in result.stdout
    assert "Total non-trainable params: 0" in result.stdout


@pytest.mark.parametrize(
    ("argv", "total"),
    [
        # §1.12: 208 + 1,168 + 4,640 + 18,496 + 5,770; §1.16 adds 2 per BN channel.
        (["--dataset", "mnist"], "30,282"),
        (["--dataset", "mnist", "--model", "simple_cnn_bn"], "30,542"),
        (["--dataset", "mnist", "--bn", "--bn-order", "relu-bn"], "30,542"),
        # simple_cnn_3v7 with BN: 6,722 + 2 * (4 + 8 + 16 + 32 + 2).
        (["--bn", "--bs", "8"], "6,846"),
    ],
)
def test_summary_of_other_models(capsys, argv, total):
    assert main(["summary", *argv]) == 0
    out = capsys.readouterr().out
    assert f"Total params: {total}" in out
    batch = "8" if "--bs" in argv else "64"
    assert f"(Input shape: ['{batch} x 1 x 28 x 28'])" in out


def write_idx(path: Path, array: np.ndarray) -> None:
    """MNIST's IDX layout, written by hand: 00 00 08 ndim, big-endian sizes, uint8 data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_summary_reads_an_idx_folder(tmp_path, capsys):
    images, labels = mnist_sample("train")
    # The sample is sorted by digit: a stride picks 3s and 7s.
    for prefix, picks in (("train", slice(0, None, 20)), ("t10k", slice(10, None, 67))):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images[picks])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels[picks])
    assert main(["summary", "--data", str(tmp_path), "--bs", "4"]) == 0
    out = capsys.readouterr().out
    # Two label values, so the 2-output model is chosen; a batch of 4 goes through it.
    assert "(Input shape: ['4 x 1 x 28 x 28'])" in out
    assert "Total params: 6,722" in out


def test_summary_reads_fastai_mnist_split_names(tmp_path, capsys):
    root = write_digit_folder(tmp_path / "digits", 3, 1)
    (root / "train").rename(root / "training")
    (root / "valid").rename(root / "testing")
    argv = ["summary", "--data", str(root), "--bs", "4"]
    assert main([*argv, "--train-name", "training", "--valid-name", "testing"]) == 0
    assert "(Input shape: ['4 x 1 x 28 x 28'])" in capsys.readouterr().out
    # Without the names the default train/valid folders are missing: one line naming them.
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "train" in err and "does not exist" in err and "\n" not in err


# ------------------------------------------------------------------------------ bad input
def test_unknown_model_is_a_one_line_usage_error():
    line = assert_one_line_error(run_cli("train", "--model", "resnet18"), 2, "--model")
    assert "resnet18" in line and "simple_cnn_3v7" in line


def test_negative_epochs_is_a_one_line_usage_error():
    assert_one_line_error(run_cli("train", "--epochs", "-1"), 2, "--epochs", "-1")


def test_missing_folder_is_a_one_line_error(tmp_path):
    missing = tmp_path / "no-such-folder"
    assert_one_line_error(run_cli("train", "--data", missing), 1, str(missing))


def test_corrupt_image_is_a_one_line_error(tmp_path):
    root = write_digit_folder(tmp_path / "digits", 2, 1)
    corrupt = root / "train" / "7" / "001.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    assert_one_line_error(run_cli("train", "--data", root), 1, str(corrupt))


def test_cuda_without_a_gpu_is_a_one_line_error():
    # An empty CUDA_VISIBLE_DEVICES hides any GPU, so this holds on GPU machines too.
    result = run_cli("train", "--device", "cuda", env={"CUDA_VISIBLE_DEVICES": ""})
    assert_one_line_error(result, 1, "--device cuda", "CUDA is not usable")


@pytest.mark.parametrize(
    ("argv", "status", "fragment"),
    [
        (["train", "--bn-order", "relu-bn"], 2, "--bn-order"),
        (["train", "--lr", "nan"], 2, "--lr"),
        (["train", "--lr", "0"], 2, "--lr"),
        (["train", "--bs", "0"], 2, "--bs"),
        (["train", "--dataset", "mnist", "--data", "x"], 2, "not allowed with"),
        (["train", "--train-name", "training"], 2, "--train-name"),
        (["train", "--bs", "801"], 1, "801"),
        (["train", "--dataset", "mnist", "--model", "simple_cnn_3v7"], 1, "10 classes"),
        (["predict", "x.png"], 2, "--model-path"),
        (["evaluate", "--model-path", "no-such-model.npz"], 1, "no-such-model.npz"),
    ],
)
def test_bad_arguments_in_process(capsys, argv, status, fragment):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], captured.err
    assert captured.out == ""


def test_a_file_that_is_not_a_model(tmp_path, capsys):
    not_npz = tmp_path / "weights.npz"
    not_npz.write_bytes(b"garbage")
    state_only = tmp_path / "state.npz"
    np.savez(state_only, **{"0.0.weight": np.zeros((4, 1, 3, 3), np.float32)})
    for path in (not_npz, state_only):
        assert main(["evaluate", "--model-path", str(path)]) == 1
        err = capsys.readouterr().err.strip()
        assert "not a model file" in err and str(path) in err and "\n" not in err


def test_a_failed_save_keeps_the_previous_model_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    source = DataSource("bundled", "mnist_sample")
    manual_seed(0)
    first = build_model("simple_cnn_3v7")
    save_model(path, first, "simple_cnn_3v7", False, True, ("3", "7"), None, source)
    manual_seed(1)
    second = build_model("simple_cnn_3v7")
    real_savez = np.savez

    def crash_midway(file, **arrays):
        real_savez(file, **arrays)  # bytes hit the temporary file ...
        raise OSError("disk full")  # ... then the write fails before the rename

    monkeypatch.setattr(serialization.np, "savez", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, second, "simple_cnn_3v7", False, True, ("3", "7"), None, source)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary left behind
    saved = load_model(path)
    assert (saved.name, saved.vocab, saved.source.location) == (
        "simple_cnn_3v7",
        ("3", "7"),
        "mnist_sample",
    )
    reloaded = saved.model.state_dict()
    for key, value in first.state_dict().items():
        np.testing.assert_array_equal(reloaded[key], value, err_msg=key)
    assert not np.array_equal(reloaded["0.0.weight"], second.state_dict()["0.0.weight"])


def test_weights_that_do_not_fit_the_named_model(trained, tmp_path, capsys):
    _, model_path = trained
    arrays, _, _ = saved_model(model_path)
    arrays["meta::model"] = np.array("simple_cnn")
    broken = tmp_path / "renamed.npz"
    np.savez(broken, **arrays)
    assert main(["evaluate", "--model-path", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "do not fit simple_cnn" in err and len(err.strip().splitlines()) == 1


def test_predict_a_missing_or_corrupt_image(trained, tmp_path, capsys):
    _, model_path = trained
    missing = tmp_path / "missing.png"
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    for path in (missing, corrupt):
        assert main(["predict", str(path), "--model-path", str(model_path)]) == 1
        captured = capsys.readouterr()
        assert str(path) in captured.err and len(captured.err.strip().splitlines()) == 1
        assert captured.out == ""


def test_evaluate_refuses_data_with_other_classes(trained, tmp_path, capsys):
    _, model_path = trained
    assert main(["evaluate", "--model-path", str(model_path), "--dataset", "mnist"]) == 1
    err = capsys.readouterr().err
    assert "'0', '1'" in err and "['3', '7']" in err


def test_diverging_fit_is_a_one_line_error(tmp_path, capsys):
    root = write_digit_folder(tmp_path / "digits", 8, 2)
    # A learning rate of 1e30 with plain SGD overflows float32 on the first steps.
    argv = ["train", "--data", str(root), "--bs", "8", "--epochs", "1", "--lr", "1e30"]
    assert main([*argv, "--opt", "sgd", "--schedule", "constant"]) == 1
    err = capsys.readouterr().err.strip()
    assert "non-finite training loss" in err and "epoch 0" in err
    assert err.endswith("try a lower --lr") and "\n" not in err
