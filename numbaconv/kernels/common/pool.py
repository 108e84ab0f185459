"""Pooling window arithmetic shared by the CPU and CUDA kernels (numba-free; see the package
docstring for how it is compiled twice).

Every rule that decides what a pooling output reads lives here once: the clipped window and
divisor of average pooling, the windows of adaptive pooling, which outputs have a window wholly
inside the input (the branch-free fast path of max pooling) and the first maximum of a window.
"""

from __future__ import annotations

import math


def avg_window(o, stride, padding, kernel, size, count_include_pad):
    """PyTorch's average-pool window on one axis: clipped ``[start, stop)`` and the divisor
    factor (cells inside the padded extent, or inside the real input)."""
    start = o * stride - padding
    stop = min(start + kernel, size + padding)
    padded_count = stop - start
    start = max(start, 0)
    stop = min(stop, size)
    return start, stop, padded_count if count_include_pad else stop - start


def adaptive_window(o, out_size, in_size):
    """Window ``[floor(o*in/out), ceil((o+1)*in/out))`` of adaptive pooling, in integers."""
    start = (o * in_size) // out_size
    stop = ((o + 1) * in_size + out_size - 1) // out_size
    return start, stop


def interior(out_size, stride, padding, kernel, dilation, size):
    """``[lo, hi)``: the outputs on one axis whose whole window ``o*s - p + k*d`` (k < kernel)
    lies inside ``[0, size)``; empty (``lo == hi``) when there are none."""
    lo = (padding + stride - 1) // stride
    # Python's floor division rounds a negative numerator down: no window fits then.
    hi = (size - 1 - (kernel - 1) * dilation + padding) // stride + 1
    hi = min(max(hi, lo), out_size)
    lo = min(lo, hi)
    return lo, hi


def window_argmax(x, n, c, hstart, wstart, kh, kw, dh, dw):
    """First maximum of one window of plane ``x[n, c]`` in row-major order, as (value, flat
    ``h*W + w`` index).

    Out-of-range positions are padding and never selected. A NaN wins over every number and
    the first NaN is kept, so NaN propagates as in PyTorch. A window that holds no real element
    (possible with large dilation) gives (-inf, -1).
    """
    height, width = x.shape[2], x.shape[3]
    best = -math.inf
    best_index = -1
    for ki in range(kh):
        ih = hstart + ki * dh
        if ih < 0 or ih >= height:
            continue
        for kj in range(kw):
            iw = wstart + kj * dw
            if iw < 0 or iw >= width:
                continue
            value = x[n, c, ih, iw]
            # best_index < 0: the first real element is taken even when it is -inf. A later
            # value takes over when larger, or when it is the first NaN (NaN beats every number).
            if best_index < 0 or value > best or (value != value and best == best):
                best = value
                best_index = ih * width + iw
    return best, best_index


def inner_window_argmax(x, n, c, hstart, wstart, kh, kw, dh, dw):
    """:func:`window_argmax` of a window that lies wholly inside plane ``x[n, c]``: no bounds
    tests and no data-dependent branches. Returns (value in ``x``'s dtype, flat ``h*W + w``
    index).

    Two passes over the (cache-hot) window. The first takes the maximum with selects, by
    :func:`window_argmax`'s rule (spelled out again: a twin helper cannot call another). The second,
    from the back, keeps the last position seen that holds the maximum, or a NaN: that is the
    first maximum, or the first NaN when the maximum is NaN (no number equals NaN). Its tests
    do not depend on each other, unlike a running (value, index) pair, which made the CPU's
    2x2 pooling with indices 3x slower than without.
    """
    width = x.shape[3]
    best = x[n, c, hstart, wstart]
    for ki in range(kh):
        for kj in range(kw):
            value = x[n, c, hstart + ki * dh, wstart + kj * dw]
            take = (value > best) | ((value != value) & (best == best))
            best = value if take else best
    best_index = hstart * width + wstart
    for ki in range(kh - 1, -1, -1):
        ih = hstart + ki * dh
        for kj in range(kw - 1, -1, -1):
            iw = wstart + kj * dw
            value = x[n, c, ih, iw]
            hit = (value == best) | (value != value)
            best_index = ih * width + iw if hit else best_index
    return best, best_index


def first_max_2x2(a, b, c, d):
    """:func:`window_argmax` of the 2x2 window ``[[a, b], [c, d]]``, with selects only: (value,
    code), the code being the first maximum's position ``2 * row + column`` (0..3).

    A tree: the first maximum of each row, then of the two row winners. Keeping the left one of
    each pair unless the right one is larger, or is a NaN after a number, is associative, so
    the tree picks exactly what :func:`inner_window_argmax`'s row-major scan picks, with a third
    of the compares of a scan followed by a search for the position (the CPU's 2x2 forward with
    codes then runs no slower than the plain forward).
    """
    take_b = not ((a != a) | (b <= a))  # b is larger than a, or a NaN after a number
    top = b if take_b else a
    top_code = 1 if take_b else 0
    take_d = not ((c != c) | (d <= c))
    bottom = d if take_d else c
    bottom_code = 3 if take_d else 2
    take_bottom = not ((top != top) | (bottom <= top))
    return (bottom if take_bottom else top), (bottom_code if take_bottom else top_code)
