"""Index arithmetic written once and compiled twice: for the CPU and for CUDA.

The modules here import no numba and hold plain scalar functions (integer window arithmetic,
index unravelling, a window's first maximum). Each kernel module compiles the ones it needs
with the compiler of its side, at module level:

- ``numbaconv/kernels/cpu/*``: ``_jit.cpu_helper(fn)``, inlined into the ``@njit`` kernels;
- ``numbaconv/kernels/cuda/*``: ``_jit.cuda_device(fn)``, inlined into the ``@cuda.jit`` kernels.

So the two backends cannot drift apart on the rule that decides which elements a window holds
or which of them is its maximum, as minitorch shares its index helpers between its CPU and
CUDA tensor backends. The functions must therefore stay in the common subset of both
compilers: scalars and array indexing only, no allocation, no NumPy calls, ``math`` rather than
``numpy`` constants. Because they import no numba, ``NUMBA_DISABLE_JIT=1`` and the CUDA
simulator run them as ordinary Python.

Numba's on-disk cache keys a kernel on its own source file, not on the helpers inlined into it:
after editing a module here, clear ``NUMBA_CACHE_DIR`` (or touch the kernel modules that use
it), or the cached kernels keep the old helper.
"""
