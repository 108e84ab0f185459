"""The SciPy-suite tier's plugin (tests/scipy_suite/plugin.py) does what it claims.

The tier itself (all of SciPy's TestConvolve2d and TestCorrelate2d) runs as its own pytest
process from .ci/run; here two short runs check that the plugin substitutes numbaconv, and
that a run which selects none of SciPy's tests fails.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "pytest", "-p", "tests.scipy_suite.plugin", "-p",
           "no:cacheprovider", "--pyargs", "scipy.signal.tests.test_signaltools"]  # fmt: skip


def _run(*args):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run(
        [*COMMAND, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_scipy_tests_reach_numbaconv():
    # SciPy's complex-input test failed before numbaconv accepted complex input.
    run = _run("-k", "TestCorrelate2d and test_complex_input")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    assert "(3 calls to numbaconv)" in run.stdout


def test_a_run_that_selects_no_scipy_test_fails():
    run = _run("-k", "no_such_test_name")
    assert run.returncode != 0
    assert "scipy_suite: no test of SciPy's selected" in run.stdout + run.stderr
