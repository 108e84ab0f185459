"""CUDA twins of ``numbaconv.kernels.cpu.pool``: max, average and adaptive-average pooling and
their gradients.

Same launchers, argument order and meanings as the CPU module. Each kernel is one coalesced
pass: a 1-D grid-stride loop over the flat index of the array it writes, so consecutive threads
of a warp own consecutive elements of one row of one plane (their stores coalesce, and their
loads walk the input rows together). One thread owns one element of the array it writes:

- forward kernels: one output element, its window gathered exactly as the CPU does it;
- backward kernels: one input-gradient element ``(n, c, ih, iw)``, gathered from the output
  windows that contain it, visited in row-major output order: the order in which the CPU's
  plane-owning iteration adds them. Max pooling credits the element only when it is the
  window's first maximum (recomputed with the CPU's tie and NaN rule); average pooling adds the
  window's share. The disjoint 2x2 gradient from the forward's codes
  (``max_pool2d_backward_codes``) reads one code per element instead of recomputing.

The window rules are the CPU's own code: :mod:`numbaconv.kernels.common.pool` and
:mod:`numbaconv.kernels.common.index`, compiled here as device functions. A window wholly
inside the input takes the branch-free ``inner_window_argmax``, as on the CPU, so the threads of
a warp do not diverge on the data. The grid comes from the device's properties
(:func:`numbaconv.kernels.cuda.launch.elementwise_grid`).

Accumulators have the CPU's types (float64 window sums in the forward kernels, the output's
dtype in the backward kernels, each share rounded there after a float64 add, as the CPU's ``+=``
into a float32 plane does), so the two backends differ at most by fused multiply-adds and, for
adaptive pooling over whole rows, by the CPU's float32 partial sums.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from ..common import index as _index
from ..common import pool as _common
from .launch import elementwise_grid

_window_argmax = cuda_device(_common.window_argmax)
_inner_argmax = cuda_device(_common.inner_window_argmax)
_avg_window = cuda_device(_common.avg_window)
_adaptive_window = cuda_device(_common.adaptive_window)
_interior = cuda_device(_common.interior)
_first_max_2x2 = cuda_device(_common.first_max_2x2)
_unravel4 = cuda_device(_index.unravel4)


def _first_max(x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, lo_h, hi_h, lo_w, hi_w):
    """(value, index) of output ``(oh, ow)``'s window: branch-free inside the input."""
    hstart, wstart = oh * sh - ph, ow * sw - pw
    if lo_h <= oh < hi_h and lo_w <= ow < hi_w:
        return _inner_argmax(x, n, c, hstart, wstart, kh, kw, dh, dw)
    value, index = _window_argmax(x, n, c, hstart, wstart, kh, kw, dh, dw)
    return x.dtype.type(value), index


_first_max = cuda_device(_first_max)


def _max_pool2d_forward(x, out, indices, write_indices, kh, kw, sh, sw, ph, pw, dh, dw):
    channels, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    lo_h, hi_h = _interior(out_h, sh, ph, kh, dh, x.shape[2])
    lo_w, hi_w = _interior(out_w, sw, pw, kw, dw, x.shape[3])
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.size, step):
        n, c, oh, ow = _unravel4(idx, channels, out_h, out_w)
        value, index = _first_max(
            x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, lo_h, hi_h, lo_w, hi_w
        )
        out[n, c, oh, ow] = value
        if write_indices:
            indices[n, c, oh, ow] = index


def _max_pool2d_backward(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw):
    channels, height, width = grad_in.shape[1], grad_in.shape[2], grad_in.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    lo_h, hi_h = _interior(out_h, sh, ph, kh, dh, height)
    lo_w, hi_w = _interior(out_w, sw, pw, kw, dw, width)
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, grad_in.size, step):
        n, c, ih, iw = _unravel4(idx, channels, height, width)
        flat = ih * width + iw
        acc = grad_in.dtype.type(0)
        # Tap ki of output row oh reads row oh*sh - ph + ki*dh; a larger ki means a smaller oh,
        # so walking ki downwards visits the windows in the CPU's (row-major) order.
        for ki in range(kh - 1, -1, -1):
            t = ih + ph - ki * dh
            if t < 0 or t % sh != 0 or t // sh >= out_h:
                continue
            oh = t // sh
            for kj in range(kw - 1, -1, -1):
                u = iw + pw - kj * dw
                if u < 0 or u % sw != 0 or u // sw >= out_w:
                    continue
                ow = u // sw
                _, index = _first_max(
                    x, n, c, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, lo_h, hi_h, lo_w, hi_w
                )
                if index == flat:
                    acc += grad_out[n, c, oh, ow]
        grad_in[n, c, ih, iw] = acc


def _max_pool2d_forward_codes(x, out, codes):
    channels, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.size, step):
        n, c, oh, ow = _unravel4(idx, channels, out_h, out_w)
        ih, iw = 2 * oh, 2 * ow
        value, code = _first_max_2x2(
            x[n, c, ih, iw], x[n, c, ih, iw + 1], x[n, c, ih + 1, iw], x[n, c, ih + 1, iw + 1]
        )
        out[n, c, oh, ow] = value
        codes[n, c, oh, ow] = code


def _max_pool2d_backward_codes(grad_out, codes, grad_in):
    channels, height, width = grad_in.shape[1], grad_in.shape[2], grad_in.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, grad_in.size, step):
        n, c, ih, iw = _unravel4(idx, channels, height, width)
        oh, ow = ih // 2, iw // 2
        value = grad_in.dtype.type(0)
        # Rows and columns past the last window (odd sizes) get no gradient.
        if oh < out_h and ow < out_w and codes[n, c, oh, ow] == 2 * (ih % 2) + iw % 2:
            value = grad_out[n, c, oh, ow]
        grad_in[n, c, ih, iw] = value


def _avg_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    height, width = x.shape[2], x.shape[3]
    channels, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.size, step):
        n, c, oh, ow = _unravel4(idx, channels, out_h, out_w)
        h0, h1, count_h = _avg_window(oh, sh, ph, kh, height, count_include_pad)
        w0, w1, count_w = _avg_window(ow, sw, pw, kw, width, count_include_pad)
        if h0 >= h1 or w0 >= w1:
            out[n, c, oh, ow] = 0.0
            continue
        total = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                total += x[n, c, ih, iw]
        divisor = divisor_override if divisor_override != 0 else count_h * count_w
        out[n, c, oh, ow] = total / divisor


def _avg_pool2d_backward(
    grad_out, grad_in, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override
):
    channels, height, width = grad_in.shape[1], grad_in.shape[2], grad_in.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, grad_in.size, step):
        n, c, ih, iw = _unravel4(idx, channels, height, width)
        # Windows [o*s - p, o*s - p + k) that contain i: o from ceil((i + p - k + 1) / s)
        # to floor((i + p) / s).
        oh_lo = max((ih + ph - kh) // sh + 1, 0)
        oh_hi = min((ih + ph) // sh + 1, out_h)
        ow_lo = max((iw + pw - kw) // sw + 1, 0)
        ow_hi = min((iw + pw) // sw + 1, out_w)
        acc = grad_in.dtype.type(0)
        for oh in range(oh_lo, oh_hi):
            _, _, count_h = _avg_window(oh, sh, ph, kh, height, count_include_pad)
            for ow in range(ow_lo, ow_hi):
                _, _, count_w = _avg_window(ow, sw, pw, kw, width, count_include_pad)
                divisor = divisor_override if divisor_override != 0 else count_h * count_w
                # The share is float64 (float / int), added and rounded as the CPU's += does.
                acc = grad_in.dtype.type(acc + grad_out[n, c, oh, ow] / divisor)
        grad_in[n, c, ih, iw] = acc


def _adaptive_avg_pool2d_forward(x, out):
    height, width = x.shape[2], x.shape[3]
    channels, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, out.size, step):
        n, c, oh, ow = _unravel4(idx, channels, out_h, out_w)
        h0, h1 = _adaptive_window(oh, out_h, height)
        w0, w1 = _adaptive_window(ow, out_w, width)
        total = 0.0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                total += x[n, c, ih, iw]
        out[n, c, oh, ow] = total / ((h1 - h0) * (w1 - w0))


def _adaptive_avg_pool2d_backward(grad_out, grad_in):
    channels, height, width = grad_in.shape[1], grad_in.shape[2], grad_in.shape[3]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, grad_in.size, step):
        n, c, ih, iw = _unravel4(idx, channels, height, width)
        # Windows containing i: o from floor(i*out/in) to ceil((i+1)*out/in) - 1; the
        # containment test below keeps the result exact even if this range is loose.
        oh_lo = (ih * out_h) // height
        oh_hi = min(((ih + 1) * out_h + height - 1) // height, out_h)
        ow_lo = (iw * out_w) // width
        ow_hi = min(((iw + 1) * out_w + width - 1) // width, out_w)
        acc = grad_in.dtype.type(0)
        for oh in range(oh_lo, oh_hi):
            h0, h1 = _adaptive_window(oh, out_h, height)
            if ih < h0 or ih >= h1:
                continue
            for ow in range(ow_lo, ow_hi):
                w0, w1 = _adaptive_window(ow, out_w, width)
                if iw < w0 or iw >= w1:
                    continue
                acc = grad_in.dtype.type(acc + grad_out[n, c, oh, ow] / ((h1 - h0) * (w1 - w0)))
        grad_in[n, c, ih, iw] = acc


_max_pool2d_forward = cuda_kernel(_max_pool2d_forward)
_max_pool2d_backward = cuda_kernel(_max_pool2d_backward)
_max_pool2d_forward_codes = cuda_kernel(_max_pool2d_forward_codes)
_max_pool2d_backward_codes = cuda_kernel(_max_pool2d_backward_codes)
_avg_pool2d_forward = cuda_kernel(_avg_pool2d_forward)
_avg_pool2d_backward = cuda_kernel(_avg_pool2d_backward)
_adaptive_avg_pool2d_forward = cuda_kernel(_adaptive_avg_pool2d_forward)
_adaptive_avg_pool2d_backward = cuda_kernel(_adaptive_avg_pool2d_backward)


def _signatures():
    i64, b1 = cuda.int64, cuda.boolean
    window = (i64,) * 8  # kh, kw, sh, sw, ph, pw, dh, dw
    avg = (i64,) * 6 + (b1, i64)  # kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override
    u8 = cuda.uint8[:, :, :, ::1]
    table = {}
    for f in (cuda.float32, cuda.float64):
        a4 = f[:, :, :, ::1]
        sigs = {
            "_max_pool2d_forward": cuda.void(a4, a4, i64[:, :, :, ::1], b1, *window),
            "_max_pool2d_backward": cuda.void(a4, a4, a4, *window),
            "_max_pool2d_forward_codes": cuda.void(a4, a4, u8),
            "_max_pool2d_backward_codes": cuda.void(a4, u8, a4),
            "_avg_pool2d_forward": cuda.void(a4, a4, *avg),
            "_avg_pool2d_backward": cuda.void(a4, a4, *avg),
            "_adaptive_avg_pool2d_forward": cuda.void(a4, a4),
            "_adaptive_avg_pool2d_backward": cuda.void(a4, a4),
        }
        for name, sig in sigs.items():
            table.setdefault(name, []).append(sig)
        # x, then n, c, oh, ow, the 8 window sizes and the interior bounds lo_h, hi_h, lo_w, hi_w.
        table.setdefault("_first_max", []).append(cuda.types.Tuple((f, i64))(a4, *(i64,) * 16))
    return table


PTX_SIGNATURES = _signatures()


def _launch(kernel, total, *args):
    if total == 0:
        return
    blocks, threads = elementwise_grid(total)
    kernel[blocks, threads](*args)


_no_indices = None


def _dummy_indices():
    """A one-element int64 device array standing in for ``indices`` when none are wanted (one
    kernel signature either way; the kernel never writes it)."""
    global _no_indices
    if _no_indices is None:
        _no_indices = cuda.device_array((1, 1, 1, 1), dtype="int64")
    return _no_indices


def max_pool2d_forward(x, out, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    """Fill ``out`` (N, C, OH, OW) with window maxima of ``x`` (N, C, H, W) and, unless
    ``indices`` is None, ``indices`` (int64, same shape) with their flat ``h*W + w`` positions."""
    write_indices = indices is not None
    if not write_indices:
        indices = _dummy_indices()
    _launch(
        _max_pool2d_forward, out.size, x, out, indices, write_indices,
        kh, kw, sh, sw, ph, pw, dh, dw,
    )  # fmt: skip


def max_pool2d_backward(grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw):
    """Overwrite ``grad_in`` (shaped like ``x``): each ``grad_out`` element goes to
    the first maximum of its window, overlapping windows accumulate."""
    _launch(
        _max_pool2d_backward, grad_in.size, grad_out, x, grad_in, kh, kw, sh, sw, ph, pw, dh, dw
    )


def max_pool2d_forward_codes(x, out, codes):
    """Disjoint 2x2 max pooling (stride 2, no padding or dilation, ``out`` (N, C, OH, OW) with
    ``2*OH <= H`` and ``2*OW <= W``): fill ``out`` with the window maxima of ``x`` (N, C, H, W)
    and ``codes`` (uint8, shape of ``out``) with each first maximum's ``2 * row + column``."""
    _launch(_max_pool2d_forward_codes, out.size, x, out, codes)


def max_pool2d_backward_codes(grad_out, codes, grad_in):
    """Overwrite ``grad_in`` (N, C, H, W) with the gradient of disjoint 2x2 max pooling: each
    ``grad_out`` element at the position ``codes`` gives in its window, 0 everywhere else."""
    _launch(_max_pool2d_backward_codes, grad_in.size, grad_out, codes, grad_in)


def avg_pool2d_forward(x, out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """Fill ``out`` with window means of ``x``; ``divisor_override`` 0 means none."""
    _launch(
        _avg_pool2d_forward, out.size, x, out, kh, kw, sh, sw, ph, pw,
        bool(count_include_pad), int(divisor_override),
    )  # fmt: skip


def avg_pool2d_backward(
    grad_out, grad_in, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override
):
    """Overwrite ``grad_in`` (N, C, H, W) with the gradient of average pooling;
    ``divisor_override`` 0 means none."""
    _launch(
        _avg_pool2d_backward, grad_in.size, grad_out, grad_in, kh, kw, sh, sw, ph, pw,
        bool(count_include_pad), int(divisor_override),
    )  # fmt: skip


def adaptive_avg_pool2d_forward(x, out):
    """Fill ``out`` (N, C, OH, OW) with adaptive window means of ``x`` (N, C, H, W)."""
    _launch(_adaptive_avg_pool2d_forward, out.size, x, out)


def adaptive_avg_pool2d_backward(grad_out, grad_in):
    """Overwrite ``grad_in`` (N, C, H, W) with the gradient of adaptive average pooling."""
    _launch(_adaptive_avg_pool2d_backward, grad_in.size, grad_out, grad_in)
