"""numbaconv.models: the chapter-13 architectures, their parameter counts, shapes and reprs."""

from __future__ import annotations

import numpy as np
import pytest

from numbaconv.autograd import Tensor, no_grad
from numbaconv.models import (
    broken_cnn,
    conv,
    simple_cnn,
    simple_cnn_3v7,
    simple_net,
    stride2_depth,
)
from numbaconv.nn import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from numbaconv.random import manual_seed


def n_params(model) -> int:
    return sum(p.data.size for p in model.parameters())


def layer_types(model) -> list[str]:
    return [type(m).__name__ for m in model.modules() if next(m.children(), None) is None]


def test_parameter_counts_match_the_chapter():
    # §1.6 (6,722), §1.12 (30,282), §1.16 (30,542 = 30,282 + 2·(8+16+32+64+10)), §1.6 broken_cnn
    # (300 + 271) and the chapter-4 MLP (784·30 + 30 + 30 + 1).
    assert n_params(simple_cnn_3v7(seed=0)) == 6_722
    assert n_params(simple_cnn(seed=0)) == 30_282
    assert n_params(simple_cnn(bn=True, seed=0)) == 30_542
    assert n_params(simple_cnn(bn=True, bn_first=False, seed=0)) == 30_542
    assert n_params(broken_cnn(seed=0)) == 300 + 271
    assert n_params(simple_net(seed=0)) == 784 * 30 + 30 + 30 + 1


def chapter_3v7(**kw) -> Sequential:
    # §1.6's model spelled out block by block, as simple_cnn_3v7 (and the CLI's --bn) built it.
    return Sequential(
        conv(1, 4, **kw),
        conv(4, 8, **kw),
        conv(8, 16, **kw),
        conv(16, 32, **kw),
        conv(32, 2, act=False, **kw),
        Flatten(),
    )


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def test_simple_cnn_3v7_batch_norm():
    # 6,722 + 2·(4+8+16+32+2): a weight and a bias per BatchNorm2d channel.
    assert n_params(simple_cnn_3v7(bn=True, seed=0)) == 6_846
    assert n_params(simple_cnn_3v7(bn=True, bn_first=False, seed=0)) == 6_846
    assert layer_types(simple_cnn_3v7(bn=True, seed=0)) == (
        ["Conv2d", "BatchNorm2d", "ReLU"] * 4 + ["Conv2d", "BatchNorm2d", "Flatten"]
    )
    assert layer_types(simple_cnn_3v7(bn=True, bn_first=False, seed=0)) == (
        ["Conv2d", "ReLU", "BatchNorm2d"] * 4 + ["Conv2d", "BatchNorm2d", "Flatten"]
    )
    # bn_first only matters with bn.
    assert layer_types(simple_cnn_3v7(bn_first=False, seed=0)) == (
        ["Conv2d", "ReLU"] * 4 + ["Conv2d", "Flatten"]
    )
    bn_norms = [m.num_features for m in simple_cnn_3v7(bn=True).modules() if type(m) is BatchNorm2d]
    assert bn_norms == [4, 8, 16, 32, 2]
    with no_grad():
        model = simple_cnn_3v7(bn=True, seed=0).eval()
        assert model(Tensor(np.zeros((2, 1, 28, 28), np.float32))).shape == (2, 2)


def test_simple_cnn_3v7_initialises_as_before():
    # bn=False is the model it always was: same layers, same weights from the same seed.
    assert_same_state(simple_cnn_3v7(seed=5), chapter_3v7(rng=np.random.default_rng(5)))
    assert_same_state(simple_cnn_3v7(bn=False, seed=5), simple_cnn_3v7(seed=5))
    # With bn, what the CLI assembled from conv blocks and the default generator.
    for bn_first in (True, False):
        manual_seed(11)
        by_hand = chapter_3v7(bn=True, bn_first=bn_first)
        manual_seed(11)
        assert_same_state(simple_cnn_3v7(bn=True, bn_first=bn_first), by_hand)
    # BatchNorm2d draws no random numbers: the convolutions start alike with or without it.
    plain = [m for m in simple_cnn_3v7(seed=5).modules() if type(m) is Conv2d]
    normed = [m for m in simple_cnn_3v7(bn=True, seed=5).modules() if type(m) is Conv2d]
    assert len(plain) == len(normed) == 5
    for a, b in zip(plain, normed):
        np.testing.assert_array_equal(a.weight.data, b.weight.data)
        np.testing.assert_array_equal(a.bias.data, b.bias.data)


def test_conv_helper_variants():
    plain = conv(1, 4)
    assert isinstance(plain, Sequential) and [type(m) for m in plain] == [Conv2d, ReLU]
    layer = plain[0]
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (2, 2), (1, 1))
    bare = conv(32, 2, act=False)
    assert isinstance(bare, Conv2d)
    assert conv(1, 8, ks=5)[0].padding == (2, 2)
    assert [type(m) for m in conv(4, 8, bn=True)] == [Conv2d, BatchNorm2d, ReLU]
    assert [type(m) for m in conv(4, 8, bn=True, bn_first=False)] == [Conv2d, ReLU, BatchNorm2d]
    assert [type(m) for m in conv(64, 10, act=False, bn=True)] == [Conv2d, BatchNorm2d]
    assert conv(4, 8, bn=True)[1].num_features == 8


def test_reprs_like_the_book():
    model = simple_cnn_3v7(seed=0)
    # §1.7: learn.model[0]
    assert repr(model[0]) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        ")"
    )
    assert repr(model[4]) == "Conv2d(32, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
    # §1.6: the MLP
    assert repr(simple_net(seed=0)) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=30, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=30, out_features=1, bias=True)\n"
        ")"
    )
    assert layer_types(simple_cnn(bn=True, seed=0)) == (
        ["Conv2d", "BatchNorm2d", "ReLU"] * 4 + ["Conv2d", "BatchNorm2d", "Flatten"]
    )


def test_output_shapes():
    x = Tensor(np.zeros((2, 1, 28, 28), np.float32))
    with no_grad():
        assert simple_cnn_3v7(seed=0)(x).shape == (2, 2)
        assert simple_cnn(seed=0)(x).shape == (2, 10)
        bn_model = simple_cnn(bn=True, seed=0).eval()
        assert bn_model(x).shape == (2, 10)
        assert broken_cnn(seed=0)(x).shape == (2, 1, 28, 28)  # §2.2: useless for classifying
        assert simple_net(seed=0)(Tensor(np.zeros((2, 784), np.float32))).shape == (2, 1)
        # 28 → 14 → 7 → 4 → 2 → 1 through the stride-2 blocks (§6.3)
        model = simple_cnn_3v7(seed=0)
        sizes = []
        h = x
        for block in list(model)[:5]:
            h = block(h)
            sizes.append(h.shape[-1])
        assert sizes == [14, 7, 4, 2, 1]


def test_seed_reproducible_and_distinct():
    a, b, c = simple_cnn(seed=3), simple_cnn(seed=3), simple_cnn(seed=4)
    for (name, pa), (_, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters()
    ):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
        if name.endswith("0.weight"):
            assert not np.array_equal(pa.data, pc.data)
    rng_model = simple_cnn_3v7(rng=np.random.default_rng(3))
    seed_model = simple_cnn_3v7(seed=3)
    for pa, pb in zip(rng_model.parameters(), seed_model.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_init_bounds_follow_pytorch():
    # Conv2d(1, 4, k3): fan_in 9, so weights and biases lie in [-1/3, 1/3].
    layer = simple_cnn_3v7(seed=0)[0][0]
    assert np.abs(layer.weight.data).max() <= 1 / 3
    assert np.abs(layer.bias.data).max() <= 1 / 3
    assert layer.weight.dtype == np.float32


def test_float64_models():
    model = simple_cnn(dtype=np.float64, seed=0)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}


def test_flatten_last():
    assert isinstance(simple_cnn_3v7(seed=0)[5], Flatten)
    assert isinstance(simple_net(seed=0)[0], Linear)


@pytest.mark.parametrize(
    ("call", "exc", "words"),
    [
        (lambda: conv(1, 4, act=1), TypeError, "act"),
        (lambda: conv(1, 4, ks=0), ValueError, "ks"),
        (lambda: simple_cnn(seed=-1), ValueError, "seed"),
        (lambda: simple_cnn(seed=1, rng=np.random.default_rng(1)), ValueError, "seed"),
        (lambda: simple_cnn_3v7(rng=3), TypeError, "rng"),
        (lambda: simple_cnn(bn="yes"), TypeError, "bn"),
        (lambda: simple_cnn_3v7(bn="yes"), TypeError, "bn"),
        (lambda: simple_cnn_3v7(bn=True, bn_first=None), TypeError, "bn_first"),
        (lambda: simple_cnn(size=7), ValueError, "size"),
        (lambda: simple_cnn(size=(28, 28, 3)), ValueError, "size"),
        (lambda: simple_cnn_3v7(in_channels=0), ValueError, "in_channels"),
        (lambda: stride2_depth(5), ValueError, "size"),
    ],
)
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def conv_params(ni, nf, ks=3) -> int:
    return ni * nf * ks * ks + nf


@pytest.mark.parametrize(
    ("size", "depth"), [(8, 2), (9, 3), (16, 3), (28, 4), (32, 4), (48, 5), ((48, 20), 5), (224, 7)]
)
def test_stride2_depth_halves_until_two_by_two(size, depth):
    # Each block maps n to ceil(n / 2): 48 -> 24 -> 12 -> 6 -> 3 -> 2 is five blocks.
    assert stride2_depth(size) == depth


def test_chapter_models_are_unchanged_at_28_grayscale():
    for kwargs in ({}, {"in_channels": 1, "size": 28}, {"size": (28, 28)}):
        assert n_params(simple_cnn_3v7(seed=0, **kwargs)) == 6_722
        assert n_params(simple_cnn(seed=0, **kwargs)) == 30_282
        assert_same_state(
            simple_cnn_3v7(seed=0, **kwargs), chapter_3v7(rng=np.random.default_rng(0))
        )
        assert layer_types(simple_cnn(seed=0, **kwargs))[-2:] == ["Conv2d", "Flatten"]


def test_rgb_48_models_extend_the_stack_and_pool():
    # Five stride-2 blocks at 48 (the fifth repeats the last width), the 10-way conv, then the
    # adaptive pool: counted by hand from the layer shapes.
    expected = (
        conv_params(3, 8, 5)
        + conv_params(8, 16)
        + conv_params(16, 32)
        + conv_params(32, 64)
        + conv_params(64, 64)
        + conv_params(64, 10)
    )
    model = simple_cnn(in_channels=3, size=48, seed=0)
    assert n_params(model) == expected == 67_610
    assert isinstance(model[-2], AdaptiveAvgPool2d) and isinstance(model[-1], Flatten)
    small = simple_cnn_3v7(in_channels=3, size=48, seed=0)
    assert n_params(small) == (
        conv_params(3, 4)
        + conv_params(4, 8)
        + conv_params(8, 16)
        + conv_params(16, 32)
        + conv_params(32, 32)
        + conv_params(32, 2)
    )
    assert n_params(simple_cnn(bn=True, in_channels=3, size=48, seed=0)) == expected + 2 * (
        8 + 16 + 32 + 64 + 64 + 10
    )


@pytest.mark.parametrize(
    ("in_channels", "size", "shape"),
    [(3, 48, (48, 48)), (1, 9, (9, 9)), (3, (48, 20), (48, 20)), (1, 8, (8, 8)), (3, 32, (64, 64))],
)
def test_any_size_gives_one_row_of_logits(in_channels, size, shape):
    # The last shape feeds a model built for 32 with 64x64 images: the pool averages 2x2 -> 1.
    x = Tensor(np.random.default_rng(0).random((2, in_channels, *shape), dtype=np.float32))
    with no_grad():
        assert simple_cnn(in_channels=in_channels, size=size, seed=0)(x).shape == (2, 10)
        model = simple_cnn_3v7(bn=True, in_channels=in_channels, size=size, seed=0).eval()
        assert model(x).shape == (2, 2)
