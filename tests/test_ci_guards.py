"""The CI guard in ``tests/conftest.py``: a required tier that skips fails the run.

Each case runs pytest in a subprocess on a small selection of the real test files, once without
``NUMBACONV_REQUIRE_TIERS`` (the tier skips, pytest passes) and once with it (pytest fails and
says which tier skipped and why).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pytest(args, **env):
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("NUMBACONV_REQUIRE_TIERS", "NUMBA_ENABLE_CUDASIM"):
        environment.pop(name, None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("tier", "args", "env"),
    [
        # One thread: the determinism tests cannot compare two thread counts.
        (
            "threads",
            ["tests/test_activation.py", "-k", "thread_counts and float32"],
            {"NUMBA_NUM_THREADS": "1"},
        ),
        # The PTX module skips at collection under the simulator (as without numba-cuda).
        ("ptx", ["tests/test_cuda_ptx.py"], {"NUMBA_ENABLE_CUDASIM": "1"}),
        # Without a GPU or the simulator the CUDA modules skip.
        ("cuda", ["tests/test_cuda_parity.py", "-k", "every_public_op"], {}),
    ],
)
def test_a_required_tier_that_skips_fails(tier, args, env):
    if tier == "cuda":
        from numbaconv import _backend

        if _backend.cuda_available():
            pytest.skip("CUDA is usable here, so the CUDA tier does not skip")
    relaxed = _pytest(args, **env)
    # 5: pytest collected nothing, when a whole module skipped at collection.
    assert relaxed.returncode in (0, 5), relaxed.stdout + relaxed.stderr
    assert "skipped" in relaxed.stdout
    strict = _pytest(args, NUMBACONV_REQUIRE_TIERS=tier, **env)
    assert strict.returncode in (1, 2), strict.stdout + strict.stderr  # 2: collection error
    assert f"the {tier!r} tier must run here" in strict.stdout


def test_unknown_tier_names_are_refused():
    result = _pytest(["tests/test_layering.py"], NUMBACONV_REQUIRE_TIERS="thread")
    assert result.returncode != 0
    assert "unknown tiers ['thread']" in result.stdout + result.stderr
