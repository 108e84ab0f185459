"""Numba kernels. ``cpu`` holds ``@njit(parallel=True)`` kernels; each module
exposes plain launcher functions that take C-contiguous arrays of one float
dtype and preallocated outputs, and never validate (``numbaconv.ops`` does)."""
