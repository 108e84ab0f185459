"""Tensor, Function and the reverse pass: gradients against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import numbaconv
from numbaconv.autograd import (
    Function,
    Tensor,
    cat,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    stack,
)

from . import naive

RNG = np.random.default_rng(20261127)


def rand(*shape):
    return RNG.standard_normal(shape)


def check_gradients(fn, *arrays, rtol=1e-6, atol=1e-8):
    """Compare autograd's gradients of ``sum(fn(*tensors) * weights)`` with finite differences.

    Random weights make a non-scalar output check the whole vector-Jacobian product.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out_shape = fn(*[Tensor(a) for a in arrays]).shape
    weights = RNG.standard_normal(out_shape)

    def scalar(*values):
        return float(np.sum(fn(*[Tensor(v) for v in values]).data * weights))

    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    (fn(*tensors) * weights).sum().backward()
    for i, (array, tensor) in enumerate(zip(arrays, tensors, strict=True)):

        def partial(value, i=i):
            values = list(arrays)
            values[i] = value
            return scalar(*values)

        expected = naive.numeric_grad(partial, array)
        assert tensor.grad is not None, f"input {i} got no gradient"
        assert tensor.grad.shape == array.shape
        np.testing.assert_allclose(tensor.grad, expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ arithmetic
@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [((3, 4), (3, 4)), ((3, 1, 4), (2, 4)), ((4,), (2, 3, 4)), ((2, 1), (1, 3)), ((), (2, 2))],
)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcasting_binary_ops_reduce_gradients_to_input_shapes(op, shape_a, shape_b):
    a = rand(*shape_a)
    b = rand(*shape_b) + (3.0 if op == "div" else 0.0)  # keep divisors away from 0
    if op == "div":
        b = np.abs(b) + 0.5
    fns = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
    }
    check_gradients(fns[op], a, b)


@settings(max_examples=40, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "div"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_broadcasting_gradients_property(shapes, op, seed):
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a = rng.standard_normal(shape_a)
    b = rng.uniform(0.5, 2.0, shape_b) * rng.choice([-1.0, 1.0], shape_b)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = {"add": ta + tb, "sub": ta - tb, "mul": ta * tb, "div": ta / tb}[op]
    assert out.shape == shapes.result_shape
    out.sum().backward()
    # d(sum)/da and d(sum)/db by hand, summed over the axes broadcasting stretched
    ones = np.ones(shapes.result_shape)
    ga, gb = {
        "add": (ones, ones),
        "sub": (ones, -ones),
        "mul": (ones * b, ones * a),
        "div": (ones / b, -ones * a / b**2),
    }[op]
    for grad, shape, tensor in ((ga, shape_a, ta), (gb, shape_b, tb)):
        expected = np.broadcast_to(grad, shapes.result_shape)
        while expected.ndim > len(shape):
            expected = expected.sum(axis=0)
        for axis, size in enumerate(shape):
            if size == 1:
                expected = expected.sum(axis=axis, keepdims=True)
        assert tensor.grad.shape == shape
        np.testing.assert_allclose(tensor.grad, expected, rtol=1e-12, atol=1e-12)


def test_arrays_and_scalars_on_either_side():
    a = rand(2, 3)
    arr = rand(3) + 4.0
    check_gradients(lambda x: arr + x, a)
    check_gradients(lambda x: x - arr, a)
    check_gradients(lambda x: arr - x, a)
    check_gradients(lambda x: arr * x * 2.5, a)
    check_gradients(lambda x: 1.5 / (x * x + 1.0), a)
    check_gradients(lambda x: (x / arr) - 3, a)
    out = np.ones(3) + Tensor(np.arange(3.0))
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.data, [1.0, 2.0, 3.0])


def test_unary_ops_and_scalar_pow():
    a = np.abs(rand(3, 4)) + 0.5
    check_gradients(lambda x: -x, a)
    check_gradients(lambda x: x**3, a)
    check_gradients(lambda x: x**-1.5, a)
    check_gradients(lambda x: x**0.5, a)
    check_gradients(lambda x: x.exp(), a)
    check_gradients(lambda x: x.log(), a)
    check_gradients(lambda x: x.sqrt(), a)


def test_pow_with_tensor_exponent_is_refused():
    with pytest.raises(TypeError, match="exponent"):
        Tensor([1.0, 2.0]) ** Tensor([2.0, 2.0])


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [
        ((3, 4), (4, 2)),
        ((2, 3, 4), (4,)),
        ((4,), (2, 4, 3)),
        ((4,), (4,)),
        ((2, 1, 3, 4), (5, 4, 2)),
    ],
)
def test_matmul(shape_a, shape_b):
    check_gradients(lambda x, y: x @ y, rand(*shape_a), rand(*shape_b))


def test_matmul_with_array_on_the_left():
    w = rand(2, 3)
    check_gradients(lambda x: w @ x, rand(3, 4))


# ------------------------------------------------------------------ reductions
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean(axis, keepdims):
    a = rand(2, 3, 4)
    check_gradients(lambda x: x.sum(axis=axis, keepdims=keepdims), a)
    check_gradients(lambda x: x.mean(axis=axis, keepdims=keepdims), a)


def test_sum_accepts_torch_names():
    t = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(t.sum(dim=1, keepdim=True).data, [[3.0], [12.0]])
    assert t.mean().item() == 2.5


def test_max_without_ties_matches_finite_differences():
    check_gradients(lambda x: x.max(axis=1), rand(3, 5))
    check_gradients(lambda x: x.max(), rand(3, 5))


def test_max_shares_gradient_between_ties():
    t = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    t.max(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_argmax_is_not_differentiable():
    t = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]]), requires_grad=True)
    idx = t.argmax(axis=1)
    np.testing.assert_array_equal(idx.data, [1, 0])
    assert not idx.requires_grad


# ------------------------------------------------------------------ shapes
def test_shape_operations():
    a = rand(2, 3, 4)
    check_gradients(lambda x: x.reshape(4, 6) * np.arange(6.0), a)
    check_gradients(lambda x: x.view(-1) * np.arange(24.0), a)
    check_gradients(lambda x: x.flatten(1), a)
    check_gradients(lambda x: x.permute(2, 0, 1), a)
    check_gradients(lambda x: x.transpose(0, -1), a)
    check_gradients(lambda x: x.unsqueeze(1).unsqueeze(-1), a)
    check_gradients(lambda x: x.reshape(2, 1, 12).squeeze(1), a)
    check_gradients(lambda x: x.reshape(2, 1, 12, 1).squeeze(), a)
    check_gradients(lambda x: x[0].T, a)


def test_shape_results():
    t = Tensor(np.zeros((2, 3, 4)))
    assert t.flatten().shape == (24,)
    assert t.flatten(1).shape == (2, 12)
    assert t.flatten(0, 1).shape == (6, 4)
    assert t.permute(1, 2, 0).shape == (3, 4, 2)
    assert t.unsqueeze(0).shape == (1, 2, 3, 4)
    assert t.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert t.unsqueeze(1).squeeze(1).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="permutation"):
        t.permute(0, 0, 1)
    with pytest.raises(ValueError, match="dim"):
        t.unsqueeze(5)


# ------------------------------------------------------------------ indexing
@pytest.mark.parametrize(
    "key",
    [
        1,
        (slice(None), 2),
        (Ellipsis, slice(1, 3)),
        (slice(None, None, -1), None, 0),
        np.array([0, 2, 0]),
        (np.array([0, 1, 1]), np.array([3, 0, 3])),
        [2, 2, 1],
    ],
)
def test_indexing(key):
    check_gradients(lambda x: x[key], rand(3, 4))


def test_boolean_mask_indexing():
    a = rand(3, 4)
    mask = a > 0
    check_gradients(lambda x: x[mask], a)


def test_repeated_fancy_indices_accumulate():
    t = Tensor(np.zeros(4), requires_grad=True)
    t[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 3.0, 0.0, 1.0])


def test_index_with_tensor_key():
    t = Tensor(np.arange(5.0), requires_grad=True)
    idx = Tensor(np.array([4, 0]))
    np.testing.assert_array_equal(t[idx].data, [4.0, 0.0])


# ------------------------------------------------------------------ stack / cat
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(axis):
    check_gradients(lambda x, y, z: stack([x, y, z], axis=axis), rand(2, 3), rand(2, 3), rand(2, 3))


@pytest.mark.parametrize("axis", [0, 1])
def test_cat(axis):
    check_gradients(lambda x, y: cat([x, y], axis=axis), rand(2, 3), rand(2, 3))
    check_gradients(lambda x, y: cat((x, y), dim=1), rand(2, 1), rand(2, 4))


def test_stack_with_a_constant_input():
    t = Tensor(np.ones(2), requires_grad=True)
    out = stack([t, np.zeros(2)], dim=1)
    assert out.shape == (2, 2)
    (out * np.array([[2.0, 5.0], [3.0, 7.0]])).sum().backward()
    np.testing.assert_array_equal(t.grad, [2.0, 3.0])


def test_stack_refuses_empty_and_non_sequences():
    with pytest.raises(ValueError, match="at least one"):
        stack([])
    with pytest.raises(TypeError, match="sequence"):
        cat(Tensor(np.ones(3)))


# ------------------------------------------------------------------ graph semantics
def test_reused_tensor_accumulates_gradient():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, -3.0, 7.0])


def test_diamond_graph():
    x = Tensor(np.array([2.0]), requires_grad=True)
    a = x * 3
    b = x.exp()
    (a * b).sum().backward()  # d/dx 3x e^x = 3e^x + 3x e^x
    np.testing.assert_allclose(x.grad, [3 * np.exp(2.0) + 6 * np.exp(2.0)], rtol=1e-14)


def test_leaf_grad_accumulates_across_backward_calls_until_zeroed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_backward_twice_through_a_freed_graph_raises():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # the failed call added nothing


def test_retain_graph_allows_a_second_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_non_scalar_backward_needs_a_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one element.*gradient"):
        y.backward()
    with pytest.raises(ValueError, match="gradient has shape"):
        y.backward(np.ones(3))
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])


def test_backward_on_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(1)).sum().backward()


def test_deep_graph_needs_no_recursion():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [5001.0])


def test_constants_get_no_gradient_and_intermediates_keep_none():
    x = Tensor(np.ones(2), requires_grad=True)
    c = Tensor(np.ones(2))
    mid = x * 2
    (mid * c).sum().backward()
    assert c.grad is None
    assert mid.grad is None
    assert not mid.is_leaf and x.is_leaf


# ------------------------------------------------------------------ grad mode
def test_no_grad_and_enable_grad():
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
        with enable_grad():
            z = x * 2
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_as_decorator_and_set_grad_enabled():
    @no_grad()
    def double(t):
        return t * 2

    x = Tensor(np.ones(2), requires_grad=True)
    assert not double(x).requires_grad
    assert is_grad_enabled()
    with set_grad_enabled(False):
        assert not (x * 1).requires_grad
    assert (x * 1).requires_grad
    set_grad_enabled(False)
    assert not is_grad_enabled()
    set_grad_enabled(True)
    assert is_grad_enabled()


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(KeyError), no_grad():
        raise KeyError("boom")
    assert is_grad_enabled()


# ------------------------------------------------------------------ Function API
class ScaledSquare(Function):
    """out = scale * a**2 (scale a constant array), to exercise the ctx API."""

    def forward(self, a, scale, *, offset=0.0):
        self.save_for_backward(a, scale)
        return scale * a * a + offset

    def backward(self, grad):
        a, scale = self.saved_tensors
        seen.append(self.needs_input_grad)
        return grad * 2 * scale * a, None


seen: list = []


def test_custom_function_ctx_api():
    seen.clear()
    a = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    out = ScaledSquare.apply(a, np.array([3.0, 0.5]), offset=1.0)
    np.testing.assert_array_equal(out.data, [4.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, [6.0, -2.0])
    assert seen == [(True, False)]
    assert repr(out.grad_fn) == "<ScaledSquareBackward>"


def test_function_returning_wrong_number_of_gradients_is_reported():
    class Broken(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, grad):
            return grad

    out = Broken.apply(Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2)))
    with pytest.raises(RuntimeError, match="returned 1 gradients; expected 2"):
        out.sum().backward()


# ------------------------------------------------------------------ Tensor basics
def test_dtypes():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor(np.ones(2)).dtype == np.float64
    assert Tensor(np.ones(2, np.float32)).dtype == np.float32
    assert Tensor(np.ones(2), dtype=np.float32).dtype == np.float32
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    (x * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    y = Tensor(np.ones(3, np.float32), requires_grad=True)
    (y * np.ones(3)).sum().backward()  # float64 result, float32 grad
    assert y.grad.dtype == np.float32


def test_bad_constructions():
    with pytest.raises(TypeError, match="floating"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="dtype"):
        Tensor(np.array(["a"]))
    with pytest.raises(TypeError, match="requires_grad"):
        Tensor([1.0], requires_grad=1)


def test_device_handling():
    t = Tensor([1.0, 2.0])
    assert t.device == "cpu"
    assert t.to("cpu") is t
    if not numbaconv.cuda_available():
        with pytest.raises(RuntimeError, match="device 'cuda' is not usable"):
            t.to("cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        Tensor([1.0], device="cuda:0")
    with pytest.raises(ValueError, match="device"):
        t.to("tpu")


def test_casts_are_differentiable():
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert x.to(np.float64).dtype == np.float64


def test_accessors():
    arr = np.arange(6.0).reshape(2, 3)
    t = Tensor(arr, requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and len(t) == 2
    assert t.size() == (2, 3) and t.size(1) == 3
    assert t.numpy() is arr
    assert Tensor(np.array([[7.0]])).item() == 7.0
    with pytest.raises(ValueError, match="exactly one element"):
        t.item()
    d = t.detach()
    assert not d.requires_grad and d.data is arr
    c = t.clone()
    assert c.data is not arr and c.requires_grad
    assert repr(Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)) == (
        "tensor([1., 2.], requires_grad=True)"
    )
    assert float(Tensor(2.0)) == 2.0


def test_comparisons_give_bool_tensors():
    t = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    eq = t == np.array([1.0, 0.0, 3.0])
    assert eq.dtype == np.bool_ and not eq.requires_grad
    np.testing.assert_array_equal(eq.data, [True, False, True])
    assert (t > 1.5).data.tolist() == [False, True, True]
    assert {t: 1}[t] == 1  # still hashable despite the elementwise __eq__


def test_grad_setter_checks_shape():
    t = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="grad has shape"):
        t.grad = np.ones(2)


def test_nan_and_inf_propagate():
    x = Tensor(np.array([np.nan, np.inf, 1.0]), requires_grad=True)
    y = (x * 2).sum()
    assert np.isnan(y.item())
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
