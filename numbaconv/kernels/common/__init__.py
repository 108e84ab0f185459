"""Twin helpers: plain-Python index arithmetic written once and compiled twice.

Each module here imports no numba. The CPU kernel module compiles what it needs with
``numbaconv._jit.cpu_helper`` (inlined into the ``@njit`` kernel) and its CUDA twin with
``numbaconv._jit.cuda_device`` (an inlined device function), so both backends follow the same
rule by construction; module-level constants used by the helpers are frozen into each compiled
copy. Helpers take and return scalars only, never validate, and must type under both targets.
"""
