"""Keep freed array buffers in the process (glibc's malloc), so that a training step does not
fault its activations back in from the kernel every time.

A training step allocates and frees tens of megabytes of same-sized arrays (activations,
gradients, im2col scratch). glibc serves blocks above its *mmap threshold* with fresh pages
from the kernel and hands freed heap memory back above its *trim threshold*; both start low
(128 KiB) and rise only as blocks are freed, so the step keeps crossing them: measured on the
chapter's 10-class batch-norm CNN at batch 512, about 3,700 page faults (14 MiB zeroed by the
kernel) and 5 ms of a 24 ms step. With the thresholds fixed at 32 MiB (glibc's own ceiling for
its moving mmap threshold) and 64 MiB, the freed blocks are reused: about 1 fault per step. The
cost is that up to 64 MiB of freed memory stays with the process instead of returning to the
system, as with PyTorch's caching allocators or jemalloc.

It is applied once, when numbaconv is imported, on Linux with glibc only, and never when the
user chose: ``NUMBACONV_MALLOC=0`` turns it off, and any of glibc's own ``MALLOC_*_``
variables or a ``GLIBC_TUNABLES`` setting leaves malloc as the user configured it (Dask's
worker nanny sets ``MALLOC_TRIM_THRESHOLD_``; :func:`numbaconv.dask.local_client` removes it).
"""

from __future__ import annotations

import ctypes
import os
import platform

from . import config

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20

_USER_VARIABLES = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)

# What :func:`keep_freed_buffers` did, for ``show_config``.
state = "not applied yet"


def keep_freed_buffers() -> str:
    """Fix glibc's mmap and trim thresholds (see the module docstring) unless the user chose.

    Returns
    -------
    state : str
        What was done, as ``show_config`` prints it.
    """
    global state
    if not config.MALLOC:
        state = "glibc defaults (NUMBACONV_MALLOC=0)"
    elif any(name in os.environ for name in _USER_VARIABLES):
        state = "as set by the user's MALLOC_*_/GLIBC_TUNABLES variables"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        state = "system allocator (not glibc)"
    else:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
        mib = 1 << 20
        state = (
            f"freed buffers kept (glibc mmap threshold {MMAP_THRESHOLD // mib} MiB, "
            f"trim threshold {TRIM_THRESHOLD // mib} MiB)"
            if ok
            else "glibc refused mallopt; defaults"
        )
    return state
