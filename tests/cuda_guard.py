"""The module-level guard of the CUDA test modules: fail where the simulator was asked for but
CUDA is unusable (skipping would hide a break), skip where CUDA is simply absent."""

from __future__ import annotations

import os

import pytest

from numbaconv import _backend


def require_cuda() -> None:
    """Call at the top of a CUDA test module, before it imports ``numba.cuda``."""
    simulating = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
    if simulating and not _backend.cuda_available():
        pytest.fail(
            f"NUMBA_ENABLE_CUDASIM is set but CUDA is not usable: {_backend._cuda_problem()}"
        )
    if not _backend.cuda_available():
        pytest.skip(
            f"CUDA is not usable here ({_backend._cuda_problem()}); run this module with "
            "NUMBA_ENABLE_CUDASIM=1 or on a GPU",
            allow_module_level=True,
        )
