"""The one place that decides how kernels are compiled.

Kernel modules write plain Python functions and wrap them here, so that
``NUMBA_DISABLE_JIT=1`` runs every CPU kernel as ordinary Python for debugging (and
``NUMBA_ENABLE_CUDASIM=1`` runs every CUDA kernel in Numba's simulator).

``numba.cuda`` is imported only inside the CUDA wrappers, which only the modules under
``numbaconv/kernels/cuda`` call: importing numbaconv and every CPU path work where
numba-cuda is not installed.
"""

from __future__ import annotations

import functools
import threading

import numba

from . import config


def _fastmath():
    # An empty set means "off"; Numba wants False rather than an empty set.
    return set(config.FASTMATH) if config.FASTMATH else False


def _njit(fn, **options):
    """``numba.njit`` with the options every CPU function shares (cache, fastmath from config,
    NumPy's error model) plus ``options``."""
    return numba.njit(cache=config.CACHE, fastmath=_fastmath(), error_model="numpy", **options)(fn)


# Numba's "workqueue" threading layer aborts the whole process when two Python threads run a
# parallel region at once (Dask's threaded scheduler does exactly that). Numba already prefers
# tbb, then omp, which are thread-safe; where it ends up on workqueue (nothing else loads, or
# NUMBA_THREADING_LAYER=workqueue) parallel kernels run one at a time under this lock.
_PARALLEL_LOCK = threading.Lock()
_layer_is_threadsafe = False  # unknown until a parallel kernel has run and Numba names its layer


def _note_threading_layer() -> None:
    global _layer_is_threadsafe
    try:
        _layer_is_threadsafe = numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel region has run yet
        pass


def cpu_kernel(fn):
    """Compile ``fn`` as the outermost, parallel CPU kernel (``prange`` inside).

    The result is called from Python only. Calls are serialised by a lock until Numba has
    named its threading layer, and for good when that layer is "workqueue", which is not
    thread-safe; under tbb or omp concurrent calls run in parallel.
    """
    dispatcher = _njit(fn, parallel=True, nogil=True)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if _layer_is_threadsafe:
            return dispatcher(*args, **kwargs)
        with _PARALLEL_LOCK:
            result = dispatcher(*args, **kwargs)
            _note_threading_layer()
        return result

    call.dispatcher = dispatcher
    return call


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
