"""DataLoader, DataLoaders and Normalize: fastai's defaults, seeded shuffles, chapter counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from numbaconv import random as nc_random
from numbaconv.data.loader import DataLoader, DataLoaders, Normalize


def fake(n, shape=(1, 1), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    labels = rng.integers(0, 2, size=n)
    return images, labels


def batches(loader):
    return [(x.copy(), y.copy()) for x, y in loader]


def test_uint8_batches_are_float32_nchw_divided_by_255():
    images, labels = fake(7, (3, 4))
    dl = DataLoader(images, labels, bs=3)
    got = batches(dl)
    assert len(dl) == len(got) == 3
    assert [x.shape for x, _ in got] == [(3, 1, 3, 4), (3, 1, 3, 4), (1, 1, 3, 4)]
    x = np.concatenate([b[0] for b in got])
    y = np.concatenate([b[1] for b in got])
    assert x.dtype == np.float32 and y.dtype == np.int64
    # fastai's IntToFloatTensor: a correctly rounded float32 x / 255
    expected = (images[:, None].astype(np.float64) / 255).astype(np.float32)
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, labels)
    assert x.min() >= 0 and x.max() <= 1


def test_every_grey_level_scales_exactly():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x, _ = DataLoader(levels, [0]).one_batch()
    assert x[0, 0, 0, 0] == 0 and x[0, 0, 15, 15] == 1
    assert x.ravel()[51] == np.float32(0.2)  # 51 / 255 = 0.2 exactly
    np.testing.assert_array_equal(x.ravel(), np.float32(np.arange(256) / 255))


def test_nchw_rgb_and_float_inputs():
    rgb = np.random.default_rng(1).integers(0, 256, size=(4, 3, 2, 2), dtype=np.uint8)
    x, _ = DataLoader(rgb, [0, 1, 0, 1], bs=4).one_batch()
    assert x.shape == (4, 3, 2, 2)
    np.testing.assert_array_equal(x, (rgb / 255).astype(np.float32))
    floats = np.random.default_rng(2).normal(size=(4, 2, 2))
    x, _ = DataLoader(floats, [0, 1, 0, 1], bs=4).one_batch()
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, floats[:, None].astype(np.float32))


def test_batches_do_not_alias_the_inputs():
    images, labels = fake(4, (2, 2))
    keep = images.copy()
    x, y = DataLoader(images.astype(np.float32), labels, bs=4).one_batch()
    x[:] = -1
    y[:] = -1
    np.testing.assert_array_equal(images, keep)
    assert labels.min() >= 0


def test_non_contiguous_inputs_match_contiguous_copies():
    base, labels = fake(12, (5, 6), seed=3)
    strided = base[::2, :, ::-1].transpose(0, 2, 1)  # (6, 6, 5) view, no contiguous layout
    strided_labels = np.repeat(labels, 2)[::4]
    assert not strided.flags.c_contiguous and not strided_labels.flags.c_contiguous
    a = batches(DataLoader(strided, strided_labels, bs=4, shuffle=True, seed=5))
    b = batches(DataLoader(strided.copy(), strided_labels.copy(), bs=4, shuffle=True, seed=5))
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_shuffle_is_a_new_permutation_each_epoch_and_reproducible():
    n = 40
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1)
    labels = np.arange(n)
    dl = DataLoader(images, labels, bs=8, shuffle=True, seed=123)
    assert dl.drop_last and len(dl) == 5
    epochs = [np.concatenate([y for _, y in dl]) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(n))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert not np.array_equal(epochs[0], np.arange(n))
    twin = DataLoader(images, labels, bs=8, shuffle=True, seed=123)
    twin_epochs = [np.concatenate([y for _, y in twin]) for _ in range(3)]
    for a, b in zip(epochs, twin_epochs, strict=True):
        np.testing.assert_array_equal(a, b)
    other = DataLoader(images, labels, bs=8, shuffle=True, seed=124)
    assert not np.array_equal(np.concatenate([y for _, y in other]), epochs[0])


def test_shuffled_batches_pair_images_with_their_labels():
    n = 30
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1)
    for x, y in DataLoader(images, np.arange(n), bs=7, shuffle=True, seed=0):
        np.testing.assert_array_equal(np.rint(x[:, 0, 0, 0] * 255).astype(np.int64), y)


def test_drop_last_false_with_shuffle_keeps_the_partial_batch():
    images, labels = fake(10)
    dl = DataLoader(images, labels, bs=4, shuffle=True, drop_last=False, seed=0)
    assert len(dl) == 3
    assert sorted(np.concatenate([y for _, y in dl]).tolist()) == sorted(labels.tolist())
    assert len(DataLoader(images, labels, bs=4, drop_last=True)) == 2


def test_one_batch_is_the_next_first_batch_and_consumes_nothing():
    images, labels = fake(20, (2, 2))
    dl = DataLoader(images, labels, bs=6, shuffle=True, seed=9)
    twin = DataLoader(images, labels, bs=6, shuffle=True, seed=9)
    x1, y1 = dl.one_batch()
    x2, y2 = dl.one_batch()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    # Peeking twice changed nothing: dl still yields exactly twin's epochs.
    first_epoch = batches(dl)
    np.testing.assert_array_equal(first_epoch[0][0], x1)
    np.testing.assert_array_equal(first_epoch[0][1], y1)
    assert not np.array_equal(dl.one_batch()[0], x1)  # the next epoch has a new order
    second_epoch = batches(dl)
    for mine, theirs in ((first_epoch, batches(twin)), (second_epoch, batches(twin))):
        for (xa, ya), (xb, yb) in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_manual_seed_makes_unseeded_shuffling_repeat():
    images, labels = fake(30)
    orders = []
    for _ in range(2):
        nc_random.manual_seed(2024)
        dl = DataLoader(images, np.arange(30), bs=30, shuffle=True)
        orders.append(np.concatenate([y for _, y in dl]))
    np.testing.assert_array_equal(orders[0], orders[1])
    gen = np.random.default_rng(5)
    dl = DataLoader(images, labels, bs=5, shuffle=True, seed=gen)
    assert len(batches(dl)) == 6


@pytest.mark.parametrize(
    ("n_train", "n_valid", "bs", "train_batches", "valid_batches", "last_valid"),
    [
        (12396, 2038, 64, 193, 32, 2038 - 31 * 64),  # MNIST_SAMPLE
        (60000, 10000, 64, 937, 157, 10000 - 156 * 64),  # MNIST, bs 64
        (60000, 10000, 512, 117, 20, 272),  # MNIST, bs 512
    ],
)
def test_batch_counts_of_chapter13(n_train, n_valid, bs, train_batches, valid_batches, last_valid):
    train, valid = fake(n_train), fake(n_valid, seed=1)
    dls = DataLoaders.from_arrays(*train, *valid, bs=bs, seed=0)
    assert len(dls.train) == train_batches and len(dls.valid) == valid_batches
    train_sizes = [y.shape[0] for _, y in dls.train]
    assert train_sizes == [bs] * train_batches
    valid_sizes = [y.shape[0] for _, y in dls.valid]
    assert valid_sizes == [bs] * (valid_batches - 1) + [last_valid]
    assert sum(valid_sizes) == n_valid


def test_dataloaders_defaults_mirror_fastai():
    train, valid = fake(50, (2, 2)), fake(21, (2, 2), seed=1)
    dls = DataLoaders.from_arrays(*train, *valid, bs=8, seed=0, vocab=["3", "7"])
    assert dls.train.shuffle and dls.train.drop_last and dls.train.bs == 8
    assert not dls.valid.shuffle and not dls.valid.drop_last and dls.valid.bs == 8
    assert dls[0] is dls.train and dls[1] is dls.valid
    assert dls.vocab == ("3", "7") == dls.train.vocab
    y = np.concatenate([y for _, y in dls.valid])
    np.testing.assert_array_equal(y, valid[1])  # ordered, nothing dropped
    x, yb = dls.one_batch()
    assert x.shape == (8, 1, 2, 2) and yb.shape == (8,)
    np.testing.assert_array_equal(yb, dls.train.one_batch()[1])
    with_val_bs = DataLoaders.from_arrays(*train, *valid, bs=8, val_bs=16)
    assert with_val_bs.valid.bs == 16 and len(with_val_bs.valid) == 2
    unshuffled = DataLoaders.from_arrays(*train, *valid, bs=8, shuffle=False)
    assert not unshuffled.train.shuffle and not unshuffled.train.drop_last


def test_normalize_estimates_stats_from_one_training_batch_like_fastai():
    rng = np.random.default_rng(4)
    train = rng.integers(0, 256, size=(40, 3, 4, 4), dtype=np.uint8), rng.integers(0, 3, 40)
    valid = rng.integers(0, 256, size=(9, 3, 4, 4), dtype=np.uint8), rng.integers(0, 3, 9)
    raw = DataLoaders.from_arrays(*train, *valid, bs=16, seed=7)
    raw_x, raw_y = raw.train.one_batch()
    norm = Normalize()
    dls = DataLoaders.from_arrays(*train, *valid, bs=16, seed=7, normalize=norm)
    assert dls.train.normalize is norm and dls.valid.normalize is norm and norm.is_setup
    reference = raw_x.astype(np.float64)
    mean = reference.mean(axis=(0, 2, 3), keepdims=True)
    # torch's std is unbiased: divide by count - 1; fastai adds 1e-7.
    count = reference.shape[0] * reference.shape[2] * reference.shape[3]
    std = np.sqrt(((reference - mean) ** 2).sum(axis=(0, 2, 3), keepdims=True) / (count - 1))
    std += 1e-7
    assert norm.mean.shape == norm.std.shape == (1, 3, 1, 1)
    assert norm.mean.dtype == np.float32
    np.testing.assert_allclose(norm.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(norm.std, std, rtol=1e-6)
    x, y = dls.train.one_batch()
    np.testing.assert_array_equal(y, raw_y)
    np.testing.assert_allclose(x, (reference - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3), ddof=1), 1, atol=1e-5)
    valid_x = next(iter(dls.valid))[0]
    raw_valid = valid[0][:16].astype(np.float64) / 255
    np.testing.assert_allclose(valid_x, (raw_valid - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.decode(x), raw_x, atol=1e-6)


def test_given_stats_are_used_as_given():
    images = np.array([[[0, 51], [102, 255]]], dtype=np.uint8)  # 0, 0.2, 0.4, 1.0
    norm = Normalize(mean=0.2, std=0.4)
    x, _ = DataLoader(images, [0], normalize=norm).one_batch()
    np.testing.assert_allclose(x.ravel(), [-0.5, 0.0, 0.5, 2.0], rtol=1e-6, atol=1e-7)
    assert norm.mean.ravel().tolist() == [np.float32(0.2)]
    rgb = np.full((2, 3, 1, 1), 255, dtype=np.uint8)
    per_channel = Normalize(mean=[0.5, 0.25, 0.0], std=[0.5, 0.25, 2.0])
    x, _ = DataLoader(rgb, [0, 1], bs=2, normalize=per_channel).one_batch()
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, 3.0, 0.5], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mean": 0.5}, ValueError, "both"),
        ({"std": 0.5}, ValueError, "both"),
        ({"mean": 0.5, "std": 0.0}, ValueError, "std"),
        ({"mean": 0.5, "std": [1.0, -1.0]}, ValueError, "std"),
        ({"mean": float("nan"), "std": 1.0}, ValueError, "mean"),
        ({"mean": [[0.1]], "std": 1.0}, ValueError, "mean"),
        ({"mean": [0.1, 0.2], "std": [1.0, 1.0, 1.0]}, ValueError, "channels"),
        ({"mean": "a", "std": 1.0}, TypeError, "mean"),
    ],
)
def test_normalize_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Normalize(**kwargs)


def test_normalize_needs_stats_and_matching_channels():
    with pytest.raises(RuntimeError, match="no statistics"):
        Normalize()(np.zeros((1, 1, 2, 2), np.float32))
    norm = Normalize(mean=[0.1, 0.2], std=[1.0, 1.0])
    with pytest.raises(ValueError, match="2 channel"):
        norm(np.zeros((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match="2 channel"):
        DataLoader(np.zeros((2, 3, 2, 2), np.uint8), [0, 1], normalize=norm).one_batch()
    with pytest.raises(ValueError, match="at least 2 values"):
        Normalize().setup(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="no batch"):
        DataLoader(
            np.zeros((3, 2, 2), np.uint8), [0, 1, 0], bs=4, shuffle=True, normalize=Normalize()
        )


def test_empty_dataset():
    dl = DataLoader(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), bs=4)
    assert len(dl) == 0 and batches(dl) == []
    with pytest.raises(ValueError, match="no batch"):
        dl.one_batch()
    assert len(DataLoader(np.zeros((0, 1, 2, 2), np.uint8), [], shuffle=True)) == 0


def test_read_only_inputs_as_the_bundled_sample_caches_them():
    images, labels = fake(6, (28, 28))
    images.flags.writeable = False
    labels.flags.writeable = False
    x, y = DataLoader(images, labels, bs=6).one_batch()
    np.testing.assert_array_equal(x[:, 0], (images / 255).astype(np.float32))
    np.testing.assert_array_equal(y, labels)
    x[:] = 0  # batches are the caller's to modify


def test_device():
    images, labels = fake(2)
    with pytest.raises(RuntimeError, match="CUDA"):
        DataLoader(images, labels, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        DataLoaders.from_arrays(images, labels, images, labels, device="cuda:0")
    with pytest.raises(ValueError, match="device"):
        DataLoader(images, labels, device="gpu")
    assert DataLoader(images, labels, device="cpu").device == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"bs": 0}, ValueError, "bs"),
        ({"bs": -3}, ValueError, "bs"),
        ({"bs": 2.0}, TypeError, "bs"),
        ({"bs": True}, TypeError, "bs"),
        ({"shuffle": "yes"}, TypeError, "shuffle"),
        ({"drop_last": 1}, TypeError, "drop_last"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"labels": np.zeros(3, np.int64)}, ValueError, "3 labels"),
        ({"labels": np.zeros(4, np.float32)}, TypeError, "labels"),
        ({"labels": np.zeros((4, 1), np.int64)}, ValueError, "labels"),
        ({"images": np.zeros((4, 2, 2), np.int64)}, TypeError, "images"),
        ({"images": np.zeros((4, 2, 2), np.float16)}, TypeError, "images"),
        ({"images": np.zeros((4, 4), np.uint8)}, ValueError, "images"),
        ({"normalize": "imagenet"}, TypeError, "normalize"),
        ({"vocab": ["a"]}, ValueError, "vocab"),
        ({"vocab": "ab"}, TypeError, "vocab"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    arguments = {"images": np.zeros((4, 2, 2), np.uint8), "labels": np.array([0, 1, 0, 1])}
    arguments |= kwargs
    with pytest.raises(error, match=match):
        DataLoader(**arguments)


def test_dataloaders_bad_arguments():
    images, labels = fake(4, (2, 2))
    dl = DataLoader(images, labels)
    with pytest.raises(TypeError, match="valid"):
        DataLoaders(dl, (images, labels))
    with pytest.raises(ValueError, match=r"\(1, 3, 3\)"):
        DataLoaders.from_arrays(images, labels, *fake(4, (3, 3)))
    with pytest.raises(ValueError, match="valid labels"):
        DataLoaders(dl, DataLoader(images, labels + 5), vocab=["a", "b"])


def test_from_folder(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for split, cls, count in [("train", "3", 3), ("train", "7", 2), ("valid", "3", 1)]:
        folder = tmp_path / split / cls
        folder.mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, size=(5, 4), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
            written[f"{split}/{cls}/{i}.png"] = pixels
    dls = DataLoaders.from_folder(tmp_path, bs=2, seed=0)
    assert dls.vocab == ("3", "7")
    assert len(dls.train) == 2 and len(dls.valid) == 1
    x, y = next(iter(dls.valid))
    np.testing.assert_array_equal(y, [0])
    np.testing.assert_array_equal(x[0, 0], (written["valid/3/0.png"] / 255).astype(np.float32))
    seen = np.concatenate([x for x, _ in DataLoaders.from_folder(tmp_path, bs=5).train])
    assert seen.shape == (5, 1, 5, 4)
    rgb = DataLoaders.from_folder(tmp_path, mode="RGB", bs=1, shuffle=False)
    assert rgb.train.one_batch()[0].shape == (1, 3, 5, 4)
