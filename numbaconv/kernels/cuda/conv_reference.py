"""The simple CUDA conv2d kernels, one thread per output element: the reference that the tiled
kernels in ``numbaconv.kernels.cuda.conv`` are tested against (same launchers, argument order and
layouts: NCHW, OIHW, ``padding`` = top/left).

One thread owns one element of the array it writes:

- forward: one output element ``(n, o, oh, ow)``;
- grad_input: one input-gradient element ``(n, c, ih, iw)``, gathered: for each ``(o, kh, kw)``
  the only output position that read it is ``oh = (ih + ph - kh*dh) / sh`` when that division
  is exact and in range (likewise ``ow``);
- grad_weight: one weight element ``(o, c, kh, kw)``, summed over the batch and output positions
  in a float64 accumulator;
- grad_bias: one output channel, float64 accumulator.

Each thread adds its terms in a fixed order (channels, then kernel rows, then columns), so results
are deterministic; the CPU kernels sum through BLAS in another order, so the backends agree to
rounding, not bit for bit. These kernels are short enough to check by eye, and slow: each
thread re-reads its inputs from global memory and, for grad_weight and grad_bias, few threads
carry long sums.
"""

from __future__ import annotations

from numba import cuda

from ..._jit import cuda_device, cuda_kernel
from ..common import conv as common_conv
from . import launch_config

_first_last_out = cuda_device(common_conv.first_last_out)
_source_position = cuda_device(common_conv.source_position)


def _conv2d_forward(x, w, b, out, sh, sw, ph, pw, dh, dw, groups):
    h_in, w_in = x.shape[2], x.shape[3]
    cin_per_group, kh_size, kw_size = w.shape[1], w.shape[2], w.shape[3]
    n_batch, n_out, h_out, w_out = out.shape
    out_per_group = n_out // groups
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n_batch * n_out * h_out * w_out, step):
        ow = idx % w_out
        rest = idx // w_out
        oh = rest % h_out
        rest = rest // h_out
        o = rest % n_out
        n = rest // n_out
        c0 = (o // out_per_group) * cin_per_group
        acc = b[o]
        for c in range(cin_per_group):
            for kh in range(kh_size):
                ih = oh * sh - ph + kh * dh
                if ih < 0 or ih >= h_in:
                    continue
                for kw in range(kw_size):
                    iw = ow * sw - pw + kw * dw
                    if iw >= 0 and iw < w_in:
                        acc += w[o, c, kh, kw] * x[n, c0 + c, ih, iw]
        out[n, o, oh, ow] = acc


def _conv2d_grad_input(gy, w, gx, sh, sw, ph, pw, dh, dw, groups):
    h_out, w_out = gy.shape[2], gy.shape[3]
    n_out, cin_per_group, kh_size, kw_size = w.shape
    n_batch, n_cin, h_in, w_in = gx.shape
    out_per_group = n_out // groups
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n_batch * n_cin * h_in * w_in, step):
        iw = idx % w_in
        rest = idx // w_in
        ih = rest % h_in
        rest = rest // h_in
        ci = rest % n_cin
        n = rest // n_cin
        g = ci // cin_per_group
        c = ci % cin_per_group
        # The CPU kernel accumulates in the output's dtype; so does this one.
        acc = gx.dtype.type(0)
        for o in range(g * out_per_group, (g + 1) * out_per_group):
            for kh in range(kh_size):
                oh = _source_position(ih, ph, kh * dh, sh, h_out)
                if oh < 0:
                    continue
                for kw in range(kw_size):
                    ow = _source_position(iw, pw, kw * dw, sw, w_out)
                    if ow >= 0:
                        acc += w[o, c, kh, kw] * gy[n, o, oh, ow]
        gx[n, ci, ih, iw] = acc


def _conv2d_grad_weight(x, gy, gw, sh, sw, ph, pw, dh, dw, groups):
    n_batch, h_in, w_in = x.shape[0], x.shape[2], x.shape[3]
    h_out, w_out = gy.shape[2], gy.shape[3]
    n_out, cin_per_group, kh_size, kw_size = gw.shape
    out_per_group = n_out // groups
    start, step = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, n_out * cin_per_group * kh_size * kw_size, step):
        kw = idx % kw_size
        rest = idx // kw_size
        kh = rest % kh_size
        rest = rest // kh_size
        c = rest % cin_per_group
        o = rest // cin_per_group
        ci = (o // out_per_group) * cin_per_group + c
        oh_lo, oh_hi = _first_last_out(h_in, h_out, kh * dh, sh, ph)
        ow_lo, ow_hi = _first_last_out(w_in, w_out, kw * dw, sw, pw)
        iw0 = kw * dw - pw
        # float64 accumulator: the sum runs over N*OH*OW terms, too many for float32.
        acc = 0.0
        for n in range(n_batch):
            for oh in range(oh_lo, oh_hi):
                ih = oh * sh - ph + kh * dh
                for ow in range(ow_lo, ow_hi):
                    acc += gy[n, o, oh, ow] * x[n, ci, ih, ow * sw + iw0]
        gw[o, c, kh, kw] = acc


def _conv2d_grad_bias(gy, gb):
    n_batch, n_out, h_out, w_out = gy.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for o in range(start, n_out, step):
        acc = 0.0
        for n in range(n_batch):
            for oh in range(h_out):
                for ow in range(w_out):
                    acc += gy[n, o, oh, ow]
        gb[o] = acc


_conv2d_forward = cuda_kernel(_conv2d_forward)
_conv2d_grad_input = cuda_kernel(_conv2d_grad_input)
_conv2d_grad_weight = cuda_kernel(_conv2d_grad_weight)
_conv2d_grad_bias = cuda_kernel(_conv2d_grad_bias)


def _signatures():
    table = {name: [] for name in ("_conv2d_forward", "_conv2d_grad_input",
                                   "_conv2d_grad_weight", "_conv2d_grad_bias")}  # fmt: skip
    i64 = cuda.int64
    hyper = (i64,) * 7  # sh, sw, ph, pw, dh, dw, groups: Python ints arrive as int64
    for f in (cuda.float32, cuda.float64):
        a4, a1 = f[:, :, :, ::1], f[::1]
        table["_conv2d_forward"].append(cuda.void(a4, a4, a1, a4, *hyper))
        table["_conv2d_grad_input"].append(cuda.void(a4, a4, a4, *hyper))
        table["_conv2d_grad_weight"].append(cuda.void(a4, a4, a4, *hyper))
        table["_conv2d_grad_bias"].append(cuda.void(a4, a1))
    return table


PTX_SIGNATURES = _signatures()


def conv2d_forward(x, weight, bias, out, stride, padding, dilation, groups):
    """``out[n, o] = bias[o] + sum_{c, kh, kw} weight[o, c, kh, kw] * x_pad[n, g*C/g + c, ...]``.

    x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,), out (N, O, OH, OW), all C-contiguous
    device arrays of one dtype; ``padding`` is the (top, left) padding.
    """
    if out.size == 0:
        return
    blocks, threads = launch_config(out.size)
    _conv2d_forward[blocks, threads](x, weight, bias, out, *stride, *padding, *dilation, groups)


def conv2d_grad_input(grad_output, weight, grad_input, stride, padding, dilation, groups):
    """Gradient of ``conv2d_forward`` with respect to x, into ``grad_input`` (N, C, H, W)."""
    if grad_input.size == 0:
        return
    blocks, threads = launch_config(grad_input.size)
    _conv2d_grad_input[blocks, threads](
        grad_output, weight, grad_input, *stride, *padding, *dilation, groups
    )


def conv2d_grad_weight(x, grad_output, grad_weight, stride, padding, dilation, groups):
    """Gradient with respect to the weight, written into ``grad_weight`` (O, C/groups, KH, KW)."""
    if grad_weight.size == 0:
        return
    blocks, threads = launch_config(grad_weight.size)
    _conv2d_grad_weight[blocks, threads](
        x, grad_output, grad_weight, *stride, *padding, *dilation, groups
    )


def conv2d_grad_bias(grad_output, grad_bias):
    """Gradient with respect to the bias: ``grad_output`` summed over N, OH, OW, into (O,)."""
    if grad_bias.size == 0:
        return
    blocks, threads = launch_config(grad_bias.size)
    _conv2d_grad_bias[blocks, threads](grad_output, grad_bias)
