"""Parity cases for the CUDA backend: small argument sets for every public op.

``tests/test_cuda_parity.py`` runs each case on NumPy arrays and on device copies of them and
compares. Arrays are written as ``Arr(shape)`` and filled with seeded random numbers in the
dtype under test; everything else (shape tuples, hyper-parameters) is passed as it is.

Adding an op: put its name in ``PUBLIC_OPS`` and its module in ``OP_MODULES``, and append its
cases to ``CASES`` (the completeness test in test_cuda_parity.py demands at least one case for
every name in ``numbaconv.ops.__all__``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from numbaconv._validate import pool_output_size

OP_MODULES = {
    "conv2d": "numbaconv.ops.conv",
    "conv2d_grad_bias": "numbaconv.ops.conv",
    "conv2d_grad_input": "numbaconv.ops.conv",
    "conv2d_grad_weight": "numbaconv.ops.conv",
    "max_pool2d": "numbaconv.ops.pool",
    "max_pool2d_grad": "numbaconv.ops.pool",
    # Not re-exported from numbaconv.ops: what the autograd Function of max_pool2d runs.
    "max_pool2d_with_codes": "numbaconv.ops.max_pool_codes",
    "max_pool2d_grad_codes": "numbaconv.ops.max_pool_codes",
    "avg_pool2d": "numbaconv.ops.pool",
    "avg_pool2d_grad": "numbaconv.ops.pool",
    "adaptive_avg_pool2d": "numbaconv.ops.pool",
    "adaptive_avg_pool2d_grad": "numbaconv.ops.pool",
    "correlate2d": "numbaconv.ops.correlate",
    "convolve2d": "numbaconv.ops.correlate",
    "batch_norm": "numbaconv.ops.norm",
    "batch_norm_grad": "numbaconv.ops.norm",
    "relu": "numbaconv.ops.activation",
    "relu_grad": "numbaconv.ops.activation",
    "nll_loss": "numbaconv.ops.loss",
    "nll_loss_grad": "numbaconv.ops.loss",
    "sgd_step": "numbaconv.ops.optim",
    "adam_step": "numbaconv.ops.optim",
}
PUBLIC_OPS = tuple(OP_MODULES)


@dataclass(frozen=True)
class Arr:
    """A random array argument of this shape, in the dtype under test.

    ``kind``: ``"normal"`` (standard normal), ``"positive"`` (in [0.5, 1.5): variances and
    inverse standard deviations), ``"ties"`` (small integers, so pooling windows hold equal
    maxima and the first-maximum rule is exercised), ``"labels"`` (int64 class indices in
    [0, ``classes``), whatever the dtype under test) or ``"complex"`` (standard normal real and
    imaginary parts, in the complex dtype of the float dtype under test) or ``"codes"`` (uint8
    in [0, 4): the window positions of disjoint 2x2 max pooling, whatever the dtype under test).
    """

    shape: tuple
    kind: str = "normal"
    classes: int = 0

    def make(self, rng, dtype):
        if self.kind == "labels":
            return rng.integers(0, self.classes, size=self.shape).astype(np.int64)
        if self.kind == "codes":
            return rng.integers(0, 4, size=self.shape).astype(np.uint8)
        if self.kind == "positive":
            return (rng.random(self.shape) + 0.5).astype(dtype)
        if self.kind == "ties":
            return rng.integers(-2, 3, size=self.shape).astype(dtype)
        if self.kind == "complex":
            parts = rng.standard_normal((2, *self.shape))
            return (parts[0] + 1j * parts[1]).astype(np.result_type(dtype, np.complex64))
        assert self.kind == "normal", self.kind
        return rng.standard_normal(self.shape).astype(dtype)


@dataclass(frozen=True)
class Case:
    op: str
    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}"

    def function(self):
        return getattr(importlib.import_module(OP_MODULES[self.op]), self.op)

    def build(self, dtype, seed: int = 0) -> tuple[tuple, dict]:
        """Host arguments: every ``Arr`` replaced by a seeded random NumPy array."""
        rng = np.random.default_rng(seed)

        def make(value):
            return value.make(rng, dtype) if isinstance(value, Arr) else value

        return (
            tuple(make(a) for a in self.args),
            {k: make(value) for k, value in self.kwargs.items()},
        )


def _out_size(size, kernel, stride, pad_total, dilation):
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class _ConvConfig:
    label: str
    x: tuple
    w: tuple
    bias: bool
    stride: tuple = (1, 1)
    padding: object = 0
    dilation: tuple = (1, 1)
    groups: int = 1

    def hyper(self) -> dict:
        return dict(
            stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups
        )

    def output_shape(self) -> tuple:
        n, _, h, w = self.x
        o, _, kh, kw = self.w
        if self.padding == "same":
            return (n, o, h, w)
        pad = (0, 0) if self.padding == "valid" else self.padding
        pad = (pad, pad) if isinstance(pad, int) else pad
        sizes = [
            _out_size(size, k, s, 2 * p, d)
            for size, k, s, p, d in zip((h, w), (kh, kw), self.stride, pad, self.dilation)
        ]
        return (n, o, *sizes)


CONV_CONFIGS = [
    _ConvConfig("plain-bias", x=(2, 3, 6, 6), w=(4, 3, 3, 3), bias=True),
    _ConvConfig("stride2-pad1", x=(2, 2, 7, 7), w=(3, 2, 3, 3), bias=False, stride=(2, 2),
                padding=1),
    _ConvConfig("same-even-kernel-dilated", x=(1, 2, 5, 6), w=(2, 2, 2, 3), bias=True,
                padding="same", dilation=(1, 2)),
    _ConvConfig("groups2-mixed-hyper", x=(2, 4, 7, 6), w=(4, 2, 3, 2), bias=True,
                stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2),
    _ConvConfig("depthwise-valid", x=(1, 4, 5, 5), w=(4, 1, 3, 3), bias=False,
                padding="valid", groups=4),
    _ConvConfig("stride3-unused-rows", x=(1, 2, 8, 7), w=(2, 2, 3, 3), bias=True,
                stride=(3, 3)),
    _ConvConfig("kernel-wider-than-input", x=(2, 1, 2, 3), w=(2, 1, 3, 4), bias=False,
                padding=(1, 1)),
]  # fmt: skip


def _conv_cases(cfg: _ConvConfig) -> list[Case]:
    hyper = cfg.hyper()
    forward_kwargs = dict(hyper, bias=Arr((cfg.w[0],))) if cfg.bias else hyper
    gy = Arr(cfg.output_shape())
    return [
        Case("conv2d", cfg.label, (Arr(cfg.x), Arr(cfg.w)), forward_kwargs),
        Case("conv2d_grad_input", cfg.label, (cfg.x, Arr(cfg.w), gy), hyper),
        Case("conv2d_grad_weight", cfg.label, (Arr(cfg.x), cfg.w, gy), hyper),
        Case("conv2d_grad_bias", cfg.label, (gy,)),
    ]


# --- pooling -----------------------------------------------------------------------------


def _pool_out(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    kernel, padding, dilation = pair(kernel_size), pair(padding), pair(dilation)
    stride = kernel if stride is None else pair(stride)
    return x[:2] + tuple(
        pool_output_size(x[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
        for i in range(2)
    )


# (label, x shape, x kind, keyword arguments of max_pool2d without return_indices)
MAX_POOL_CONFIGS = [
    ("k2", (2, 3, 6, 6), "normal", dict(kernel_size=2)),
    ("k2-ceil-ragged-ties", (1, 2, 5, 7), "ties", dict(kernel_size=2, ceil_mode=True)),
    ("k3-s3-p1-disjoint", (2, 2, 7, 8), "ties", dict(kernel_size=3, stride=3, padding=1)),
    ("k3-s2-p1-ceil", (1, 2, 7, 7), "normal",
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("k2x3-s1x2-p1x0-d2x1", (2, 2, 7, 6), "normal",
     dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1))),
    ("ties-overlapping-windows", (2, 2, 6, 5), "ties", dict(kernel_size=3, stride=1, padding=1)),
    ("ties-dilated-ceil", (1, 3, 7, 8), "ties",
     dict(kernel_size=2, stride=2, dilation=2, ceil_mode=True)),
    ("windows-covering-no-input", (1, 2, 3, 2), "normal",
     dict(kernel_size=(2, 1), stride=1, padding=(3, 0), dilation=(5, 1))),
]  # fmt: skip

# (label, x shape, keyword arguments of avg_pool2d)
AVG_POOL_CONFIGS = [
    ("k2", (2, 3, 6, 6), dict(kernel_size=2)),
    ("k3-s2-p1-ceil-include-pad", (1, 2, 7, 8), dict(kernel_size=3, stride=2, padding=1,
                                                     ceil_mode=True)),
    ("k3-s2-p1-ceil-exclude-pad", (1, 2, 7, 8), dict(kernel_size=3, stride=2, padding=1,
                                                     ceil_mode=True, count_include_pad=False)),
    ("k2x3-s1x2-p1-divisor", (2, 2, 5, 7), dict(kernel_size=(2, 3), stride=(1, 2), padding=1,
                                                divisor_override=4)),
    ("overlapping-negative-divisor", (1, 2, 6, 5), dict(kernel_size=3, stride=1, padding=1,
                                                       divisor_override=-2)),
]  # fmt: skip

# (label, x shape, output_size)
ADAPTIVE_CONFIGS = [
    ("to-1x1", (2, 3, 5, 6), 1),
    ("shrink-uneven", (2, 2, 7, 5), (3, 2)),
    ("grow-overlapping", (1, 2, 3, 4), (5, 7)),
    ("keep-height", (1, 2, 4, 6), (None, 4)),
]


def _pool_cases() -> list[Case]:
    cases = []
    for label, x, kind, kwargs in MAX_POOL_CONFIGS:
        gy = Arr(_pool_out(x, **kwargs))
        cases += [
            Case("max_pool2d", label, (Arr(x, kind),), kwargs),
            Case("max_pool2d", label + "-indices", (Arr(x, kind),),
                 dict(kwargs, return_indices=True)),
            Case("max_pool2d_grad", label, (gy, Arr(x, kind)), kwargs),
        ]  # fmt: skip
    # Disjoint 2x2 windows with their codes (ragged: the odd last row and column get none).
    for label, x, kind in [
        ("k2", (2, 3, 6, 6), "normal"),
        ("k2-ragged-ties", (1, 2, 5, 7), "ties"),
    ]:
        out = _pool_out(x, 2)
        cases += [
            Case("max_pool2d_with_codes", label, (Arr(x, kind), 2)),
            Case("max_pool2d_grad_codes", label, (Arr(out), Arr(out, "codes"), x)),
        ]
    for label, x, kwargs in AVG_POOL_CONFIGS:
        out_kwargs = {k: kwargs[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")
                      if k in kwargs}  # fmt: skip
        cases += [
            Case("avg_pool2d", label, (Arr(x),), kwargs),
            Case("avg_pool2d_grad", label, (Arr(_pool_out(x, **out_kwargs)), x), kwargs),
        ]
    for label, x, output_size in ADAPTIVE_CONFIGS:
        sizes = (output_size,) * 2 if isinstance(output_size, int) else output_size
        out = x[:2] + tuple(x[2 + i] if s is None else s for i, s in enumerate(sizes))
        cases += [
            Case("adaptive_avg_pool2d", label, (Arr(x), output_size)),
            Case("adaptive_avg_pool2d_grad", label, (Arr(out), x)),
        ]
    return cases


# --- correlate2d / convolve2d --------------------------------------------------------------

# (label, in1 shape, in2 shape, modes)
CORRELATE_SHAPES = [
    ("image-larger", (5, 6), (3, 2), ("full", "same", "valid")),
    ("kernel-larger", (3, 2), (5, 7), ("full", "same")),
    ("valid-swap", (2, 3), (5, 4), ("valid",)),
    ("even-kernel", (4, 5), (2, 4), ("same",)),
]


def _correlate_cases() -> list[Case]:
    cases = []
    for op in ("correlate2d", "convolve2d"):
        for label, shape1, shape2, modes in CORRELATE_SHAPES:
            for mode in modes:
                for boundary in ("fill", "wrap", "symm"):
                    cases.append(
                        Case(op, f"{label}-{mode}-{boundary}", (Arr(shape1), Arr(shape2)),
                             dict(mode=mode, boundary=boundary))
                    )  # fmt: skip
        cases.append(
            Case(op, "fillvalue-full", (Arr((4, 3)), Arr((3, 3))),
                 dict(mode="full", boundary="fill", fillvalue=2.5))
        )  # fmt: skip
        cases.append(
            Case(op, "fillvalue-alias-pad-same", (Arr((3, 2)), Arr((4, 5))),
                 dict(mode="same", boundary="pad", fillvalue=-1))
        )  # fmt: skip
        # Complex inputs (complex64 / complex128 with the float dtype under test), real mixes,
        # a complex fill value and the conjugation of the (swapped) kernel.
        complex_image, complex_kernel = Arr((5, 6), "complex"), Arr((3, 2), "complex")
        for label, args, mode, boundary in (
            ("complex-full-fill", (complex_image, complex_kernel), "full", "fill"),
            ("complex-same-symm", (complex_image, complex_kernel), "same", "symm"),
            ("complex-image-real-kernel-same-wrap", (complex_image, Arr((3, 2))), "same", "wrap"),
            ("real-image-complex-kernel-full-symm", (Arr((5, 6)), complex_kernel), "full", "symm"),
            ("complex-valid-swap", (Arr((2, 3), "complex"), Arr((5, 4), "complex")), "valid",
             "fill"),
        ):  # fmt: skip
            kwargs = dict(mode=mode, boundary=boundary, fillvalue=1.5 - 0.5j)
            cases.append(Case(op, label, args, kwargs))
    return cases


# --- batch norm ----------------------------------------------------------------------------


def _batch_norm_cases() -> list[Case]:
    cases = []
    # (label, x shape); 7*8*3 = 168 values per channel is more than one reduction block's
    # width (128) and 5 channels is more than the simulator's 3 blocks.
    for label, x in (("small", (2, 3, 4, 3)), ("many-values-and-channels", (3, 5, 7, 8))):
        c = x[1]
        running = (Arr((c,)), Arr((c,), "positive"))
        affine = dict(weight=Arr((c,)), bias=Arr((c,)))
        cases += [
            Case("batch_norm", f"{label}-train-running-stats", (Arr(x), *running),
                 dict(affine, training=True, momentum=0.3, return_stats=True)),
            Case("batch_norm", f"{label}-eval", (Arr(x), *running),
                 dict(affine, return_stats=True)),
            Case("batch_norm_grad", f"{label}-train",
                 (Arr(x), Arr(x), Arr((c,)), Arr((c,), "positive"), Arr((c,))),
                 dict(training=True)),
            Case("batch_norm_grad", f"{label}-eval",
                 (Arr(x), Arr(x), Arr((c,)), Arr((c,), "positive"), Arr((c,))),
                 dict(training=False)),
        ]  # fmt: skip
    cases += [
        Case("batch_norm", "train-no-running-stats-defaults", (Arr((2, 2, 3, 3)), None, None),
             dict(training=True)),
        Case("batch_norm", "eval-defaults", (Arr((1, 2, 3, 3)), Arr((2,)), Arr((2,), "positive"))),
        Case("batch_norm", "train-single-image-eps", (Arr((1, 3, 2, 2)), Arr((3,)),
             Arr((3,), "positive")), dict(training=True, momentum=1.0, eps=0.5)),
        Case("batch_norm_grad", "default-weight",
             (Arr((2, 2, 3, 3)), Arr((2, 2, 3, 3)), Arr((2,)), Arr((2,), "positive"))),
    ]  # fmt: skip
    return cases


# --- activation --------------------------------------------------------------------------


def _activation_cases() -> list[Case]:
    # (label, shape): 2 * 3 * 5 * 4 = 120 elements is more than the simulator's 3 blocks of 7
    # threads, so every thread runs several grid-stride rounds; 13 leaves a partial round.
    shapes = (("2d", (3, 5)), ("4d-several-rounds", (2, 3, 5, 4)), ("odd-size", (13,)))
    cases = []
    for label, shape in shapes:
        cases += [
            Case("relu", label, (Arr(shape),)),
            # A standard normal "output" is negative in about half the places: both branches.
            Case("relu_grad", label, (Arr(shape), Arr(shape))),
        ]
    return cases


# --- loss and optimizer steps ------------------------------------------------------------


def _loss_cases() -> list[Case]:
    cases = []
    # (label, input shape): 2-D logits, and a spatial map so S > 1 and rounds > 1.
    for label, shape in (("2d", (5, 3)), ("spatial", (2, 4, 3, 5))):
        target = Arr((shape[0], *shape[2:]), "labels", classes=shape[1])
        cases += [
            Case("nll_loss", label, (Arr(shape), target)),
            Case("nll_loss_grad", label, (Arr(target.shape), target, shape)),
        ]
    return cases


def _optim_cases() -> list[Case]:
    shape = (3, 5, 2)  # 30 elements: several grid-stride rounds in the simulator
    sgd = {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}
    adam = {"step": 3, "lr": 0.01, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.01}
    state = (Arr(shape), Arr(shape), Arr(shape))
    return [
        Case("sgd_step", "momentum", state, sgd),
        Case(
            "sgd_step",
            "first-nesterov",
            state,
            sgd | {"dampening": 0.0, "nesterov": True, "first_step": True},
        ),
        Case("sgd_step", "plain", (Arr(shape), Arr(shape)), {"lr": 0.1}),
        Case("adam_step", "decoupled", (*state, Arr(shape, "positive")), adam),
        Case("adam_step", "l2", (*state, Arr(shape, "positive")), adam | {"decouple_wd": False}),
    ]


CASES: list[Case] = [
    *(case for cfg in CONV_CONFIGS for case in _conv_cases(cfg)),
    *_pool_cases(),
    *_correlate_cases(),
    *_batch_norm_cases(),
    *_activation_cases(),
    *_loss_cases(),
    *_optim_cases(),
]
