"""``show_config``: what a bug report needs (versions, threads, CUDA device or simulator)."""

from __future__ import annotations

import os
import sys

import numpy as np

from .. import _jit, _malloc, config
from .device import _cuda_problem, _import_cuda, _simulating

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cuda_description() -> str:
    problem = _cuda_problem()
    if problem is not None:
        return f"unavailable: {problem}"
    cuda, _ = _import_cuda()
    if _simulating(cuda):
        return "simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else device.name
        major, minor = device.compute_capability
        return f"{name}, compute capability {major}.{minor}"
    except Exception as exc:  # a driver that answers is_available but then fails
        return f"error while querying the device: {type(exc).__name__}: {exc}"


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet in this process
        return f"not chosen yet (NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER})"


def show_config(file=None) -> None:
    """Print what a bug report needs: versions, threading, CUDA device or simulator, caches.

    Parameters
    ----------
    file : writable text stream, optional
        Where to print; ``sys.stdout`` by default.
    """
    import numba

    out = sys.stdout if file is None else file
    cache_dir = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside each kernel module"
    fastmath = ",".join(sorted(config.FASTMATH)) or "off"
    lines = [
        ("numbaconv", f"{_version('numbaconv')} ({_PACKAGE_DIR})"),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("numba-cuda", _version("numba-cuda")),
        ("scipy", _version("scipy")),
        ("threading layer", _threading_layer()),
        ("threads", f"{numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS}"),
        ("CUDA", _cuda_description()),
        ("kernel cache", f"{'on' if config.CACHE else 'off'}, folder: {cache_dir}"),
        ("CPU fastmath", fastmath),
        ("CUDA fastmath", "on" if _jit.CUDA_FASTMATH else "off (keeps NaN/Inf semantics)"),
        ("CUDA threads per block", str(config.CUDA_THREADS)),
        ("malloc", _malloc.state),
    ]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key + ':':<{width + 1}} {value}", file=out)
