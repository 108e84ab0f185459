"""nn: Module bookkeeping, layers, the chapter's models (parameter counts, shapes, reprs),
hooks, state dicts, seeded init and a whole-network finite-difference check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numbaconv import random as nc_random
from numbaconv.autograd import Tensor, no_grad
from numbaconv.nn import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    CrossEntropyLoss,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
)
from numbaconv.nn import functional as F

from . import naive

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------ the chapter's models
def conv(ni, nf, ks=3, act=True):
    """chapter13.md §1.6: Conv2d(stride 2, padding ks//2), wrapped with ReLU when act."""
    layer = Conv2d(ni, nf, stride=2, kernel_size=ks, padding=ks // 2)
    return Sequential(layer, ReLU()) if act else layer


def conv_bn(ni, nf, ks=3, act=True):
    """chapter13.md §1.16: Conv → BatchNorm2d → ReLU (BN also without act)."""
    layers = [Conv2d(ni, nf, stride=2, kernel_size=ks, padding=ks // 2), BatchNorm2d(nf)]
    if act:
        layers.append(ReLU())
    return Sequential(*layers)


def simple_cnn_3v7():
    return Sequential(
        conv(1, 4), conv(4, 8), conv(8, 16), conv(16, 32), conv(32, 2, act=False), Flatten()
    )


def simple_cnn_mnist(block=conv):
    return Sequential(
        block(1, 8, ks=5),
        block(8, 16),
        block(16, 32),
        block(32, 64),
        block(64, 10, act=False),
        Flatten(),
    )


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_of_the_chapter_models():
    model = simple_cnn_3v7()
    assert count(model) == 6722
    assert [count(block) for block in model] == [40, 296, 1168, 4640, 578, 0]
    assert count(simple_cnn_mnist()) == 30282
    assert count(simple_cnn_mnist(conv_bn)) == 30542


def test_chapter_output_shapes():
    xb = Tensor(RNG.random((64, 1, 28, 28), dtype=np.float32))
    broken_cnn = Sequential(
        Conv2d(1, 30, kernel_size=3, padding=1), ReLU(), Conv2d(30, 1, kernel_size=3, padding=1)
    )
    assert count(broken_cnn[0]) == 300 and count(broken_cnn[2]) == 271
    with no_grad():
        assert broken_cnn(xb).shape == (64, 1, 28, 28)
        assert simple_cnn_3v7()(xb).shape == (64, 2)
        out = simple_cnn_mnist(conv_bn)(xb[:3])
    assert out.shape == (3, 10) and out.dtype == np.float32


def test_reprs_match_the_book():
    simple_net = Sequential(Linear(28 * 28, 30), ReLU(), Linear(30, 1))
    assert repr(simple_net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=30, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=30, out_features=1, bias=True)\n"
        ")"
    )
    assert repr(simple_cnn_3v7()[0]) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        ")"
    )


def test_nested_repr_and_layer_reprs():
    text = repr(Sequential(conv_bn(1, 8, ks=5), Flatten()))
    assert text == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Conv2d(1, 8, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))\n"
        "    (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "    (2): ReLU()\n"
        "  )\n"
        "  (1): Flatten(start_dim=1, end_dim=-1)\n"
        ")"
    )
    assert repr(Conv2d(2, 4, 3)) == "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(Conv2d(2, 4, (1, 3), dilation=2, groups=2, bias=False, padding="same")) == (
        "Conv2d(2, 4, kernel_size=(1, 3), stride=(1, 1), padding=same, dilation=(2, 2), "
        "groups=2, bias=False)"
    )
    assert repr(MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    )
    assert repr(AvgPool2d(3, 2)) == "AvgPool2d(kernel_size=3, stride=2, padding=0)"
    assert repr(AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=1)"


def test_sequential_indexing():
    model = simple_cnn_3v7()
    assert model[0][0].weight.shape == (4, 1, 3, 3)
    assert model[0][0].bias.shape == (4,)
    assert isinstance(model[-1], Flatten)
    assert len(model) == 6 and len(list(model)) == 6
    head = model[:2]
    assert isinstance(head, Sequential) and len(head) == 2 and head[1] is model[1]
    with pytest.raises(IndexError, match="out of range"):
        model[6]
    with pytest.raises(TypeError, match="Modules"):
        Sequential(Linear(2, 2), lambda x: x)
    grown = Sequential(Linear(2, 3)).append(ReLU())
    assert isinstance(grown[1], ReLU)


def test_named_parameters_children_and_modules():
    model = simple_cnn_3v7()
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["0.0.weight", "0.0.bias", "1.0.weight", "1.0.bias"]
    assert names[-2:] == ["4.weight", "4.bias"]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2", "3", "4", "5"]
    assert sum(isinstance(m, Conv2d) for m in model.modules()) == 5
    assert all(p.requires_grad and p.dtype == np.float32 for p in model.parameters())


def test_shared_parameter_counted_once():
    layer = Linear(3, 3)
    model = Sequential(layer, layer)
    assert count(model) == 12


# ------------------------------------------------------------------ Module mechanics
class TwoLayer(Module):
    def __init__(self):
        super().__init__()
        self.scale = Parameter(np.ones(1, np.float32))
        self.body = Linear(2, 3)
        self.register_buffer("calls", np.zeros((), np.int64))
        self.note = "plain attribute"

    def forward(self, x):
        self.calls[...] += 1
        return self.body(x) * self.scale


def test_attribute_assignment_registers_parameters_modules_and_buffers():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["scale", "body.weight", "body.bias"]
    assert [n for n, _ in m.named_buffers()] == ["calls"]
    assert list(m.state_dict()) == ["scale", "calls", "body.weight", "body.bias"]
    assert m.note == "plain attribute"
    with pytest.raises(TypeError, match="parameter 'scale'"):
        m.scale = Tensor(np.ones(1))
    m.scale = None
    assert [n for n, _ in m.named_parameters()] == ["body.weight", "body.bias"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing  # noqa: B018


def test_assignment_before_init_is_a_clear_error():
    class Forgetful(Module):
        def __init__(self):
            self.w = Parameter(np.ones(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgetful()


def test_train_eval_propagate():
    model = simple_cnn_mnist(conv_bn)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad():
    model = Sequential(Linear(2, 2))
    F.mse_loss(
        model(Tensor(np.ones((1, 2), np.float32))), Tensor(np.zeros((1, 2), np.float32))
    ).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad == 0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_double_casts_parameters_and_buffers():
    model = conv_bn(1, 2).double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    assert model(Tensor(np.ones((2, 1, 4, 4)))).dtype == np.float64
    with pytest.raises(RuntimeError, match="CUDA"):
        model.to("cuda")


def test_forward_hooks_fire_with_the_module_output():
    model = simple_cnn_3v7()
    seen = []
    handle = model[1].register_forward_hook(lambda mod, inp, out: seen.append((mod, inp, out)))
    x = Tensor(RNG.random((2, 1, 28, 28), dtype=np.float32))
    with no_grad():
        block0 = model[0](x)
        model(x)
    assert len(seen) == 1
    module, inputs, output = seen[0]
    assert module is model[1]
    np.testing.assert_array_equal(inputs[0].data, block0.data)
    assert output.shape == (2, 8, 7, 7)
    handle.remove()
    with no_grad():
        np.testing.assert_array_equal(output.data, model[1](block0).data)
        model(x)
    assert len(seen) == 1


def test_hook_can_replace_output_and_pre_hook_inputs():
    layer = Linear(2, 2)
    layer.register_forward_hook(lambda mod, inp, out: out * 0)
    assert np.all(layer(Tensor(np.ones((1, 2), np.float32))).data == 0)
    relu = ReLU()
    relu.register_forward_pre_hook(lambda mod, inp: (-inp[0],))
    np.testing.assert_array_equal(relu(Tensor(np.array([-1.0, 2.0]))).data, [1.0, 0.0])


# ------------------------------------------------------------------ layers
def test_linear_and_conv_default_init_bounds_and_seeding():
    nc_random.manual_seed(3)
    a = Conv2d(4, 8, 3, groups=2)
    nc_random.manual_seed(3)
    b = Conv2d(4, 8, 3, groups=2)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    bound = 1 / math.sqrt(2 * 3 * 3)  # fan_in = in_channels/groups * kh * kw
    for values in (a.weight.data, a.bias.data):
        assert np.abs(values).max() <= bound
    assert np.abs(a.weight.data).max() > 0.8 * bound  # fills the range, not a narrower one
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    la, lb = Linear(30, 20, rng=rng_a), Linear(30, 20, rng=rng_b)
    np.testing.assert_array_equal(la.weight.data, lb.weight.data)
    assert np.abs(la.weight.data).max() <= 1 / math.sqrt(30)
    assert not np.array_equal(
        la.weight.data, Linear(30, 20, rng=np.random.default_rng(6)).weight.data
    )
    assert Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 3)
    with pytest.raises(TypeError, match="dtype"):
        Linear(2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(3, momentum=2.0)
    with pytest.raises(TypeError, match="rng"):
        Linear(2, 2, rng=42)


def test_batchnorm2d_training_and_eval():
    bn = BatchNorm2d(2)
    assert np.array_equal(bn.weight.data, [1, 1]) and np.array_equal(bn.bias.data, [0, 0])
    x = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32) * 3 + 2
    out = bn(Tensor(x))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var * 36 / 35, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    before = bn.running_mean.copy()
    out = bn(Tensor(x))
    expected = (x - bn.running_mean[None, :, None, None]) / np.sqrt(
        bn.running_var[None, :, None, None] + 1e-5
    )
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.running_mean, before)
    assert int(bn.num_batches_tracked) == 1


def test_batchnorm2d_cumulative_momentum_and_no_tracking():
    bn = BatchNorm2d(1, momentum=None)
    x1 = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    x2 = x1 * 3
    bn(Tensor(x1))
    bn(Tensor(x2))
    np.testing.assert_allclose(bn.running_mean, [(x1.mean() + x2.mean()) / 2], rtol=1e-6)
    free = BatchNorm2d(1, track_running_stats=False, affine=False).eval()
    assert count(free) == 0 and free.state_dict() == {}
    out = free(Tensor(x1)).data
    np.testing.assert_allclose(out.mean(), 0.0, atol=1e-6)  # batch statistics even in eval


def test_pool_and_flatten_modules():
    x = Tensor(RNG.standard_normal((2, 3, 6, 6)))
    assert MaxPool2d(2)(x).shape == (2, 3, 3, 3)
    assert AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 6, 6)
    assert AdaptiveAvgPool2d((2, 1))(x).shape == (2, 3, 2, 1)
    assert Flatten()(x).shape == (2, 108)
    assert Flatten(0, 2)(x).shape == (36, 6)


def test_loss_modules():
    logits = RNG.standard_normal((3, 4))
    target = np.array([0, 3, 2])
    assert CrossEntropyLoss()(Tensor(logits), target).item() == pytest.approx(
        F.cross_entropy(Tensor(logits), target).item()
    )
    assert MSELoss(reduction="sum")(Tensor(np.ones(3)), Tensor(np.zeros(3))).item() == 3.0


# ------------------------------------------------------------------ state dicts
def test_state_dict_round_trip_and_copies():
    nc_random.manual_seed(0)
    source = simple_cnn_mnist(conv_bn)
    source(Tensor(RNG.random((4, 1, 28, 28), dtype=np.float32)))  # move running stats
    state = source.state_dict()
    assert "0.1.running_mean" in state and "0.1.num_batches_tracked" in state
    assert len(state) == 5 * 2 + 5 * 5  # conv w/b + BN w/b/mean/var/count per block
    nc_random.manual_seed(1)
    target = simple_cnn_mnist(conv_bn)
    weight_array = target[0][0].weight.data
    result = target.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target[0][0].weight.data is weight_array  # copied in place
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    state["0.0.weight"][...] = 0  # a state dict holds copies, not views
    assert np.any(source[0][0].weight.data != 0)


def test_load_state_dict_errors_name_the_keys():
    model = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
    state = model.state_dict()
    missing = dict(state)
    del missing["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        model.load_state_dict(missing)
    extra = dict(state, **{"3.weight": np.ones(2)})
    with pytest.raises(ValueError, match=r"unexpected keys \['3.weight'\]"):
        model.load_state_dict(extra)
    result = model.load_state_dict(extra, strict=False)
    assert result.unexpected_keys == ["3.weight"]
    wrong = dict(state)
    wrong["0.weight"] = np.ones((3, 5))
    wrong["2.bias"] = np.full(2, 9.0)
    before = model[2].bias.data.copy()
    with pytest.raises(ValueError, match=r"'0.weight'.*\(3, 5\).*\(3, 4\)"):
        model.load_state_dict(wrong)
    np.testing.assert_array_equal(model[2].bias.data, before)  # nothing half-loaded
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([1, 2])


# ------------------------------------------------------------------ whole network gradient
def test_whole_network_gradients_by_finite_differences():
    nc_random.manual_seed(11)
    model = Sequential(
        Conv2d(1, 2, 3, padding=1, dtype=np.float64),
        BatchNorm2d(2, dtype=np.float64),
        ReLU(),
        Flatten(),
        Linear(2 * 4 * 4, 3, dtype=np.float64),
    )
    x = RNG.standard_normal((3, 1, 4, 4))
    target = np.array([0, 2, 1])

    def loss_value():
        with no_grad():
            return F.cross_entropy(model(Tensor(x)), target).item()

    model.zero_grad()
    F.cross_entropy(model(Tensor(x)), target).backward()
    for name, param in model.named_parameters():

        def f(values, param=param):
            saved = param.data.copy()
            param.data[...] = values
            try:
                return loss_value()
            finally:
                param.data[...] = saved

        expected = naive.numeric_grad(f, param.data)
        np.testing.assert_allclose(param.grad, expected, rtol=1e-5, atol=1e-8, err_msg=name)
