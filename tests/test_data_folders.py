"""Image folders in fastai's layout: golden pixels, RGB, split names, and every error."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from numbaconv.data.folders import (
    ImageFolderError,
    ImageReadError,
    get_image_files,
    image_folder_dataset,
    read_image,
    resize_image,
)
from tests.scripts_import import load_script

# chapter13.md §2.6: im3_t[:10, :20] of MNIST_SAMPLE train/3/12.png (rows 0-4 are all 0).
GOLDEN_ROWS_5_TO_9 = [
    [0, 0, 0, 12, 99, 91, 142, 155, 246, 182, 155, 155, 155, 155, 131, 52, 0, 0, 0, 0],
    [0, 0, 0, 138, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 252, 210, 122, 33, 0],
    [0, 0, 0, 220, 254, 254, 254, 235, 189, 189, 189, 189, 150, 189, 205, 254, 254, 254, 75, 0],
    [0, 0, 0, 35, 74, 35, 35, 25, 0, 0, 0, 0, 0, 0, 13, 224, 254, 254, 153, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 90, 254, 254, 247, 53, 0],
]


def golden_digit() -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[5:10, :20] = GOLDEN_ROWS_5_TO_9
    return image


def save(path, pixels, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode=mode).save(path)
    return path


def gray(seed, shape=(6, 5)):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.fixture
def gray_tree(tmp_path):
    """train/{3,7}, valid/{3,7} grayscale 28x28 PNGs, train/3/12.png the golden digit."""
    save(tmp_path / "train" / "3" / "12.png", golden_digit())
    save(tmp_path / "train" / "3" / "30.png", gray(1, (28, 28)))
    save(tmp_path / "train" / "7" / "5.png", gray(2, (28, 28)))
    save(tmp_path / "valid" / "3" / "8.png", gray(3, (28, 28)))
    save(tmp_path / "valid" / "7" / "9.png", gray(4, (28, 28)))
    save(tmp_path / "valid" / "7" / "10.png", gray(5, (28, 28)))
    return tmp_path


def test_golden_pixels_round_trip_through_png(gray_tree):
    data = image_folder_dataset(gray_tree)
    files = [p.relative_to(gray_tree).as_posix() for p in data.train.files]
    assert files == ["train/3/12.png", "train/3/30.png", "train/7/5.png"]
    images = data.train.images
    assert images.dtype == np.uint8 and images.shape == (3, 1, 28, 28)
    golden = images[0, 0]
    assert np.all(golden[:5, :20] == 0)
    np.testing.assert_array_equal(golden[5:10, :20], np.array(GOLDEN_ROWS_5_TO_9))
    np.testing.assert_array_equal(golden, golden_digit())
    # the hand-read values of the chapter's table
    assert golden[5, 8] == 246 and golden[7, 12] == 150 and golden[9, 14] == 90


def test_labels_vocab_and_files(gray_tree):
    data = image_folder_dataset(gray_tree)
    assert data.vocab == ("3", "7") == data.train.vocab == data.valid.vocab
    assert data.train.labels.dtype == np.int64
    np.testing.assert_array_equal(data.train.labels, [0, 0, 1])
    valid_files = [p.relative_to(gray_tree).as_posix() for p in data.valid.files]
    assert valid_files == ["valid/3/8.png", "valid/7/10.png", "valid/7/9.png"]
    np.testing.assert_array_equal(data.valid.labels, [0, 1, 1])
    for image, file in zip(data.valid.images, data.valid.files, strict=True):
        with Image.open(file) as stored:
            np.testing.assert_array_equal(image[0], np.asarray(stored))


def test_rgb_folder_gives_three_channels(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for split, cls, name in [("train", "a", "1"), ("train", "b", "2"), ("valid", "b", "3")]:
        rgb = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
        pixels[name] = rgb
        save(tmp_path / split / cls / f"{name}.png", rgb, mode="RGB")
    data = image_folder_dataset(tmp_path)
    assert data.train.images.shape == (2, 3, 7, 9)
    assert data.valid.images.shape == (1, 3, 7, 9)
    np.testing.assert_array_equal(data.train.images[1], pixels["2"].transpose(2, 0, 1))
    np.testing.assert_array_equal(data.valid.images[0], pixels["3"].transpose(2, 0, 1))
    np.testing.assert_array_equal(data.valid.labels, [1])

    as_gray = image_folder_dataset(tmp_path, mode="L")
    assert as_gray.train.images.shape == (2, 1, 7, 9)
    # ITU-R 601-2 luma, which Pillow computes in fixed point: within one grey level.
    rgb = pixels["1"].astype(np.float64)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    difference = np.abs(as_gray.train.images[0, 0].astype(np.float64) - luma)
    assert difference.max() <= 1.0


def test_grayscale_as_rgb_repeats_the_channel(gray_tree):
    data = image_folder_dataset(gray_tree, mode="RGB")
    assert data.train.images.shape == (3, 3, 28, 28)
    for channel in range(3):
        np.testing.assert_array_equal(data.train.images[0, channel], golden_digit())


def test_custom_split_names_as_full_mnist(tmp_path):
    save(tmp_path / "training" / "0" / "a.png", gray(0))
    save(tmp_path / "training" / "1" / "b.png", gray(1))
    save(tmp_path / "testing" / "1" / "c.png", gray(2))
    data = image_folder_dataset(tmp_path, train="training", valid="testing")
    assert data.vocab == ("0", "1")
    np.testing.assert_array_equal(data.valid.labels, [1])
    with pytest.raises(FileNotFoundError, match="train"):
        image_folder_dataset(tmp_path)


def test_vocab_is_sorted_and_valid_may_lack_classes(tmp_path):
    for name in ["b", "a", "c"]:
        save(tmp_path / "train" / name / "x.png", gray(ord(name)))
    save(tmp_path / "valid" / "c" / "y.png", gray(9))
    data = image_folder_dataset(tmp_path)
    assert data.vocab == ("a", "b", "c")
    np.testing.assert_array_equal(data.train.labels, [0, 1, 2])
    np.testing.assert_array_equal(data.valid.labels, [2])


def test_hidden_and_non_image_files_are_ignored_and_extensions_case_insensitive(gray_tree):
    (gray_tree / "labels.csv").write_text("name,label\n")
    (gray_tree / "train" / "3" / "notes.txt").write_text("not an image")
    (gray_tree / "train" / "3" / ".hidden.png").write_bytes(b"not even a png")
    save(gray_tree / "train" / ".cache" / "junk.png", gray(0))
    save(gray_tree / "train" / "7" / "UPPER.PNG", gray(6, (28, 28)))
    files = get_image_files(gray_tree / "train")
    assert [p.relative_to(gray_tree).as_posix() for p in files] == [
        "train/3/12.png",
        "train/3/30.png",
        "train/7/5.png",
        "train/7/UPPER.PNG",
    ]
    data = image_folder_dataset(gray_tree)
    assert data.train.images.shape[0] == 4
    np.testing.assert_array_equal(data.train.images[3, 0], gray(6, (28, 28)))


def test_one_bit_images_become_0_and_255(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    path = tmp_path / "train" / "a" / "b.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(bits).save(path)
    with Image.open(path) as stored:
        assert stored.mode == "1"
    np.testing.assert_array_equal(read_image(path)[0], bits.astype(np.uint8) * 255)


def test_missing_root_and_split(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        image_folder_dataset(missing)
    save(tmp_path / "train" / "3" / "a.png", gray(0))
    with pytest.raises(FileNotFoundError, match="valid"):
        image_folder_dataset(tmp_path)


def test_empty_split_is_an_error(tmp_path):
    save(tmp_path / "train" / "3" / "a.png", gray(0))
    (tmp_path / "valid").mkdir()
    with pytest.raises(ImageFolderError, match="no class folders") as info:
        image_folder_dataset(tmp_path)
    assert os.fspath(tmp_path / "valid") in str(info.value)


def test_class_folder_without_images_is_an_error(gray_tree):
    empty = gray_tree / "train" / "9"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ImageFolderError, match="hold no image files") as info:
        image_folder_dataset(gray_tree)
    assert os.fspath(empty) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"this is not a png at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10],
    ids=["garbage", "bad-png-header"],
)
def test_corrupt_image_names_the_file(gray_tree, content):
    bad = gray_tree / "valid" / "7" / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        image_folder_dataset(gray_tree)
    assert isinstance(info.value, OSError)
    assert os.fspath(bad) in str(info.value)


def test_truncated_image_names_the_file(gray_tree):
    good = gray_tree / "train" / "3" / "30.png"
    content = good.read_bytes()
    good.write_bytes(content[: len(content) // 2])
    with pytest.raises(ImageReadError, match=r"30\.png"):
        image_folder_dataset(gray_tree)


def test_mixed_sizes_name_the_odd_file_and_size(gray_tree):
    odd = save(gray_tree / "train" / "7" / "6.png", gray(0, (27, 28)))
    with pytest.raises(ImageFolderError) as info:
        image_folder_dataset(gray_tree)
    message = str(info.value)
    assert os.fspath(odd) in message and "(1, 27, 28)" in message and "(1, 28, 28)" in message


def test_valid_size_differing_from_train_is_an_error(tmp_path):
    save(tmp_path / "train" / "a" / "x.png", gray(0, (5, 5)))
    save(tmp_path / "valid" / "a" / "y.png", gray(1, (6, 5)))
    with pytest.raises(ImageFolderError, match=r"y\.png.*\(1, 6, 5\)"):
        image_folder_dataset(tmp_path)


def test_mixed_channels_with_mode_none_is_an_error_mode_l_unifies(tmp_path):
    save(tmp_path / "train" / "a" / "1.png", gray(0))
    save(tmp_path / "train" / "a" / "2.png", np.zeros((6, 5, 3), np.uint8), mode="RGB")
    save(tmp_path / "valid" / "a" / "3.png", gray(1))
    with pytest.raises(ImageFolderError, match=r"2\.png.*\(3, 6, 5\)"):
        image_folder_dataset(tmp_path)
    assert image_folder_dataset(tmp_path, mode="L").train.images.shape == (2, 1, 6, 5)


def test_rgba_needs_an_explicit_mode(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, size=(4, 4, 4), dtype=np.uint8)
    path = save(tmp_path / "train" / "a" / "x.png", rgba, mode="RGBA")
    save(tmp_path / "valid" / "a" / "y.png", rgba, mode="RGBA")
    with pytest.raises(ImageReadError, match="RGBA") as info:
        image_folder_dataset(tmp_path)
    assert os.fspath(path) in str(info.value)
    data = image_folder_dataset(tmp_path, mode="RGB")
    np.testing.assert_array_equal(data.train.images[0], rgba[..., :3].transpose(2, 0, 1))


def test_image_outside_a_class_folder_is_an_error(gray_tree):
    stray = save(gray_tree / "train" / "stray.png", gray(0, (28, 28)))
    with pytest.raises(ImageFolderError, match="not directly inside a class folder") as info:
        image_folder_dataset(gray_tree)
    assert os.fspath(stray) in str(info.value)
    stray.unlink()
    nested = save(gray_tree / "train" / "3" / "deeper" / "n.png", gray(0, (28, 28)))
    with pytest.raises(ImageFolderError, match=r"n\.png"):
        image_folder_dataset(gray_tree)
    nested.unlink()
    assert image_folder_dataset(gray_tree).train.images.shape[0] == 3


def test_valid_class_unknown_to_train_is_an_error(gray_tree):
    extra = save(gray_tree / "valid" / "8" / "z.png", gray(0, (28, 28)))
    with pytest.raises(ImageFolderError, match="training split") as info:
        image_folder_dataset(gray_tree)
    assert os.fspath(extra.parent) in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "RGBA"}, "mode"),
        ({"mode": "l"}, "mode"),
        ({"train": "same", "valid": "same"}, "different"),
        ({"train": ""}, "train"),
        ({"valid": None}, "valid"),
        ({"train": "../up"}, "train"),
    ],
)
def test_bad_arguments(gray_tree, kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_folder_dataset(gray_tree, **kwargs)


def test_root_that_is_a_file(tmp_path):
    file = tmp_path / "f.png"
    file.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"f\.png"):
        image_folder_dataset(file)
    with pytest.raises(NotADirectoryError, match=r"f\.png"):
        get_image_files(file)


def test_resize_crops_the_centre_to_the_aspect_ratio():
    # 6 wide x 4 high to 4x4: scale min(6/4, 4/4) = 1, so the centre 4x4 (columns 1-4) is cut
    # out and needs no resampling; hand-computed, no Pillow reference.
    pixels = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    out = np.asarray(resize_image(Image.fromarray(pixels), 4))
    np.testing.assert_array_equal(out, pixels[:, 1:5])
    # A wide RGB image whose outer thirds are red and blue keeps only its green middle.
    rgb = np.zeros((10, 30, 3), dtype=np.uint8)
    rgb[:, :10, 0], rgb[:, 10:20, 1], rgb[:, 20:, 2] = 255, 200, 255
    square = np.asarray(resize_image(Image.fromarray(rgb), (5, 5)))
    assert square.shape == (5, 5, 3)
    np.testing.assert_array_equal(square[..., 1], 200)
    assert square[..., [0, 2]].max() == 0
    assert resize_image(Image.fromarray(pixels), (4, 6)).size == (6, 4)


def test_read_image_resizes(tmp_path):
    path = save(tmp_path / "a.png", np.full((12, 12), 77))
    out = read_image(path, mode="RGB", size=(8, 6))
    assert out.shape == (3, 8, 6) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, 77)


def mixed_tree(root, sizes, colour_file=None):
    for i, (h, w) in enumerate(sizes):
        for split in ("train", "valid"):
            save(root / split / ("a b" if i % 2 else "c-1") / f"{i}.png", np.full((h, w), 9 * i))
    if colour_file is not None:
        save(root / "valid" / "c-1" / colour_file, np.full((20, 20, 3), 5), mode="RGB")
    return root


def test_auto_size_keeps_an_agreed_size_and_falls_back_to_28(tmp_path):
    agreed = image_folder_dataset(mixed_tree(tmp_path / "a", [(20, 20)] * 4), size="auto")
    assert agreed.train.images.shape == (4, 1, 20, 20)
    assert agreed.vocab == ("a b", "c-1")  # any folder names, sorted
    mixed = image_folder_dataset(mixed_tree(tmp_path / "b", [(20, 20), (30, 16)]), size="auto")
    assert mixed.train.images.shape == (2, 1, 28, 28)
    assert mixed.valid.images.shape == (2, 1, 28, 28)
    fixed = image_folder_dataset(tmp_path / "b", size=(12, 10))
    assert fixed.train.images.shape == (2, 1, 12, 10)
    # Files sort as "a b/1.png", "c-1/0.png"; constant images stay constant.
    np.testing.assert_array_equal(fixed.train.images[0], 9)
    np.testing.assert_array_equal(fixed.train.images[1], 0)


def test_auto_mode_is_rgb_when_any_image_is_colour(tmp_path):
    grey = image_folder_dataset(mixed_tree(tmp_path / "g", [(20, 20)] * 2), mode="auto")
    assert grey.train.images.shape[1] == 1
    colour = mixed_tree(tmp_path / "c", [(20, 20)] * 2, colour_file="rgb.png")
    data = image_folder_dataset(colour, mode="auto")
    assert data.train.images.shape[1:] == data.valid.images.shape[1:] == (3, 20, 20)
    # Grey images become three equal channels; the colour one keeps its pixels.
    np.testing.assert_array_equal(data.train.images[0], 9)
    rgb = data.valid.files.index(colour / "valid" / "c-1" / "rgb.png")
    np.testing.assert_array_equal(data.valid.images[rgb], 5)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"size": 0}, "size"), ({"size": (3,)}, "size"), ({"mode": "P"}, "mode")]
)
def test_bad_size_and_mode(gray_tree, kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_folder_dataset(gray_tree, **kwargs)


def test_generated_clothing_folder_loads_as_rgb(tmp_path):
    # scripts/make_clothing_folder.py: the 48x48 RGB folder the RGB walkthrough trains on.
    script = load_script("make_clothing_folder")
    script.make_folder(tmp_path / "a", n_train=20, n_valid=10, size=16, seed=1)
    script.make_folder(tmp_path / "b", n_train=20, n_valid=10, size=16, seed=1)
    data = image_folder_dataset(tmp_path / "a", mode="auto", size="auto")
    assert data.vocab == tuple(sorted(script.CLASSES))
    assert data.train.images.shape == (20, 3, 16, 16)
    assert data.valid.images.shape == (10, 3, 16, 16)
    assert np.bincount(data.train.labels).tolist() == [2] * 10
    # Colour, not grey in three channels; and the same seed writes the same pixels.
    assert np.any(data.train.images[:, 0] != data.train.images[:, 1])
    again = image_folder_dataset(tmp_path / "b")
    np.testing.assert_array_equal(again.train.images, data.train.images)
