"""Run BLAS on one thread while a parallel kernel calls it from every Numba thread.

The conv kernels call BLAS (Numba's ``np.dot``, which uses SciPy's BLAS) from inside
``prange``. A multi-threaded BLAS would then start its own pool beside Numba's threads
and both would spin for the same cores. :func:`single_threaded_blas` sets SciPy's BLAS (the
one Numba calls; every loaded BLAS where it cannot be told apart, found by threadpoolctl)
to one thread for the duration of a call and
restores the previous counts afterwards, so users' own NumPy/SciPy calls keep theirs.
"""

from __future__ import annotations

import contextlib
import os

_libraries = None


def _blas_libraries():
    global _libraries
    if _libraries is None:
        # Numba's np.dot binds SciPy's BLAS; make sure it is loaded before looking.
        import scipy.linalg.cython_blas
        from threadpoolctl import ThreadpoolController

        blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        # Only the library Numba calls matters (NumPy's own OpenBLAS, loaded beside it in wheel
        # installs, never runs inside a kernel): each library costs ~4 us of threadpoolctl calls
        # per conv call, against 0.1 ms calls. Where SciPy's cannot be told apart (a shared
        # system BLAS), all of them.
        scipy_dir = os.path.dirname(os.path.dirname(scipy.linalg.cython_blas.__file__))
        own = [
            lib
            for lib in blas
            if lib.filepath.startswith((scipy_dir + os.sep, scipy_dir + ".libs"))
        ]
        _libraries = own or blas
    return _libraries


@contextlib.contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS library to one thread inside the ``with`` block."""
    saved = []
    try:
        for lib in _blas_libraries():
            threads = lib.num_threads
            if threads != 1:
                lib.set_num_threads(1)
                saved.append((lib, threads))
        yield
    finally:
        for lib, threads in saved:
            lib.set_num_threads(threads)
