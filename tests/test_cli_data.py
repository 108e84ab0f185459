"""The command line on colour and any-size image folders, and on downloaded MNIST archives
(served from a local http.server on 127.0.0.1 or refused on a closed port: never the internet)."""

from __future__ import annotations

import io
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

from numbaconv.cli import DataSource, build_model, load_model, main, save_model
from numbaconv.cli.model_file import read_model_input
from numbaconv.data import SOURCES
from numbaconv.data import DataSource as ArchiveSource
from numbaconv.random import manual_seed
from tests.test_data_download import Server, md5_of


def png_bytes(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mnist_like_tgz(path, top, train, valid, per_class=3) -> bytes:
    """A tiny archive shaped as fastai's (``top/<split>/<digit>/*.png``); returns its bytes."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as archive:
        for split in (train, valid):
            for digit in ("3", "7"):
                for i in range(per_class):
                    data = png_bytes(rng.integers(0, 256, (28, 28)))
                    info = tarfile.TarInfo(f"{top}/{split}/{digit}/{i}.png")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
    return path.read_bytes()


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    running = Server(served)
    yield running
    running.close()


@pytest.mark.parametrize(
    ("dataset", "key", "top", "train", "valid"),
    [
        ("mnist-full", "MNIST", "mnist_png", "training", "testing"),
        ("mnist-sample-full", "MNIST_SAMPLE", "mnist_sample", "train", "valid"),
    ],
)
def test_downloaded_dataset_is_fetched_once_and_used(
    server, tmp_path, monkeypatch, capsys, dataset, key, top, train, valid
):
    data = mnist_like_tgz(server.root / f"{top}.tgz", top, train, valid)
    fake = ArchiveSource(server.url(f"{top}.tgz"), size=len(data), md5=md5_of(data))
    monkeypatch.setitem(SOURCES, key, fake)
    monkeypatch.setenv("NUMBACONV_DATA", str(tmp_path / "data"))
    argv = ["summary", "--dataset", dataset, "--model", "simple_cnn_3v7", "--bs", "2"]
    assert main(argv) == 0
    assert "6,722" in capsys.readouterr().out
    assert (tmp_path / "data" / top / train / "3" / "0.png").is_file()
    assert main(argv) == 0  # the unpacked folder is reused: no second request
    assert server.requests == [f"/{top}.tgz"]


def test_wrong_checksum_exits_2_and_keeps_nothing(server, tmp_path, monkeypatch, capsys):
    mnist_like_tgz(server.root / "mnist_png.tgz", "mnist_png", "training", "testing")
    fake = ArchiveSource(server.url("mnist_png.tgz"), md5=md5_of(b"something else"))
    monkeypatch.setitem(SOURCES, "MNIST", fake)
    monkeypatch.setenv("NUMBACONV_DATA", str(tmp_path / "data"))
    assert main(["summary", "--dataset", "mnist-full"]) == 2
    err = capsys.readouterr().err.strip()
    assert "MD5" in err and "\n" not in err
    assert not (tmp_path / "data" / "mnist_png").exists()


@pytest.mark.parametrize("dataset", ["mnist-full", "mnist-sample-full"])
def test_no_network_is_one_line_and_exit_status_2(tmp_path, monkeypatch, capsys, dataset):
    # Port 1 on the loopback refuses at once: what a machine without a network sees first.
    key = "MNIST" if dataset == "mnist-full" else "MNIST_SAMPLE"
    name = SOURCES[key].url.rsplit("/", 1)[1]
    url = f"http://127.0.0.1:1/{name}"
    monkeypatch.setitem(SOURCES, key, ArchiveSource(url))
    monkeypatch.setenv("NUMBACONV_DATA", str(tmp_path / "data"))
    start = time.perf_counter()
    for command in (["train", "--epochs", "1"], ["summary"]):
        assert main([*command, "--dataset", dataset]) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith(f"numbaconv {command[0]}: error: --dataset {dataset}: ")
        assert "\n" not in err and "Traceback" not in err
        assert url in err and "refused" in err.lower()
        assert str(tmp_path / "data" / name.removesuffix(".tgz")) in err and "--data" in err
    assert time.perf_counter() - start < 30  # well within the 30 s download timeout


def colour_folder(root, size=(20, 20), per_class=4):
    """train/ and valid/ with two classes of solid-coloured squares: red vs blue."""
    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        for name, channel in (("red one", 0), ("blue-2", 2)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 60, (*size, 3))
                pixels[..., channel] = 200
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    return root


def test_rgb_model_file_keeps_size_and_channels(tmp_path, capsys):
    root = colour_folder(tmp_path / "colour", size=(20, 30))
    source = DataSource("folder", str(root), size=(16, 16))
    arrays = source.load()
    assert arrays[0].shape == (8, 3, 16, 16) and arrays[4] == ("blue-2", "red one")
    assert (source.size, source.channels) == ((16, 16), 3)
    manual_seed(0)
    model = build_model("simple_cnn_3v7", channels=3, size=(16, 16))
    path = tmp_path / "rgb.npz"
    save_model(path, model, "simple_cnn_3v7", False, True, arrays[4], None, source)
    saved = load_model(path)
    assert (saved.size, saved.channels) == ((16, 16), 3)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(saved.model.state_dict()[key], value, err_msg=key)

    assert main(["evaluate", "--model-path", str(path)]) == 0
    assert "8 images" in capsys.readouterr().out
    assert main(["evaluate", "--model-path", str(path), "--size", "20"]) == 1
    assert "16x16" in capsys.readouterr().err

    image = root / "valid" / "red one" / "0.png"
    item = read_model_input(image, saved.size, saved.channels)
    assert item.shape == (3, 16, 16) and item[0].mean() > 150 > item[2].mean()
    assert main(["predict", str(image), "--model-path", str(path)]) == 1
    assert "--resize" in capsys.readouterr().err
    assert main(["predict", str(image), "--model-path", str(path), "--resize"]) == 0
    assert str(image) in capsys.readouterr().out


def test_summary_on_a_colour_folder_builds_the_rgb_model(tmp_path, capsys):
    root = colour_folder(tmp_path / "colour", size=(48, 48))
    argv = ["summary", "--data", str(root), "--model", "simple_cnn_3v7", "--bs", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # Five stride-2 blocks at 48x48 and three input channels (tests/test_models.py counts it).
    assert "16,042" in out and "4 x 3 x 48 x 48" in out.replace("(", "").replace(",", " x")
    assert main([*argv, "--channels", "1", "--size", "28"]) == 0
    assert "6,722" in capsys.readouterr().out


def test_train_on_a_colour_folder_saves_an_rgb_model_that_predicts_a_folder(tmp_path, capsys):
    root = colour_folder(tmp_path / "colour", size=(24, 24), per_class=8)
    path, out = tmp_path / "rgb.npz", tmp_path / "predictions.csv"
    argv = ["train", "--data", str(root), "--epochs", "3", "--bs", "4", "--lr", "0.05"]
    assert main([*argv, "--no-bar", "--seed", "0", "--save", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "16 training / 16 validation" in printed
    saved = load_model(path)
    assert (saved.size, saved.channels) == ((24, 24), 3)  # the folder's own size, in colour
    # Red vs blue squares: the colour model tells them apart, and a folder prediction reads
    # every image at the saved size and channels.
    assert main(["predict", str(root / "valid"), "--model-path", str(path), "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "path,label,probability" and len(rows) == 17
    assert all(row.split(",")[1] in row.split(",")[0] for row in rows[1:])
