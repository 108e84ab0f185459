"""The tiled CUDA conv kernels against the simple one-thread-per-element reference kernels and the
CPU backend, kernel by kernel; and the launch configuration they use.

Runs on a GPU, or in the CUDA simulator in its own process::

    NUMBA_ENABLE_CUDASIM=1 NUMBACONV_CUDA_THREADS=7 python -m pytest tests/test_cuda_tiled.py

In the simulator the tiles are tiny (2 x 2 threads, 16 x 4 and 20 x 2 outputs, 8 terms a step),
so these shapes end in ragged tiles on every axis and grids hold several blocks.
"""

from __future__ import annotations

import numpy as np
import pytest

from .cuda_guard import require_cuda

require_cuda()

from numba import cuda  # noqa: E402

from numbaconv.kernels.cuda import conv, conv_reference, launch  # noqa: E402
from numbaconv.ops import conv as ops  # noqa: E402

SIMULATING = bool(cuda.config.ENABLE_CUDASIM)
RTOL = {np.float32: 2e-5, np.float64: 1e-12}

# (label, x shape, w shape, stride, padding (top, left), dilation, groups)
CONFIGS = [
    ("wide-ragged-pad1", (2, 3, 5, 4), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ("narrow-groups2-mixed", (1, 4, 7, 6), (4, 2, 2, 3), (2, 1), (1, 2), (2, 1), 2),
    ("depthwise-stride3", (2, 2, 8, 7), (2, 1, 3, 3), (3, 3), (0, 0), (1, 1), 2),
    ("kernel-over-input-pad2", (1, 1, 4, 3), (3, 1, 5, 5), (2, 1), (2, 2), (1, 1), 1),
]


def _hyper(cfg):
    _, _, _, stride, padding, dilation, groups = cfg
    return dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _launch_args(cfg):
    _, _, _, stride, padding, dilation, groups = cfg
    return stride, padding, dilation, groups


def _inputs(cfg, dtype):
    _, x_shape, w_shape, *_ = cfg
    rng = np.random.default_rng(len(cfg[0]))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out = ops.conv2d(x, w, bias=b, **_hyper(cfg))
    gy = rng.standard_normal(out.shape).astype(dtype)
    return x, w, b, out, gy


def _close(got, expected, dtype):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def _run_both(launcher_name, shape, dtype, *args):
    """Run the tiled and the reference launcher into poisoned outputs; return both on the host."""
    results = []
    for module in (conv, conv_reference):
        result = cuda.to_device(np.full(shape, np.nan, dtype))
        device_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
        getattr(module, launcher_name)(*device_args[:-4], result, *device_args[-4:])
        results.append(result.copy_to_host())
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_tiled_equals_reference_and_cpu(cfg, dtype):
    x, w, b, out, gy = _inputs(cfg, dtype)
    hyper, launch_args = _hyper(cfg), _launch_args(cfg)
    # Every output element written (outputs start as NaN), equal to the reference and the CPU.
    tiled, reference = _run_both("conv2d_forward", out.shape, dtype, x, w, b, *launch_args)
    _close(tiled, reference, dtype)
    _close(tiled, out, dtype)

    tiled, reference = _run_both("conv2d_grad_input", x.shape, dtype, gy, w, *launch_args)
    _close(tiled, reference, dtype)
    _close(tiled, ops.conv2d_grad_input(x.shape, w, gy, **hyper), dtype)

    tiled, reference = _run_both("conv2d_grad_weight", w.shape, dtype, x, gy, *launch_args)
    _close(tiled, reference, dtype)
    _close(tiled, ops.conv2d_grad_weight(x, w.shape, gy, **hyper), dtype)

    for module in (conv, conv_reference):
        gb = cuda.to_device(np.full(b.shape, np.nan, dtype))
        module.conv2d_grad_bias(cuda.to_device(gy), gb)
        _close(gb.copy_to_host(), gy.sum(axis=(0, 2, 3)), dtype)


def _grad_weight(x, gy, w_shape, cfg):
    gw = cuda.to_device(np.full(w_shape, np.nan, x.dtype))
    conv.conv2d_grad_weight(cuda.to_device(x), cuda.to_device(gy), gw, *_launch_args(cfg))
    return gw.copy_to_host()


def test_grad_weight_pieces_are_reduced_in_a_fixed_order(monkeypatch):
    cfg = CONFIGS[0]
    x, w, _, _, gy = _inputs(cfg, np.float32)
    first = _grad_weight(x, gy, w.shape, cfg)
    # Same launch, same bits: no atomics, no order that depends on scheduling.
    np.testing.assert_array_equal(_grad_weight(x, gy, w.shape, cfg), first)
    # Many short pieces: another order, the same sum to rounding.
    monkeypatch.setattr(launch, "MAX_TERMS_PER_PIECE", 8)
    terms = gy.shape[0] * gy.shape[2] * gy.shape[3]
    tile = launch.gemm_tile(w.size // w.shape[0], 4)
    assert tile.bk == 8 and launch.reduction_pieces(terms, 1, tile.bk)[0] == -(-terms // 8)
    _close(_grad_weight(x, gy, w.shape, cfg), first, np.float32)


def test_reduction_pieces_cover_the_terms_in_whole_steps():
    for terms in (1, 7, 40, 4096, 4097, 100_352):
        for tiles in (1, 5, 1000):
            pieces, length = launch.reduction_pieces(terms, tiles, 16)
            assert length % 16 == 0
            assert (pieces - 1) * length < terms <= pieces * length
            assert length <= launch.MAX_TERMS_PER_PIECE + 16


def test_tile_choice_follows_the_device_limits(monkeypatch):
    wide, narrow = launch.gemm_tile(100, 8), launch.gemm_tile(1, 8)
    assert narrow.bn < wide.bn and narrow.bm > wide.bm
    assert launch.gemm_tile(wide.bn, 8) == wide
    # A device whose blocks hold fewer threads than any tile: the reference kernels run instead.
    tiny = launch.DeviceLimits(max_threads_per_block=2, multiprocessors=1,
                               shared_bytes_per_block=48 * 1024)  # fmt: skip
    monkeypatch.setattr(launch, "device_limits", lambda: tiny)
    assert launch.gemm_tile(100, 8) is None
    cfg = CONFIGS[1]
    x, w, b, out, _ = _inputs(cfg, np.float64)
    result = cuda.to_device(np.full(out.shape, np.nan))
    conv.conv2d_forward(*map(cuda.to_device, (x, w, b)), result, *_launch_args(cfg))
    _close(result.copy_to_host(), out, np.float64)


def test_device_limits_come_from_the_device():
    if SIMULATING:
        # The simulator has no properties to read: its fixed stand-in, with room for every tile.
        assert launch.device_limits() is launch.SIMULATOR_LIMITS
        for tile in (launch.SIMULATOR_WIDE_TILE, launch.SIMULATOR_NARROW_TILE):
            assert tile.fits(launch.SIMULATOR_LIMITS, 8)
        return
    device = cuda.get_current_device()
    limits = launch.device_limits()
    assert limits.multiprocessors == device.MULTIPROCESSOR_COUNT
    assert limits.max_threads_per_block == device.MAX_THREADS_PER_BLOCK
    assert launch.WIDE_TILE.fits(limits, 8) and launch.NARROW_TILE.fits(limits, 8)


def test_pooling_grid_follows_the_device_limits(monkeypatch):
    """Pooling's one-thread-per-element grid: 256 threads (fewer where a block holds fewer),
    blocks to fill the multiprocessors, no more; the simulator's small odd stand-in."""
    from numbaconv.kernels.cuda import pool

    h200 = launch.DeviceLimits(max_threads_per_block=1024, multiprocessors=132,
                               shared_bytes_per_block=48 * 1024)  # fmt: skip
    small = launch.DeviceLimits(max_threads_per_block=64, multiprocessors=2,
                                shared_bytes_per_block=48 * 1024)  # fmt: skip
    grids = []
    monkeypatch.setattr(pool, "elementwise_grid", lambda total: grids.append(total) or (1, 5))
    pool.avg_pool2d_forward(*map(cuda.to_device, (np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)))),
                            2, 2, 2, 2, 0, 0, True, 0)  # fmt: skip
    assert grids == [4]  # the launcher asks launch.py, for one thread per output
    monkeypatch.setattr(launch, "_simulating", lambda: False)
    monkeypatch.setattr(launch, "device_limits", lambda: h200)
    assert launch.elementwise_grid(1) == (1, 256)
    assert launch.elementwise_grid(256 * 100 + 1) == (101, 256)
    assert launch.elementwise_grid(10**9) == (8 * launch.BLOCKS_PER_MULTIPROCESSOR * 132, 256)
    monkeypatch.setattr(launch, "device_limits", lambda: small)
    assert launch.elementwise_grid(1000) == (16, 64)
    monkeypatch.setattr(launch, "_simulating", lambda: True)
    threads, max_blocks = launch.SIMULATOR_ELEMENTWISE
    assert threads % 2 == 1 and max_blocks > 1
    assert launch.elementwise_grid(threads + 1) == (2, threads)
    assert launch.elementwise_grid(10**6) == (max_blocks, threads)
