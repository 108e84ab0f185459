"""show_image and show_batch, drawn with matplotlib's Agg backend and checked as PNG files."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from numbaconv.data.loader import DataLoader, DataLoaders, Normalize
from numbaconv.data.show import show_batch, show_image


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def png_size(figure, path, dpi=72):
    figure.savefig(path, dpi=dpi)
    with Image.open(path) as image:
        image.load()
        return image.size


def digits(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 2, size=n)


def test_show_image_digit_is_72_pixels_at_72_dpi(plt, tmp_path):
    image = digits(1)[0][0]
    ax = show_image(image, title="three")
    assert ax.get_title() == "three" and not ax.axison
    assert tuple(ax.figure.get_size_inches()) == (1.0, 1.0)  # fastai: 28 // 32 -> 1 inch
    assert png_size(ax.figure, tmp_path / "digit.png") == (72, 72)
    shown = ax.images[0]
    np.testing.assert_array_equal(shown.get_array(), image)
    assert shown.get_cmap().name == "Greys"


def test_default_figsize_follows_fastai_bounds(plt):
    assert tuple(show_image(np.zeros((64, 200))).figure.get_size_inches()) == (5.0, 2.0)
    assert tuple(show_image(np.zeros((10, 10)), figsize=(3, 2)).figure.get_size_inches()) == (
        3.0,
        2.0,
    )


def test_channel_layouts(plt):
    rng = np.random.default_rng(1)
    gray = rng.random((5, 6))
    for variant in (gray, gray[None], gray[..., None]):
        np.testing.assert_array_equal(show_image(variant).images[0].get_array(), gray)
    rgb = rng.integers(0, 256, size=(3, 5, 6), dtype=np.uint8)
    for variant in (rgb, rgb.transpose(1, 2, 0)):
        shown = show_image(variant).images[0].get_array()
        np.testing.assert_array_equal(shown, rgb.transpose(1, 2, 0))


def test_signed_maps_are_auto_scaled(plt):
    edges = np.array([[-2.988, 0.0, 1.5], [0.25, -1.0, 2.0]])  # e.g. a left-edge map / 255
    norm = show_image(edges).images[0].norm
    assert norm.vmin == pytest.approx(-2.988) and norm.vmax == pytest.approx(2.0)
    pinned = show_image(edges, vmin=-3, vmax=3, cmap="Reds").images[0]
    assert (pinned.norm.vmin, pinned.norm.vmax) == (-3, 3)
    assert pinned.get_cmap().name == "Reds"


def test_show_image_on_given_axes(plt):
    fig, axs = plt.subplots(1, 3, figsize=(12, 4))
    for ax, cmap in zip(axs, ["Reds", "Greens", "Blues"], strict=True):
        assert show_image(np.eye(4, dtype=np.uint8) * 255, ax=ax, cmap=cmap) is ax
    assert [ax.images[0].get_cmap().name for ax in axs] == ["Reds", "Greens", "Blues"]
    assert len(fig.axes) == 3


def test_bool_images_are_shown(plt):
    shown = show_image(np.eye(3, dtype=bool)).images[0].get_array()
    np.testing.assert_array_equal(shown, np.eye(3))


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (np.zeros(5), ValueError),
        (np.zeros((2, 4, 4)), ValueError),
        (np.zeros((1, 1, 4, 4)), ValueError),
        (np.zeros((0, 4)), ValueError),
        (np.zeros((4, 4), dtype=complex), TypeError),
        (np.array([["a", "b"]]), TypeError),
    ],
)
def test_show_image_bad_input(image, error):
    with pytest.raises(error, match="im"):
        show_image(image)


def test_show_batch_arrays_grid_titles_and_pixels(plt, tmp_path):
    images, labels = digits(12)
    axes = show_batch((images, labels), max_n=9, figsize=(4, 4), vocab=["3", "7"])
    figure = axes[0].figure
    assert len(axes) == 9 and len(figure.axes) == 9
    assert [ax.get_title() for ax in axes] == [["3", "7"][i] for i in labels[:9]]
    for ax, image in zip(axes, images[:9], strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), image)
    assert png_size(figure, tmp_path / "batch.png") == (288, 288)


def test_show_batch_grid_shape(plt):
    images, labels = digits(5)
    axes = show_batch((images, labels), max_n=9)
    assert len(axes) == 5 and len(axes[0].figure.axes) == 5  # 2 x 3 grid, one cell removed
    rows_cols = {ax.get_subplotspec().get_geometry()[:2] for ax in axes}
    assert rows_cols == {(2, 3)}
    assert [ax.get_title() for ax in axes] == [str(i) for i in labels]
    wide = show_batch((images, None), max_n=4, nrows=1)
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in wide} == {(1, 4)}
    assert [ax.get_title() for ax in wide] == [""] * 4


def test_show_batch_dataloaders_uses_vocab_and_undoes_normalize(plt):
    images, labels = digits(20)
    dls = DataLoaders.from_arrays(
        images,
        labels,
        images[:4],
        labels[:4],
        bs=9,
        seed=3,
        vocab=("3", "7"),
        normalize=Normalize(),
    )
    x, y = dls.train.one_batch()
    axes = show_batch(dls, max_n=9)
    assert [ax.get_title() for ax in axes] == [("3", "7")[i] for i in y]
    raw = np.rint(dls.train.normalize.decode(x) * 255)
    for ax, expected in zip(axes, raw, strict=True):
        np.testing.assert_allclose(np.rint(ax.images[0].get_array() * 255), expected[0])
    plain = show_batch(DataLoader(images, labels, bs=4), max_n=9)
    assert [ax.get_title() for ax in plain] == [str(i) for i in labels[:4]]


def test_show_batch_rgb(plt, tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(4, 3, 8, 8), dtype=np.uint8)
    axes = show_batch(DataLoader(rgb, [0, 1, 2, 3], bs=4, vocab=list("abcd")), figsize=(2, 2))
    assert [ax.get_title() for ax in axes] == list("abcd")
    np.testing.assert_allclose(axes[1].images[0].get_array(), rgb[1].transpose(1, 2, 0) / 255)
    assert png_size(axes[0].figure, tmp_path / "rgb.png", dpi=50) == (100, 100)


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "match"),
    [
        ((np.zeros((0, 2, 2)), np.zeros(0)), {}, ValueError, "no image"),
        ((np.zeros((3, 2, 2)), np.zeros(2)), {}, ValueError, "labels"),
        ((np.zeros((3, 2)), np.zeros(3)), {}, ValueError, "images"),
        (np.zeros((3, 2, 2)), {}, TypeError, "dls_or_arrays"),
        ((np.zeros((3, 2, 2)), np.zeros(3)), {"max_n": 0}, ValueError, "max_n"),
        ((np.zeros((3, 2, 2)), np.zeros(3)), {"nrows": 1, "ncols": 2}, ValueError, "grid"),
        ((np.zeros((3, 2, 2)), np.zeros(3)), {"ncols": 1.5}, ValueError, "ncols"),
    ],
)
def test_show_batch_bad_arguments(plt, source, kwargs, error, match):
    with pytest.raises(error, match=match):
        show_batch(source, **kwargs)


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "numbaconv\[plot\]"'):
        show_image(np.zeros((4, 4)))
    with pytest.raises(ImportError, match=r'pip install "numbaconv\[plot\]"'):
        show_batch((np.zeros((2, 4, 4)), np.zeros(2, np.int64)))


def test_normalized_rgb_batch_is_shown_within_zero_one(plt):
    # Undoing Normalize rounds some pixels just outside [0, 1], which matplotlib would clip
    # with a warning on RGB; show_batch clips them itself and keeps the colours.
    x = np.random.default_rng(0).integers(0, 256, (16, 3, 8, 8)).astype(np.uint8)
    x[:, :, 0, 0] = 0  # exact zeros, the values that decode to tiny negatives
    y = np.arange(16) % 2
    dls = DataLoaders.from_arrays(x, y, x, y, bs=8, vocab=("a", "b"), normalize=Normalize())
    axes = show_batch(dls, max_n=4)
    for ax in axes:
        shown = np.asarray(ax.images[0].get_array())
        assert shown.shape == (8, 8, 3)
        assert 0.0 <= shown.min() and shown.max() <= 1.0
        assert shown.min() == 0.0  # the zeros stay zeros
