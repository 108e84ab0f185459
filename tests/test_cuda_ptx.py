"""Every CUDA kernel compiles to PTX for compute capability 9.0, in float32 and float64.

This needs numba-cuda's real NVVM (``numba-cuda[cu13]``) but no GPU, and catches typing errors
the simulator cannot see. It must run without ``NUMBA_ENABLE_CUDASIM``.

Each module under ``numbaconv/kernels/cuda`` keeps a ``PTX_SIGNATURES`` table (dispatcher name ->
signatures); a dispatcher missing from its module's table fails here, so no kernel skips this
tier.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
    pytest.skip(
        "PTX compilation needs the real NVVM; run this module without NUMBA_ENABLE_CUDASIM",
        allow_module_level=True,
    )

cuda = pytest.importorskip(
    "numba.cuda", reason='numba-cuda is not installed (pip install "numbaconv[cuda]")'
)

from numba.cuda.dispatcher import CUDADispatcher  # noqa: E402

import numbaconv.kernels.cuda as kernels_cuda  # noqa: E402

CC = (9, 0)
MODULES = [kernels_cuda] + [
    importlib.import_module(f"{kernels_cuda.__name__}.{info.name}")
    for info in pkgutil.iter_modules(kernels_cuda.__path__)
]


def _dispatchers(module) -> dict:
    return {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, CUDADispatcher) and obj.py_func.__module__ == module.__name__
    }


def _float_dtypes(sig) -> set[str]:
    names = set()
    for arg in sig.args:
        dtype = getattr(arg, "dtype", arg)
        if str(dtype) in ("float32", "float64"):
            names.add(str(dtype))
    return names


def _entries():
    for module in MODULES:
        for name, sigs in getattr(module, "PTX_SIGNATURES", {}).items():
            for index, sig in enumerate(sigs):
                yield pytest.param(module, name, sig, id=f"{module.__name__}.{name}[{index}]")


def test_kernel_modules_were_found():
    names = {m.__name__.rsplit(".", 1)[-1] for m in MODULES}
    assert {"cuda", "conv", "pool", "correlate", "norm"} <= names


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_every_dispatcher_has_ptx_signatures(module):
    dispatchers = _dispatchers(module)
    table = getattr(module, "PTX_SIGNATURES", None)
    assert table is not None or not dispatchers, f"{module.__name__} has no PTX_SIGNATURES"
    table = table or {}
    unlisted = sorted(set(dispatchers) - set(table))
    stale = sorted(set(table) - set(dispatchers))
    assert not unlisted and not stale, (
        f"{module.__name__}: dispatchers without PTX signatures {unlisted}, stale entries {stale}"
    )
    for name, disp in dispatchers.items():
        if disp.targetoptions.get("device"):
            continue
        covered = set().union(*(_float_dtypes(sig) for sig in table[name]))
        assert covered == {"float32", "float64"}, f"{module.__name__}.{name}: only {covered}"


@pytest.mark.parametrize("module,name,sig", list(_entries()))
def test_compiles_to_ptx(module, name, sig):
    disp = getattr(module, name)
    device = bool(disp.targetoptions.get("device"))
    ptx, _ = cuda.compile_ptx(
        disp.py_func,
        sig,
        cc=CC,
        device=device,
        fastmath=disp.targetoptions.get("fastmath", False),
    )
    assert ".target sm_90" in ptx
    assert (".func" if device else ".entry") in ptx
