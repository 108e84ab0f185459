"""Run BLAS on one thread while a parallel kernel calls it from every Numba thread.

The conv kernels call BLAS (Numba's ``np.dot``, which uses SciPy's BLAS) from inside
``prange``. A multi-threaded BLAS would then start its own pool beside Numba's threads
and both would spin for the same cores. :func:`single_threaded_blas` sets every loaded
BLAS library (found by threadpoolctl) to one thread for the duration of a call and
restores the previous counts afterwards, so users' own NumPy/SciPy calls keep theirs.
"""

from __future__ import annotations

import contextlib

_libraries = None


def _blas_libraries():
    global _libraries
    if _libraries is None:
        # Numba's np.dot binds SciPy's BLAS; make sure it is loaded before looking.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _libraries = [
            lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"
        ]
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
