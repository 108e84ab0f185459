"""CPU kernels (``@njit(parallel=True)``), one module per concept."""
