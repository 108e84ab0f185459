"""The models of fastbook chapter 13 (and the chapter-4 MLP it starts from).

Every builder takes ``seed`` (an int: a fresh generator just for this model) or ``rng``
(a :class:`numpy.random.Generator`); with neither, the package's default generator
(:func:`numbaconv.random.manual_seed`) initialises the weights. Layers initialise as
PyTorch's do (uniform ±1/sqrt(fan_in)).

===========================  ========================================  ==========
builder                      chapter                                   parameters
===========================  ========================================  ==========
``simple_net()``             §1.6: Linear(784,30), ReLU, Linear(30,1)  23,581
``broken_cnn()``             §1.6: two stride-1 convs, output 28×28    571
``simple_cnn_3v7()``         §1.6: 3 vs 7, 1→4→8→16→32→2, Flatten      6,722
``simple_cnn_3v7(bn=True)``  with BatchNorm2d after each conv (§1.16)  6,846
``simple_cnn()``             §1.12: 10 classes, 1→8[k5]→16→32→64→10    30,282
``simple_cnn(bn=True)``      §1.16: with BatchNorm2d after each conv   30,542
===========================  ========================================  ==========

``simple_cnn_3v7`` and ``simple_cnn`` also take ``in_channels`` (3 for RGB) and ``size``, the
input's height and width (any size >= 8): the stride-2 blocks halve the grid until it is at most
2×2 (four blocks at 28, five at 48, seven at 224; blocks past the chapter's four keep the last
width), the last convolution brings it to 1×1, and for any size other than the chapter's 28 an
``AdaptiveAvgPool2d(1)`` sits before ``Flatten`` so that the model also accepts other sizes. At
``in_channels=1, size=28`` the models are exactly the chapter's.
"""

from __future__ import annotations

import numpy as np

from ._validate import boolean as _flag
from ._validate import integer
from .nn import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential

__all__ = ["broken_cnn", "conv", "simple_cnn", "simple_cnn_3v7", "simple_net", "stride2_depth"]

#: The input size of the chapter's models (MNIST's 28×28).
CHAPTER_SIZE = (28, 28)
#: The smallest input side the stride-2 stacks take.
MIN_SIZE = 8


def _generator(rng=None, seed=None):
    if seed is not None and rng is not None:
        raise ValueError(f"give seed or rng, not both (got seed={seed!r} and rng={rng!r})")
    if seed is not None:
        return np.random.default_rng(integer("seed", seed, minimum=0))
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {rng!r}")
    return rng


def conv(ni, nf, ks=3, act=True, bn=False, bn_first=True, rng=None, seed=None, dtype=np.float32):
    """The chapter's ``conv`` block: a stride-2 convolution that halves the grid.

    ``Conv2d(ni, nf, kernel_size=ks, stride=2, padding=ks//2)``, then:

    ===========  =============  ==============================================
    bn           act            block
    ===========  =============  ==============================================
    False        True           ``Sequential(Conv2d, ReLU)`` (§1.6)
    False        False          the bare ``Conv2d``
    True         True           ``Sequential(Conv2d, BatchNorm2d, ReLU)`` (§1.16), or
                                ``Sequential(Conv2d, ReLU, BatchNorm2d)`` with
                                ``bn_first=False`` (the older order, §6.1)
    True         False          ``Sequential(Conv2d, BatchNorm2d)``
    ===========  =============  ==============================================

    Parameters
    ----------
    ni, nf : int
        Input and output channels.
    ks : int, default 3
        Kernel size (odd sizes keep "same" padding).
    act : bool, default True
        Add a ReLU.
    bn : bool, default False
        Add a BatchNorm2d(nf).
    bn_first : bool, default True
        With ``bn`` and ``act``: BatchNorm before ReLU.
    rng, seed
        Initialisation (see the module docstring).
    dtype : float32 (default) or float64

    Returns
    -------
    Module
    """
    act, bn, bn_first = _flag("act", act), _flag("bn", bn), _flag("bn_first", bn_first)
    ks = integer("ks", ks, minimum=1)
    rng = _generator(rng, seed)
    layer = Conv2d(ni, nf, kernel_size=ks, stride=2, padding=ks // 2, rng=rng, dtype=dtype)
    if not bn:
        return Sequential(layer, ReLU()) if act else layer
    norm = BatchNorm2d(nf, dtype=dtype)
    if not act:
        return Sequential(layer, norm)
    return Sequential(layer, norm, ReLU()) if bn_first else Sequential(layer, ReLU(), norm)


def _size_pair(size) -> tuple[int, int]:
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"size must be an int or a (height, width) pair, got {size!r}")
        pair = tuple(integer("size", side, minimum=MIN_SIZE) for side in size)
    else:
        side = integer("size", size, minimum=MIN_SIZE)
        pair = (side, side)
    return pair


def stride2_depth(size) -> int:
    """How many stride-2 blocks bring an input of ``size`` to at most 2×2 (4 at 28, 5 at 48).

    Each block maps a side ``n`` to ``ceil(n / 2)`` (kernel 3 with padding 1, or 5 with 2).

    Parameters
    ----------
    size : int or (int, int)
        Input height and width, each >= 8.
    """
    height, width = _size_pair(size)
    depth = 0
    while height > 2 or width > 2:
        height, width, depth = (height + 1) // 2, (width + 1) // 2, depth + 1
    return depth


def _stack(widths, n_out, first_ks, in_channels, size, kw) -> Sequential:
    """Hidden stride-2 blocks (chapter widths, then the last repeated), a last conv, the head."""
    size = _size_pair(size)
    in_channels = integer("in_channels", in_channels, minimum=1)
    depth = stride2_depth(size)
    widths = list(widths[:depth]) + [widths[-1]] * max(0, depth - len(widths))
    layers, ni = [], in_channels
    for i, nf in enumerate(widths):
        layers.append(conv(ni, nf, ks=first_ks if i == 0 else 3, **kw))
        ni = nf
    layers.append(conv(ni, n_out, act=False, **kw))
    # The last conv leaves 1×1; the pool makes the model take other sizes too (it then averages).
    if size != CHAPTER_SIZE:
        layers.append(AdaptiveAvgPool2d(1))
    layers.append(Flatten())
    return Sequential(*layers)


def simple_cnn_3v7(
    bn=False, bn_first=True, rng=None, seed=None, dtype=np.float32, in_channels=1, size=28
) -> Sequential:
    """The 3-vs-7 CNN of §1.6: 28×28 → 14 → 7 → 4 → 2 → 1, two outputs.

    ``Sequential(conv(1,4), conv(4,8), conv(8,16), conv(16,32), conv(32,2,act=False),
    Flatten())`` with ``bn`` passed to every ``conv``: 6,722 parameters without batch norm,
    6,846 with it (6,722 + 2·(4+8+16+32+2)). Input (N, 1, 28, 28), output (N, 2).

    Parameters
    ----------
    bn : bool, default False
        BatchNorm2d after every convolution (the last one included), as in
        ``simple_cnn(bn=True)`` (§1.16).
    bn_first : bool, default True
        Conv → BN → ReLU (the book's current code); False: Conv → ReLU → BN.
    rng, seed, dtype
        See :func:`conv`. Batch norm draws no random numbers, so with the same seed the
        convolutions start from the same weights with or without it.
    in_channels : int, default 1
        Input channels (3 for RGB images).
    size : int or (int, int), default 28
        Input height and width, each >= 8; see the module docstring for other sizes than 28.
        Input (N, in_channels, H, W), output (N, 2).
    """
    kw = {"bn": bn, "bn_first": bn_first, "rng": _generator(rng, seed), "dtype": dtype}
    return _stack((4, 8, 16, 32), 2, 3, in_channels, size, kw)


def simple_cnn(
    bn=False, bn_first=True, rng=None, seed=None, dtype=np.float32, in_channels=1, size=28
) -> Sequential:
    """The 10-class MNIST CNN of §1.12 (and its batch-norm version, §1.16).

    ``Sequential(conv(1,8,ks=5), conv(8,16), conv(16,32), conv(32,64),
    conv(64,10,act=False), Flatten())`` with ``bn`` passed to every ``conv``: 30,282
    parameters without batch norm, 30,542 with it. Input (N, 1, 28, 28), output (N, 10).

    Parameters
    ----------
    bn : bool, default False
        BatchNorm2d after every convolution (the last one included, as the book).
    bn_first : bool, default True
        Conv → BN → ReLU (the book's current code); False: Conv → ReLU → BN.
    rng, seed, dtype
        See :func:`conv`.
    in_channels : int, default 1
        Input channels (3 for RGB images).
    size : int or (int, int), default 28
        Input height and width, each >= 8; see the module docstring for other sizes than 28.
        Input (N, in_channels, H, W), output (N, 10).
    """
    kw = {"bn": bn, "bn_first": bn_first, "rng": _generator(rng, seed), "dtype": dtype}
    return _stack((8, 16, 32, 64), 10, 5, in_channels, size, kw)


def broken_cnn(rng=None, seed=None, dtype=np.float32) -> Sequential:
    """§1.6's first try: two stride-1 convolutions, so the output stays (N, 1, 28, 28).

    ``Sequential(Conv2d(1,30,3,padding=1), ReLU(), Conv2d(30,1,3,padding=1))``, 571
    parameters (300 + 271).
    """
    rng = _generator(rng, seed)
    return Sequential(
        Conv2d(1, 30, kernel_size=3, padding=1, rng=rng, dtype=dtype),
        ReLU(),
        Conv2d(30, 1, kernel_size=3, padding=1, rng=rng, dtype=dtype),
    )


def simple_net(rng=None, seed=None, dtype=np.float32) -> Sequential:
    """Chapter 4's MLP: ``Sequential(Linear(784,30), ReLU(), Linear(30,1))``.

    Input (N, 784) (flattened 28×28 images), output (N, 1).
    """
    rng = _generator(rng, seed)
    return Sequential(
        Linear(28 * 28, 30, rng=rng, dtype=dtype), ReLU(), Linear(30, 1, rng=rng, dtype=dtype)
    )
