"""PyTorch's input and argument forms (issue 18): unbatched (C, H, W) images, one-element
tuples, an empty stride tuple, ``None`` in adaptive output sizes; and the forms PyTorch refuses.

An unbatched call must equal the batched call on a batch of one bit for bit, forward and
gradients, in ops, nn.functional and the nn layers. The CUDA half runs where CUDA is usable (in
CI: the simulator process, ``NUMBA_ENABLE_CUDASIM=1``); the CPU half runs everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from numbaconv import _backend, nn
from numbaconv.autograd import Tensor
from numbaconv.nn import functional as F
from numbaconv.ops.conv import conv2d, conv2d_grad_bias, conv2d_grad_input, conv2d_grad_weight
from numbaconv.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_grad,
    avg_pool2d,
    avg_pool2d_grad,
    max_pool2d,
    max_pool2d_grad,
)

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not _backend.cuda_available(), reason="CUDA is not usable here (run in the simulator)"
        ),
    ),
]
RNG = np.random.default_rng(18)


def _move(value, device):
    if device == "cuda" and isinstance(value, np.ndarray):
        return _backend.to_device(value)
    return value


def _host(value):
    return _backend.to_host(value) if _backend.is_device_array(value) else np.asarray(value)


def _same_bits(unbatched, batched, shape):
    """``unbatched`` has exactly ``shape`` and the bytes of ``batched[0]`` (a batch of one)."""
    unbatched, batched = _host(unbatched), _host(batched)
    assert unbatched.shape == tuple(shape)
    assert batched.shape == (1, *shape)
    assert unbatched.dtype == batched.dtype
    assert unbatched.tobytes() == batched[0].tobytes()


# --- ops: every conv and pooling op, forward and gradients ----------------------------------

# op -> (call taking a flag "batched", expected unbatched shape or None when the result has no
# batch axis in either form)
X = RNG.standard_normal((3, 7, 6)).astype(np.float32)
X[0, 1, 1] = X[0, 0, 0]  # a tie: the first maximum must win in both forms
W = RNG.standard_normal((4, 3, 3, 2)).astype(np.float32)
B = RNG.standard_normal(4).astype(np.float32)
GC = RNG.standard_normal((4, 4, 7)).astype(np.float32)  # conv2d(X, W, stride=(2, 1), padding=1)
CONV = dict(stride=(2, 1), padding=(1,), dilation=(1,))
GM = RNG.standard_normal((3, 4, 4)).astype(np.float32)  # max_pool2d(X, 3, 2, 1, ceil_mode=True)
MAX = dict(kernel_size=(3,), stride=(2,), padding=1, ceil_mode=True)
GA = RNG.standard_normal((3, 4, 4)).astype(np.float32)  # avg_pool2d(X, 2, 2, 1, ...)
AVG = dict(kernel_size=2, stride=(), padding=(1,), count_include_pad=False)
GD = RNG.standard_normal((3, 5, 6)).astype(np.float32)  # adaptive (5, None)


def _batch(a, batched):
    return a[None] if batched else a


def _shape(shape, batched):
    return (1, *shape) if batched else shape


CALLS = {
    "conv2d": (lambda b: conv2d(_batch(X, b), W, B, **CONV), (4, 4, 7)),
    "conv2d_grad_input": (
        lambda b: conv2d_grad_input(_shape(X.shape, b), W, _batch(GC, b), **CONV),
        X.shape,
    ),
    "conv2d_grad_weight": (
        lambda b: conv2d_grad_weight(_batch(X, b), W.shape, _batch(GC, b), **CONV),
        None,  # no batch axis in either form: compared whole
    ),
    "conv2d_grad_bias": (lambda b: conv2d_grad_bias(_batch(GC, b)), None),
    "max_pool2d": (lambda b: max_pool2d(_batch(X, b), **MAX, return_indices=True), (3, 4, 4)),
    "max_pool2d_grad": (lambda b: max_pool2d_grad(_batch(GM, b), _batch(X, b), **MAX), X.shape),
    "avg_pool2d": (lambda b: avg_pool2d(_batch(X, b), **AVG), (3, 4, 4)),
    "avg_pool2d_grad": (
        lambda b: avg_pool2d_grad(_batch(GA, b), _shape(X.shape, b), **AVG),
        X.shape,
    ),
    "adaptive_avg_pool2d": (lambda b: adaptive_avg_pool2d(_batch(X, b), (5, None)), (3, 5, 6)),
    "adaptive_avg_pool2d_grad": (
        lambda b: adaptive_avg_pool2d_grad(_batch(GD, b), _shape(X.shape, b)),
        X.shape,
    ),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", list(CALLS))
def test_ops_unbatched_equal_batch_of_one_bit_for_bit(op, device):
    call, shape = CALLS[op]
    if device == "cuda":
        call = _device_call(op)
    got, expected = call(False), call(True)
    if op == "max_pool2d":
        (out, idx), (out_b, idx_b) = got, expected
        _same_bits(out, out_b, shape)
        _same_bits(idx, idx_b, shape)
        assert _host(idx).dtype == np.int64
    elif shape is None:
        assert _host(got).tobytes() == _host(expected).tobytes()
        assert _host(got).shape == _host(expected).shape
    else:
        _same_bits(got, expected, shape)
    if device == "cuda":
        for result in got if isinstance(got, tuple) else (got,):
            assert _backend.is_device_array(result)


def _device_call(op):
    """The CALLS entry of ``op`` with every array argument on the device (batched on the host
    first, so the device sees a 3-D or a 4-D array, never a host view of one)."""
    d = {name: value for name, value in globals().items() if name in ("W", "B")}
    dev = {k: _backend.to_device(v) for k, v in d.items()}

    def arr(a, batched):
        return _backend.to_device(np.ascontiguousarray(_batch(a, batched)))

    return {
        "conv2d": lambda b: conv2d(arr(X, b), dev["W"], dev["B"], **CONV),
        "conv2d_grad_input": lambda b: conv2d_grad_input(
            _shape(X.shape, b), dev["W"], arr(GC, b), **CONV
        ),
        "conv2d_grad_weight": lambda b: conv2d_grad_weight(arr(X, b), W.shape, arr(GC, b), **CONV),
        "conv2d_grad_bias": lambda b: conv2d_grad_bias(arr(GC, b)),
        "max_pool2d": lambda b: max_pool2d(arr(X, b), **MAX, return_indices=True),
        "max_pool2d_grad": lambda b: max_pool2d_grad(arr(GM, b), arr(X, b), **MAX),
        "avg_pool2d": lambda b: avg_pool2d(arr(X, b), **AVG),
        "avg_pool2d_grad": lambda b: avg_pool2d_grad(arr(GA, b), _shape(X.shape, b), **AVG),
        "adaptive_avg_pool2d": lambda b: adaptive_avg_pool2d(arr(X, b), (5, None)),
        "adaptive_avg_pool2d_grad": lambda b: adaptive_avg_pool2d_grad(
            arr(GD, b), _shape(X.shape, b)
        ),
    }[op]


def test_unbatched_shapes_follow_pytorch_docs():
    # conv2d: (C_in, H, W) -> (C_out, H_out, W_out); H_out = (7 + 2 - 3) // 2 + 1 = 4.
    assert conv2d(X, W, stride=2, padding=1).shape == (4, 4, 4)
    # max_pool2d 2x2: (C, 7, 6) -> (C, 3, 3); ceil_mode keeps the ragged last row: (C, 4, 3).
    assert max_pool2d(X, 2).shape == (3, 3, 3)
    assert max_pool2d(X, 2, ceil_mode=True).shape == (3, 4, 3)
    out, idx = max_pool2d(X, 2, return_indices=True)
    assert out.shape == idx.shape == (3, 3, 3)
    # Indices are flat h * W + w within each input plane, as PyTorch's.
    plane = X[1]
    assert plane.flat[idx[1, 2, 0]] == out[1, 2, 0]
    assert avg_pool2d(X, 3, stride=1, padding=1).shape == X.shape
    assert adaptive_avg_pool2d(X, (None, 2)).shape == (3, 7, 2)
    assert adaptive_avg_pool2d(X, 1).shape == (3, 1, 1)
    np.testing.assert_allclose(adaptive_avg_pool2d(X, 1)[:, 0, 0], X.mean(axis=(1, 2)), rtol=1e-6)


def test_host_non_contiguous_unbatched_input():
    view = np.asfortranarray(X)
    assert not view.flags.c_contiguous
    _same_bits(max_pool2d(view, 2), max_pool2d(X[None], 2), (3, 3, 3))
    _same_bits(conv2d(view, W), conv2d(X[None], W), (4, 5, 5))


# --- argument forms ---------------------------------------------------------------------------


def test_one_element_tuples_mean_both_axes():
    x = X[None]
    assert conv2d(x, W, stride=(2,), padding=(1,), dilation=(2,)).tobytes() == (
        conv2d(x, W, stride=2, padding=1, dilation=2).tobytes()
    )
    assert max_pool2d(x, (3,), (2,), (1,), (2,)).tobytes() == max_pool2d(x, 3, 2, 1, 2).tobytes()
    assert avg_pool2d(x, [3], [1], [1]).tobytes() == avg_pool2d(x, 3, 1, 1).tobytes()
    grad = max_pool2d_grad(GM[None], x, **MAX)
    assert grad.tobytes() == max_pool2d_grad(GM[None], x, 3, 2, 1, ceil_mode=True).tobytes()


def test_empty_stride_means_kernel_size():
    x = X[None]
    for stride in ((), []):
        assert max_pool2d(x, (2, 3), stride).tobytes() == max_pool2d(x, (2, 3)).tobytes()
        assert max_pool2d(x, (2, 3), stride).shape == (1, 3, 3, 2)
        assert avg_pool2d(x, 2, stride).tobytes() == avg_pool2d(x, 2, 2).tobytes()
        gy = np.ones((1, 3, 3, 3), np.float32)
        assert avg_pool2d_grad(gy, x.shape, 2, stride).tobytes() == (
            avg_pool2d_grad(gy, x.shape, 2).tobytes()
        )


def test_none_in_adaptive_output_size_keeps_that_axis():
    out = adaptive_avg_pool2d(X, (None, 3))
    assert out.shape == (3, 7, 3)
    # Keeping H: each output row averages its own input row (6 columns into 3 pairs).
    np.testing.assert_allclose(out, X.reshape(3, 7, 3, 2).mean(axis=3), rtol=1e-6)
    assert adaptive_avg_pool2d(X, (None, None)).tobytes() == X.tobytes()


# --- refused forms ------------------------------------------------------------------------------

REFUSED = [
    (lambda: conv2d(X[0], W), ValueError, r"^x must be 3-D \(C, H, W\) or 4-D .*got 2-D"),
    (lambda: conv2d(X[None, None], W), ValueError, r"^x must be 3-D .*got 5-D"),
    (lambda: max_pool2d(X[0], 2), ValueError, r"^x must be 3-D \(C, H, W\) or 4-D .*got 2-D"),
    (lambda: avg_pool2d(X[0], 2), ValueError, r"^x must be 3-D .*got 2-D shape \(7, 6\)$"),
    (lambda: adaptive_avg_pool2d(X[0], 2), ValueError, r"^x must be 3-D .*got 2-D"),
    (
        lambda: max_pool2d(X, 2, stride=(1, 1, 1)),
        ValueError,
        r"^stride must be an int or a tuple of one or two ints, got \(1, 1, 1\)$",
    ),
    (
        lambda: conv2d(X, W, stride=(1, 1, 1)),
        ValueError,
        r"^stride must be an int or a tuple of one or two ints, got \(1, 1, 1\)$",
    ),
    (lambda: conv2d(X, W, stride=()), ValueError, r"^stride must be an int or a tuple of one"),
    (lambda: avg_pool2d(X, 2, divisor_override=0), ValueError, r"^divisor_override must be a"),
    (
        lambda: max_pool2d_grad(GM[None], X, **MAX),
        ValueError,
        r"^grad_output has shape \(1, 3, 4, 4\); expected \(3, 4, 4\)",
    ),
    (
        lambda: conv2d_grad_input(X.shape, W, GC[None], **CONV),
        ValueError,
        r"^grad_output has shape \(1, 4, 4, 7\); expected \(4, 4, 7\)",
    ),
    (
        lambda: adaptive_avg_pool2d_grad(GD[None], X.shape),
        ValueError,
        r"^grad_output has shape \(1, 3, 5, 6\); expected \(C, OH, OW\) with C=3",
    ),
    (
        lambda: avg_pool2d_grad(GA, (1, *X.shape), **AVG),
        ValueError,
        r"^grad_output has shape \(3, 4, 4\); expected \(1, 3, 4, 4\)",
    ),
    (lambda: F.max_pool2d(Tensor(X[0]), 2), ValueError, r"^x must be 3-D"),
    (lambda: nn.AvgPool2d(2, divisor_override=0)(Tensor(X)), ValueError, r"^divisor_override"),
    (lambda: nn.Conv2d(3, 4, 3, stride=(1, 1, 1)), ValueError, r"^stride must be an int or a"),
    (lambda: nn.MaxPool2d(2, stride=(1, 1, 1))(Tensor(X)), ValueError, r"^stride must be"),
]


@pytest.mark.parametrize(("call", "error", "message"), REFUSED)
def test_forms_pytorch_refuses_stay_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- nn.functional and the nn layers, with gradients ----------------------------------------


def _grads(layer_or_fn, x, params, gy, device):
    """Output and gradients (input, then params) of one forward/backward on ``device``."""
    xt = Tensor(x, requires_grad=True)
    out = layer_or_fn(xt.to(device))
    out.backward(_move(gy, device))
    return [_host(out.data), xt.grad, *(_host(p.grad) for p in params)]


LAYERS = {
    "Conv2d": lambda: nn.Conv2d(3, 4, (3,), stride=(2,), padding=(1,), dtype=np.float64),
    "MaxPool2d": lambda: nn.MaxPool2d((3,), stride=(), padding=(1,), ceil_mode=True),
    "AvgPool2d": lambda: nn.AvgPool2d((2,), stride=(1,), padding=1, count_include_pad=False),
    "AdaptiveAvgPool2d": lambda: nn.AdaptiveAvgPool2d((None, 4)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_unbatched_equal_batch_of_one_with_gradients(name, device):
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal((3, 7, 6))
    layer = LAYERS[name]()
    if device == "cuda":
        layer = layer.to("cuda")
    params = list(layer.parameters())
    out_shape = layer(Tensor(x).to(device)).shape
    gy = rng.standard_normal(out_shape)
    unbatched = _grads(layer, x, params, gy, device)
    for p in params:
        p.grad = None
    batched = _grads(layer, x[None], params, gy[None], device)
    assert len(out_shape) == 3
    for one, batch in zip(unbatched[:2], batched[:2], strict=True):
        _same_bits(one, batch, one.shape)
    for one, batch in zip(unbatched[2:], batched[2:], strict=True):
        assert one.tobytes() == batch.tobytes()


@pytest.mark.parametrize("device", DEVICES)
def test_functional_max_pool2d_unbatched_indices_and_gradient(device):
    x = np.array([[[1.0, 5.0, 5.0], [2.0, 0.0, 9.0], [9.0, 3.0, 9.0]]])  # (1, 3, 3), ties
    out, idx = F.max_pool2d(Tensor(x).to(device), 2, stride=(1,), return_indices=True)
    assert out.shape == (1, 2, 2)
    np.testing.assert_array_equal(_host(out.data), [[[5, 9], [9, 9]]])
    # First maximum in row-major window order: 5 at (0, 1) before (0, 2); the right-hand
    # windows both meet 9 at (1, 2) first; the bottom-left one holds only (2, 0).
    np.testing.assert_array_equal(_host(idx), [[[1, 5], [6, 5]]])
    xt = Tensor(x, requires_grad=True)
    F.max_pool2d(xt.to(device), 2, stride=1).backward(_move(np.ones((1, 2, 2)), device))
    np.testing.assert_array_equal(xt.grad, [[[0, 1, 0], [0, 0, 2], [1, 0, 0]]])
