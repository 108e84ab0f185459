"""Package defaults, read once from ``NUMBACONV_*`` environment variables.

Kernels are compiled lazily but their options (cache, fastmath) are fixed when
the kernel modules are imported, so set the variables before ``import numbaconv``.

Variables
---------
NUMBACONV_CACHE : "1" (default) or "0"
    Cache compiled kernels on disk (Numba's ``cache=True``). The folder is
    Numba's own: ``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` beside the
    source.
NUMBACONV_FASTMATH : comma-separated LLVM fast-math flags, default ``contract,reassoc,nsz``
    ``none`` (or an empty string) turns fast-math off. ``nnan``, ``ninf`` and
    ``fast`` are refused: NaN and Inf must propagate as in NumPy.
NUMBACONV_MALLOC : "1" (default) or "0"
    On Linux with glibc, fix malloc's mmap and trim thresholds at import so that freed
    activation buffers are reused instead of faulted in again every training step
    (:mod:`numbaconv._malloc`); "0" leaves glibc's defaults. glibc's own ``MALLOC_*_``
    variables, when set, always win.
NUMBACONV_CUDA_THREADS : int, default 128
    Threads per block for the 1-D CUDA launches of the elementwise, reduction, optimizer,
    activation and batch-norm kernels (conv and pooling size their grids from the device).
"""

from __future__ import annotations

import os

_ALLOWED_FASTMATH = frozenset({"contract", "reassoc", "nsz", "arcp", "afn"})
_FORBIDDEN_FASTMATH = frozenset({"nnan", "ninf", "fast"})

CACHE: bool = True
MALLOC: bool = True
FASTMATH: frozenset[str] = frozenset()
CUDA_THREADS: int = 128


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def _parse_fastmath(raw: str) -> frozenset[str]:
    flags = {f.strip().lower() for f in raw.split(",") if f.strip()}
    if flags <= {"none", "0", "off"}:
        return frozenset()
    bad = flags & _FORBIDDEN_FASTMATH
    if bad:
        raise ValueError(
            f"NUMBACONV_FASTMATH={raw!r}: {sorted(bad)} would let NaN/Inf vanish; "
            f"choose from {sorted(_ALLOWED_FASTMATH)}"
        )
    unknown = flags - _ALLOWED_FASTMATH
    if unknown:
        raise ValueError(
            f"NUMBACONV_FASTMATH={raw!r}: unknown flags {sorted(unknown)}; "
            f"choose from {sorted(_ALLOWED_FASTMATH)}"
        )
    return frozenset(flags)


def _parse_positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a positive integer") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r}: expected a positive integer")
    return value


def _reset() -> None:
    """Re-read the environment (tests use this; compiled kernels keep their options)."""
    global CACHE, MALLOC, FASTMATH, CUDA_THREADS
    env = os.environ
    CACHE = _parse_bool("NUMBACONV_CACHE", env.get("NUMBACONV_CACHE", "1"))
    MALLOC = _parse_bool("NUMBACONV_MALLOC", env.get("NUMBACONV_MALLOC", "1"))
    FASTMATH = _parse_fastmath(env.get("NUMBACONV_FASTMATH", "contract,reassoc,nsz"))
    CUDA_THREADS = _parse_positive_int(
        "NUMBACONV_CUDA_THREADS", env.get("NUMBACONV_CUDA_THREADS", "128")
    )


_reset()
