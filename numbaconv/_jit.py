"""The one place that decides how kernels are compiled.

Kernel modules write plain Python functions and wrap them here, so that
``NUMBA_DISABLE_JIT=1`` runs every CPU kernel as ordinary Python for debugging (and
``NUMBA_ENABLE_CUDASIM=1`` runs every CUDA kernel in Numba's simulator).

``numba.cuda`` is imported only inside the CUDA wrappers, which only the modules under
``numbaconv/kernels/cuda`` call: importing numbaconv and every CPU path work where
numba-cuda is not installed.
"""

from __future__ import annotations

import numba

from . import config


def _fastmath():
    # An empty set means "off"; Numba wants False rather than an empty set.
    return set(config.FASTMATH) if config.FASTMATH else False


def _njit(fn, **options):
    """``numba.njit`` with the options every CPU function shares (cache, fastmath from config,
    NumPy's error model) plus ``options``."""
    return numba.njit(cache=config.CACHE, fastmath=_fastmath(), error_model="numpy", **options)(fn)


def cpu_kernel(fn):
    """Compile ``fn`` as the outermost, parallel CPU kernel (``prange`` inside)."""
    return _njit(fn, parallel=True, nogil=True)


def cpu_serial_kernel(fn):
    """Compile ``fn`` as a serial CPU kernel (work too small to be worth threads)."""
    return _njit(fn, nogil=True)


def cpu_function(fn):
    """Compile ``fn`` as a called (not inlined) helper of a kernel: a unit of work such as
    one chunk's im2col, called a few times per ``prange`` iteration.

    Compiled once per signature and shared by every kernel that calls it, rather than inlined
    into each, and kept out of the ``prange`` body, where Numba's parfor passes are slow: at the
    cost of one call per work unit, the float32 conv kernels (forward and both gradients, both
    column layouts) compile in 19 s on an empty cache instead of 37 s with everything inlined.
    """
    return _njit(fn, nogil=True)


def cpu_helper(fn):
    """Compile ``fn`` as an inlined helper called from inside a kernel."""
    return _njit(fn, inline="always")


# CUDA fast-math stays off whatever NUMBACONV_FASTMATH says. numba-cuda takes only a bool and
# turns True into LLVM's ``fast`` flag set, which includes nnan and ninf (NaN/Inf could vanish),
# plus flush-to-zero of subnormals and approximate division and square root. NVVM still
# contracts a*b + c into FMA by default, which is the only speed-up these kernels need.
CUDA_FASTMATH = False


def cuda_options() -> dict:
    """Options every ``numba.cuda.jit`` call receives (also used to compile PTX in tests)."""
    return {"fastmath": CUDA_FASTMATH, "cache": config.CACHE}


def cuda_kernel(fn):
    """Compile ``fn`` as a CUDA kernel (launched as ``kernel[blocks, threads](...)``)."""
    from numba import cuda

    return cuda.jit(**cuda_options())(fn)


def cuda_device(fn):
    """Compile ``fn`` as a CUDA device function called from inside a kernel.

    Inlined at Numba-IR level, as ``cpu_helper`` is: besides saving a call, this lets
    ``numba.cuda.compile_ptx`` compile a kernel that calls it on a machine without a GPU (a
    non-inlined device function asks the current device for its compute capability).
    """
    from numba import cuda

    return cuda.jit(device=True, inline="always", **cuda_options())(fn)
