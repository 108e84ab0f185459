"""SGD and Adam against updates computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numbaconv.optim import SGD, Adam, Optimizer, split_bn_bias


class Param:
    """The duck type the optimizers accept: ``.data`` array and ``.grad`` (or None)."""

    def __init__(self, data, grad=None):
        self.data = np.array(data, dtype=np.float64)
        self.grad = None if grad is None else np.array(grad, dtype=np.float64)


def run_steps(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = None if g is None else np.array(g, dtype=p.data.dtype)
        opt.step()


# ----------------------------------------------------------------------------- SGD


def test_sgd_plain_steps():
    p = Param([1.0, -2.0])
    opt = SGD([p], lr=0.1)
    run_steps(opt, [p], [[[0.5, 1.0]], [[-1.0, 2.0]]])
    np.testing.assert_allclose(p.data, [1.0 - 0.05 + 0.1, -2.0 - 0.1 - 0.2], rtol=1e-15)


def test_sgd_momentum_first_buffer_is_the_gradient():
    # g = 0.5 every step, lr 0.1, momentum 0.9 (hand-computed):
    # buf: 0.5, 0.95, 1.355 ; p: 0.95, 0.855, 0.7195
    p = Param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    expected = [0.95, 0.855, 0.7195]
    for want in expected:
        p.grad = np.array([0.5])
        opt.step()
        np.testing.assert_allclose(p.data, [want], rtol=1e-14)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [1.355], rtol=1e-14)


def test_sgd_dampening_skipped_on_first_step():
    # dampening 0.5: buf 0.5 (undamped), then 0.9*0.5 + 0.5*0.5 = 0.7
    p = Param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    run_steps(opt, [p], [[[0.5]], [[0.5]]])
    np.testing.assert_allclose(p.data, [1.0 - 0.05 - 0.07], rtol=1e-14)


def test_sgd_nesterov():
    # step 1: buf 0.5, d = 0.5 + 0.9*0.5 = 0.95, p = 0.905
    # step 2: buf 0.95, d = 0.5 + 0.9*0.95 = 1.355, p = 0.7695
    p = Param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    run_steps(opt, [p], [[[0.5]]])
    np.testing.assert_allclose(p.data, [0.905], rtol=1e-14)
    run_steps(opt, [p], [[[0.5]]])
    np.testing.assert_allclose(p.data, [0.7695], rtol=1e-14)


def test_sgd_weight_decay_goes_into_the_momentum_buffer():
    # wd 0.1, momentum 0.9, lr 0.1, g = 0.5, p0 = 1:
    # step 1: d = 0.5 + 0.1*1 = 0.6, buf 0.6, p = 0.94
    # step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134, p = 0.94 - 0.1134
    p = Param([1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    run_steps(opt, [p], [[[0.5]], [[0.5]]])
    np.testing.assert_allclose(p.data, [0.94 - 0.1134], rtol=1e-14)


def test_sgd_no_wd_group_and_skipped_params():
    w, b, frozen = Param([1.0]), Param([1.0]), Param([3.0])
    opt = SGD([{"params": [w, frozen]}, {"params": [b], "do_wd": False}], lr=0.1, weight_decay=0.5)
    run_steps(opt, [w, b, frozen], [[[0.0], [0.0], None]])
    np.testing.assert_allclose(w.data, [1.0 - 0.1 * 0.5], rtol=1e-15)
    np.testing.assert_array_equal(b.data, [1.0])
    np.testing.assert_array_equal(frozen.data, [3.0])
    assert frozen not in opt.state


def test_sgd_float32_updates_in_place():
    data = np.array([1.0, 2.0], dtype=np.float32)
    p = Param([0.0, 0.0])
    p.data = data
    opt = SGD([p], lr=0.5, momentum=0.9)
    p.grad = np.array([1.0, 1.0], dtype=np.float32)
    opt.step()
    assert p.data is data and data.dtype == np.float32
    np.testing.assert_array_equal(data, np.array([0.5, 1.5], np.float32))
    assert opt.state[p]["momentum_buffer"].dtype == np.float32


# ----------------------------------------------------------------------------- Adam


def adam_reference(p, grads, lrs, moms, sqr_mom=0.99, eps=1e-5, wd=0.01, do_wd=True, decouple=True):
    """fastai's Adam written out on Python floats, one scalar parameter."""
    m = v = 0.0
    for step, (g, lr, mom) in enumerate(zip(grads, lrs, moms, strict=True), start=1):
        if do_wd and wd:
            if decouple:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m = mom * m + (1 - mom) * g
        v = sqr_mom * v + (1 - sqr_mom) * g * g
        p = p - lr / (1 - mom**step) * m / (math.sqrt(v / (1 - sqr_mom**step)) + eps)
    return p


def test_adam_first_step_by_hand():
    # p0 = 1, g = 0.5, lr 0.1, wd 0.01: p -> 0.999, m = 0.05, v = 0.0025,
    # debiased m = 0.5, debiased v = 0.25, step = 0.1 * 0.5 / (0.5 + 1e-5)
    p = Param([1.0], [0.5])
    opt = Adam([p], lr=0.1)
    opt.step()
    np.testing.assert_allclose(p.data, [0.999 - 0.1 * 0.5 / (0.5 + 1e-5)], rtol=1e-14)
    state = opt.state[p]
    assert state["step"] == 1
    np.testing.assert_allclose(state["grad_avg"], [0.05], rtol=1e-14)
    np.testing.assert_allclose(state["sqr_avg"], [0.0025], rtol=1e-14)


def test_adam_defaults_are_fastai():
    opt = Adam([Param([1.0])])
    group = opt.param_groups[0]
    assert (group["lr"], group["mom"], group["sqr_mom"], group["eps"], group["wd"]) == (
        1e-3,
        0.9,
        0.99,
        1e-5,
        0.01,
    )
    assert group["decouple_wd"] is True and group["do_wd"] is True
    assert Adam.momentum_hyper == "mom" and SGD.momentum_hyper == "momentum"


def test_adam_several_steps_with_scheduled_lr_and_mom():
    grads = [0.5, -0.3, 0.8, 0.1, -1.2]
    lrs = [0.01, 0.05, 0.1, 0.04, 0.001]
    moms = [0.95, 0.9, 0.85, 0.9, 0.95]
    p = Param([1.0])
    opt = Adam([p], lr=lrs[0])
    for g, lr, mom in zip(grads, lrs, moms, strict=True):
        opt.set_hyper("lr", lr)
        opt.param_groups[0]["mom"] = mom
        p.grad = np.array([g])
        opt.step()
    np.testing.assert_allclose(p.data, [adam_reference(1.0, grads, lrs, moms)], rtol=1e-13)
    # The bias correction must use the current mom: a fixed-mom run ends elsewhere.
    assert abs(adam_reference(1.0, grads, lrs, [0.9] * 5) - p.data[0]) > 1e-4


def test_adam_vector_parameter_matches_scalar_reference_elementwise():
    rng = np.random.default_rng(0)
    start = rng.normal(size=4)
    grads = rng.normal(size=(3, 4))
    p = Param(start)
    opt = Adam([p], lr=0.03, mom=0.8, sqr_mom=0.95, eps=1e-3, wd=0.1)
    run_steps(opt, [p], [[g] for g in grads])
    expected = [
        adam_reference(start[i], grads[:, i], [0.03] * 3, [0.8] * 3, 0.95, 1e-3, 0.1)
        for i in range(4)
    ]
    np.testing.assert_allclose(p.data, expected, rtol=1e-13)


def test_adam_l2_weight_decay_leaves_grad_untouched():
    grads = [0.5, -0.2, 0.3]
    p = Param([2.0])
    opt = Adam([p], lr=0.05, wd=0.1, decouple_wd=False)
    for g in grads:
        p.grad = np.array([g])
        opt.step()
        np.testing.assert_array_equal(p.grad, [g])
    expected = adam_reference(2.0, grads, [0.05] * 3, [0.9] * 3, wd=0.1, decouple=False)
    np.testing.assert_allclose(p.data, [expected], rtol=1e-13)


def test_adam_no_wd_group_from_split_bn_bias():
    conv_w, conv_b, bn_w, bn_b = (Param([2.0], [0.0]) for _ in range(4))
    groups = split_bn_bias(
        [
            ("0.weight", conv_w, False),
            ("0.bias", conv_b, False),
            ("1.weight", bn_w, True),
            ("1.bias", bn_b, True),
        ]
    )
    assert [len(g["params"]) for g in groups] == [1, 3]
    assert groups[0]["params"][0] is conv_w and "do_wd" not in groups[0]
    assert groups[1]["do_wd"] is False
    opt = Adam(groups, lr=0.1, wd=0.5)
    opt.step()
    # Zero gradients: the Adam step is 0 / (0 + eps) = 0, so only weight decay acts.
    np.testing.assert_allclose(conv_w.data, [2.0 * (1 - 0.1 * 0.5)], rtol=1e-15)
    for p in (conv_b, bn_w, bn_b):
        np.testing.assert_array_equal(p.data, [2.0])
    # A schedule that sets wd on every group must not switch decay back on.
    opt.set_hyper("wd", 0.2)
    opt.step()
    np.testing.assert_allclose(conv_w.data, [2.0 * 0.95 * 0.98], rtol=1e-15)
    np.testing.assert_array_equal(bn_w.data, [2.0])


def test_split_bn_bias_leaves_out_empty_groups():
    a, b = Param([1.0]), Param([1.0])
    assert split_bn_bias([("fc.weight", a, False)]) == [{"params": [a]}]
    assert split_bn_bias([("fc.bias", b, False)]) == [{"params": [b], "do_wd": False}]
    with pytest.raises(TypeError, match="triples"):
        split_bn_bias([("fc.weight", a)])
    with pytest.raises(TypeError, match="is_norm"):
        split_bn_bias([("fc.weight", a, "no")])


def test_per_group_hypers_and_set_hyper_lists():
    a, b = Param([1.0], [1.0]), Param([1.0], [1.0])
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5], rtol=1e-15)
    opt.set_hyper("lr", [0.2, 0.3])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.7, 0.2], rtol=1e-14)
    with pytest.raises(ValueError, match="one per param group"):
        opt.set_hyper("lr", [0.1])
    with pytest.raises(ValueError, match="name must be one of"):
        opt.set_hyper("mom", 0.9)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.set_hyper("lr", [0.1, -0.1])
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.3]  # unchanged by the failed call


def test_invalid_assignment_is_caught_at_step():
    p = Param([1.0], [1.0])
    opt = Adam([p])
    opt.param_groups[0]["mom"] = 1.0
    with pytest.raises(ValueError, match=r"mom must be in \[0, 1\)"):
        opt.step()
    np.testing.assert_array_equal(p.data, [1.0])


def test_zero_grad_sets_none_and_none_grads_are_skipped():
    p, q = Param([1.0], [1.0]), Param([1.0], [1.0])
    opt = Adam([p, q], lr=0.1)
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    opt.step()
    np.testing.assert_array_equal(p.data, [1.0])
    assert len(opt.state) == 0


def test_grad_shape_mismatch():
    p = Param([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="grad has shape"):
        SGD([p], lr=0.1).step()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -0.1}, ValueError, "lr must be >= 0"),
        ({"lr": float("nan")}, ValueError, "lr must be finite"),
        ({"lr": "0.1"}, TypeError, "lr must be a real number"),
        ({"momentum": -0.9}, ValueError, "momentum must be >= 0"),
        ({"dampening": 1.5}, ValueError, "dampening must be in"),
        ({"weight_decay": -1e-4}, ValueError, "weight_decay must be >= 0"),
        ({"nesterov": True}, ValueError, "nesterov=True needs momentum > 0"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError, "dampening == 0"),
        ({"nesterov": 1}, TypeError, "nesterov must be True or False"),
    ],
)
def test_sgd_validation(kwargs, error, match):
    args = {"lr": 0.1} | kwargs
    with pytest.raises(error, match=match):
        SGD([Param([1.0])], **args)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -1e-3}, ValueError, "lr must be >= 0"),
        ({"mom": 1.0}, ValueError, r"mom must be in \[0, 1\)"),
        ({"mom": -0.1}, ValueError, r"mom must be in \[0, 1\)"),
        ({"sqr_mom": 1.2}, ValueError, r"sqr_mom must be in \[0, 1\)"),
        ({"eps": -1e-8}, ValueError, "eps must be >= 0"),
        ({"wd": -0.01}, ValueError, "wd must be >= 0"),
        ({"wd": float("inf")}, ValueError, "wd must be finite"),
        ({"decouple_wd": "yes"}, TypeError, "decouple_wd must be True or False"),
    ],
)
def test_adam_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        Adam([Param([1.0])], **kwargs)


def test_param_list_validation():
    p = Param([1.0])
    with pytest.raises(ValueError, match="params is empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one param group"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than one param group"):
        Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="unknown keys"):
        Adam([{"params": [p], "weight_decay": 0.1}])
    with pytest.raises(TypeError, match=r"\.data and \.grad"):
        SGD([np.ones(3)], lr=0.1)
    with pytest.raises(TypeError, match="not a mix"):
        SGD([p, {"params": [Param([2.0])]}], lr=0.1)
    with pytest.raises(TypeError, match="params must be an iterable"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="do_wd must be True or False"):
        Adam([{"params": [p], "do_wd": 0}])
    bad = Param([1.0])
    bad.data = np.array([1, 2])
    with pytest.raises(TypeError, match="floating-point"):
        Adam([bad])


def test_group_level_invalid_hyper_is_refused():
    with pytest.raises(ValueError, match="lr must be >= 0"):
        Adam([{"params": [Param([1.0])], "lr": -1.0}])


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Optimizer([Param([1.0])], {"lr": 0.1})
