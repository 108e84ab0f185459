"""Shared pytest configuration: hypothesis profiles, the ``backend`` and ``thread_counts``
fixtures, and the CI guard that turns skips of required test tiers into failures.

CI (``.ci/run``) sets ``NUMBACONV_REQUIRE_TIERS`` to the tiers its pytest process must really
run, e.g. ``threads,ptx`` for the CPU run and ``cuda,threads`` for the simulator run:

- ``threads``: determinism tests (those using ``thread_counts``), which need two threads;
- ``ptx``: ``tests/test_cuda_ptx.py``, which needs numba-cuda's NVVM;
- ``cuda``: the CUDA test modules and the ``backend=cuda`` cases, which need a GPU or the
  simulator.

A test of a required tier that skips (module-level skip, ``importorskip``, ``skipif`` or a
fixture's skip) is reported as a failure, with the skip's reason. Tests that only a real GPU can
run (the simulator lacks the feature) carry ``@pytest.mark.needs_gpu`` and may skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numba
import numpy as np
import pytest
from hypothesis import settings

from numbaconv import _backend

# Kernels compile on first use; that must not count against hypothesis' deadline.
settings.register_profile("numbaconv", deadline=None, print_blob=True)
# The simulator runs one OS thread per CUDA thread: few, tiny examples.
settings.register_profile("numbaconv-cudasim", deadline=None, print_blob=True, max_examples=6)
SIMULATING = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
settings.load_profile("numbaconv-cudasim" if SIMULATING else "numbaconv")

REQUIRE_TIERS_VARIABLE = "NUMBACONV_REQUIRE_TIERS"
TIERS = ("threads", "ptx", "cuda")
PTX_MODULES = ("test_cuda_ptx.py",)
CUDA_MODULES = (
    "test_cuda_parity.py",
    "test_cuda_autograd.py",
    "test_cuda_learner.py",
    "test_learner_cuda.py",
    "test_cuda_tiled.py",
    "test_cuda_fit_traffic.py",
    "test_gpu_check.py",
)


def required_tiers() -> set[str]:
    """The tiers named in ``NUMBACONV_REQUIRE_TIERS`` (unknown names are an error)."""
    names = {n.strip() for n in os.environ.get(REQUIRE_TIERS_VARIABLE, "").split(",")} - {""}
    unknown = sorted(names - set(TIERS))
    if unknown:
        raise pytest.UsageError(
            f"{REQUIRE_TIERS_VARIABLE} names unknown tiers {unknown}; known: {list(TIERS)}"
        )
    return names


def _module_tier(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if name in PTX_MODULES:
        return "ptx"
    if name in CUDA_MODULES:
        return "cuda"
    return None


def _item_tiers(item) -> set[str]:
    if item.get_closest_marker("needs_gpu") is not None:
        return set()
    tiers = {_module_tier(item.nodeid)} - {None}
    if "thread_counts" in getattr(item, "fixturenames", ()):
        tiers.add("threads")
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("backend") == "cuda":
        tiers.add("cuda")
    return tiers


def _forbidden(report, tiers: set[str]) -> str | None:
    """The first required tier among ``tiers`` when ``report`` is a skip, else None."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    hit = sorted(tiers & required_tiers())
    return hit[0] if hit else None


def _fail_skip(report, tier: str) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    setting = f"{REQUIRE_TIERS_VARIABLE}={os.environ.get(REQUIRE_TIERS_VARIABLE)}"
    report.longrepr = f"the {tier!r} tier must run here ({setting}) but skipped: {reason}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_gpu: needs a real GPU; may skip under the simulator even in CI"
    )
    required_tiers()  # a misspelt tier in CI must stop the run, not require nothing


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    tier = _forbidden(report, {_module_tier(collector.nodeid)} - {None})
    if tier:
        _fail_skip(report, tier)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    tier = _forbidden(report, _item_tiers(item))
    if tier:
        _fail_skip(report, tier)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def thread_counts():
    """``(1, 2)``: the thread counts a determinism test compares (restored afterwards).

    With one thread available the comparison would run a computation against itself and pass
    whatever the kernels do, so the test skips, and fails where the ``threads`` tier is
    required (CI runs with ``NUMBA_NUM_THREADS=2``).
    """
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip(
            f"needs 2 threads to compare with 1, but NUMBA_NUM_THREADS="
            f"{numba.config.NUMBA_NUM_THREADS}"
        )
    previous = numba.get_num_threads()
    yield (1, 2)
    numba.set_num_threads(previous)


@dataclass(frozen=True)
class BackendCase:
    """One device for a test body: ``put`` moves host arrays there, ``get`` brings results back
    (and checks that a CUDA result is a device array)."""

    name: str

    def put(self, value):
        if self.name == "cuda" and isinstance(value, np.ndarray):
            return _backend.to_device(value)
        return value

    def get(self, value):
        if isinstance(value, (tuple, list)):
            return type(value)(self.get(v) for v in value)
        if value is None or self.name == "cpu":
            return value
        assert _backend.is_device_array(value) and not isinstance(value, np.ndarray)
        return _backend.to_host(value)


@pytest.fixture(scope="session", params=["cpu", "cuda"])
def backend(request):
    """The CPU backend, and the CUDA one where CUDA is usable (a GPU or the simulator).

    One test body runs on both against ``tests/naive.py``; under the simulator the hypothesis
    profile ``numbaconv-cudasim`` keeps the examples few and small.
    """
    if request.param == "cuda" and not _backend.cuda_available():
        pytest.skip(f"CUDA is not usable here: {_backend._cuda_problem()}")
    return BackendCase(request.param)


@pytest.fixture(scope="session")
def dask_client():
    """A real ``dask.distributed`` cluster of 2 worker processes x 1 thread, started once per
    session (workers take seconds to start and to load the compiled kernels) and used as the
    default client by the tests that request it."""
    pytest.importorskip("distributed", reason="numbaconv.dask needs the 'dask' extra")
    from numbaconv.dask import local_client

    client = local_client(n_workers=2, threads_per_worker=1)  # NUMBA_NUM_THREADS=1 on 2 cores
    try:
        yield client
    finally:
        client.close()
        client.cluster.close()
