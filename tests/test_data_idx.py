"""IDX files (MNIST's format): round trips for every type, raw and gzipped, and every error."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from numbaconv.data.idx import IDXFormatError, idx_folder_dataset, load_idx_dataset, read_idx

# type code -> (struct format character, NumPy dtype the reader must return)
TYPES = {
    0x08: ("B", np.uint8),
    0x09: ("b", np.int8),
    0x0B: ("h", np.int16),
    0x0C: ("i", np.int32),
    0x0D: ("f", np.float32),
    0x0E: ("d", np.float64),
}

SAMPLE_VALUES = {
    0x08: [0, 1, 127, 128, 254, 255],
    0x09: [-128, -1, 0, 1, 64, 127],
    0x0B: [-32768, -300, -1, 0, 258, 32767],
    0x0C: [-(2**31), -70000, -1, 0, 65536 + 3, 2**31 - 1],
    0x0D: [-1.5, 0.0, 0.1, 3.25, float("inf"), float("nan")],
    0x0E: [-1e300, -0.0, 0.1, 2.5, float("-inf"), float("nan")],
}


def idx_bytes(type_code: int, shape, values) -> bytes:
    """Header and big-endian data written with struct, independently of the reader."""
    header = struct.pack(">BBBB", 0, 0, type_code, len(shape))
    header += struct.pack(f">{len(shape)}I", *shape)
    return header + struct.pack(f">{len(values)}{TYPES[type_code][0]}", *values)


def write(path, content: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("type_code", sorted(TYPES), ids=lambda c: f"0x{c:02X}")
def test_round_trip_every_type(tmp_path, type_code, gz):
    values = SAMPLE_VALUES[type_code]
    path = write(tmp_path / "data-ubyte", idx_bytes(type_code, (2, 3), values), gz)
    array = read_idx(path)
    assert array.dtype == TYPES[type_code][1]
    assert array.dtype.isnative and array.flags.c_contiguous and array.flags.writeable
    assert array.shape == (2, 3)
    expected = np.array(values, dtype=TYPES[type_code][1]).reshape(2, 3)
    np.testing.assert_array_equal(array, expected)
    if type_code == 0x0E:
        assert np.signbit(array[0, 1])  # -0.0 survives


def test_hand_written_bytes(tmp_path):
    # magic 00 00 08 01, one dimension of 3, then the bytes 1 2 255
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 255]))
    np.testing.assert_array_equal(read_idx(path), np.array([1, 2, 255], dtype=np.uint8))
    # int16 256 + 2 = 258 stored big-endian as 01 02
    path.write_bytes(bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2]))
    assert read_idx(path).tolist() == [[258]]


def test_gzip_detected_by_content_not_name(tmp_path):
    content = idx_bytes(0x08, (2, 2), [1, 2, 3, 4])
    gz_without_suffix = write(tmp_path / "train-images-idx3-ubyte", content, gz=True)
    raw_with_gz_suffix = write(tmp_path / "raw.gz", content)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), [[1, 2], [3, 4]])


def test_mnist_like_three_dimensional_file(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    path = write(tmp_path / "imgs", idx_bytes(0x08, images.shape, images.ravel().tolist()), True)
    np.testing.assert_array_equal(read_idx(path), images)


def test_empty_dimension(tmp_path):
    path = write(tmp_path / "empty", idx_bytes(0x08, (0, 28, 28), []))
    assert read_idx(path).shape == (0, 28, 28)


def check_error(path, *patterns):
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert os.fspath(path) in message
    for pattern in patterns:
        assert pattern in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_bad_magic(tmp_path, gz):
    content = bytearray(idx_bytes(0x08, (2,), [1, 2]))
    content[0] = 0x01
    check_error(write(tmp_path / "bad", bytes(content), gz), "bad magic", "01 00 08 01")


def test_unknown_type_code(tmp_path):
    content = bytearray(idx_bytes(0x08, (2,), [1, 2]))
    content[2] = 0x0A
    check_error(write(tmp_path / "bad", bytes(content)), "unknown type code 0x0A")


def test_zero_dimensions(tmp_path):
    check_error(write(tmp_path / "bad", bytes([0, 0, 8, 0, 7])), "0 dimensions")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_truncated_data(tmp_path, gz):
    content = idx_bytes(0x0B, (2, 3), [1, 2, 3, 4, 5, 6])[:-3]
    check_error(write(tmp_path / "short", content, gz), "truncated", "12 data bytes", "only 9")


@pytest.mark.parametrize("length", [0, 3, 4, 9])
def test_truncated_header(tmp_path, length):
    content = idx_bytes(0x08, (2, 3, 4), [0] * 24)[:length]
    check_error(write(tmp_path / "short", content), "truncated")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_trailing_garbage(tmp_path, gz):
    content = idx_bytes(0x08, (2,), [1, 2]) + b"xyz"
    check_error(write(tmp_path / "long", content, gz), "3 bytes of trailing garbage")


def test_corrupt_and_truncated_gzip(tmp_path):
    compressed = gzip.compress(idx_bytes(0x08, (100,), list(range(100))))
    check_error(write(tmp_path / "cut.gz", compressed[:-10]), "cannot be decompressed")
    check_error(write(tmp_path / "junk.gz", b"\x1f\x8b" + b"junk" * 5), "cannot be decompressed")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent-ubyte")


def write_pair(folder, images, labels, label_code=0x08, gz=(False, False), prefix="train"):
    images_path = write(
        folder / f"{prefix}-images-idx3-ubyte{'.gz' if gz[0] else ''}",
        idx_bytes(0x08, images.shape, images.ravel().tolist()),
        gz[0],
    )
    labels_path = write(
        folder / f"{prefix}-labels-idx1-ubyte{'.gz' if gz[1] else ''}",
        idx_bytes(label_code, labels.shape, labels.ravel().tolist()),
        gz[1],
    )
    return images_path, labels_path


def test_load_idx_dataset_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(4, 3, 2), dtype=np.uint8)
    labels = np.array([3, 7, 0, 255], dtype=np.uint8)
    got_images, got_labels = load_idx_dataset(*write_pair(tmp_path, images, labels, gz=(1, 0)))
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_labels, [3, 7, 0, 255])


def test_count_mismatch_names_both_files(tmp_path):
    images = np.zeros((4, 2, 2), np.uint8)
    images_path, labels_path = write_pair(tmp_path, images, np.arange(3, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="3 labels") as info:
        load_idx_dataset(images_path, labels_path)
    assert os.fspath(images_path) in str(info.value) and os.fspath(labels_path) in str(info.value)
    assert "4 images" in str(info.value)


def test_labels_must_be_one_dimensional_integers(tmp_path):
    images_path = write(tmp_path / "i", idx_bytes(0x08, (2, 2, 2), [0] * 8))
    float_labels = write(tmp_path / "lf", idx_bytes(0x0D, (2,), [0.0, 1.0]))
    matrix_labels = write(tmp_path / "lm", idx_bytes(0x08, (2, 1), [0, 1]))
    for labels_path in (float_labels, matrix_labels):
        with pytest.raises(IDXFormatError, match="expected integers") as info:
            load_idx_dataset(images_path, labels_path)
        assert os.fspath(labels_path) in str(info.value)


def test_images_must_be_three_or_four_dimensional(tmp_path):
    flat = write(tmp_path / "flat", idx_bytes(0x08, (2, 4), [0] * 8))
    labels = write(tmp_path / "l", idx_bytes(0x08, (2,), [0, 1]))
    with pytest.raises(IDXFormatError, match="flat"):
        load_idx_dataset(flat, labels)
    four = write(tmp_path / "four", idx_bytes(0x08, (2, 1, 2, 2), list(range(8))))
    assert load_idx_dataset(four, labels)[0].shape == (2, 1, 2, 2)


def test_signed_labels_are_kept(tmp_path):
    images_path = write(tmp_path / "i", idx_bytes(0x08, (2, 1, 1), [0, 0]))
    labels_path = write(tmp_path / "l", idx_bytes(0x0C, (2,), [-1, 70000]))
    np.testing.assert_array_equal(load_idx_dataset(images_path, labels_path)[1], [-1, 70000])


def test_idx_folder_dataset(tmp_path):
    rng = np.random.default_rng(2)
    train_images = rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
    train_labels = rng.integers(0, 10, size=5).astype(np.uint8)
    valid_images = rng.integers(0, 256, size=(2, 4, 4), dtype=np.uint8)
    valid_labels = np.array([9, 0], np.uint8)
    write_pair(tmp_path, train_images, train_labels, gz=(True, True))
    write_pair(tmp_path, valid_images, valid_labels, gz=(False, True), prefix="t10k")
    data = idx_folder_dataset(tmp_path)
    np.testing.assert_array_equal(data["train"][0], train_images)
    np.testing.assert_array_equal(data["train"][1], train_labels)
    np.testing.assert_array_equal(data["valid"][0], valid_images)
    np.testing.assert_array_equal(data["valid"][1], [9, 0])


def test_idx_folder_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        idx_folder_dataset(tmp_path / "absent")
    images = np.zeros((1, 2, 2), np.uint8)
    labels = np.zeros(1, np.uint8)
    write_pair(tmp_path, images, labels)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        idx_folder_dataset(tmp_path)
    write_pair(tmp_path, images, labels, prefix="t10k")
    write_pair(tmp_path, images, labels, gz=(True, False), prefix="t10k")
    with pytest.raises(IDXFormatError, match="both"):
        idx_folder_dataset(tmp_path)
