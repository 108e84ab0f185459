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


def _checker():
    """``scripts/check_train_accuracy.py``, the check ``.ci/run`` applies to numbaconv train."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import check_train_accuracy
    finally:
        sys.path.pop(0)
    return check_train_accuracy


TRAIN_LOG = """numbaconv train: simple_cnn_3v7 (6,722 parameters) on the bundled MNIST sample
epoch     train_loss  valid_loss  accuracy  time
0         0.613304    0.231221    0.915000  00:40
1         0.302812    0.087572    {last}  00:22

validation accuracy {last} (199 of 200 images)
"""


@pytest.mark.parametrize(("last", "passes"), [("0.995000", True), ("0.975000", False)])
def test_the_accuracy_check_reads_the_last_epoch(tmp_path, last, passes):
    check_train_accuracy = _checker()
    log = tmp_path / "train.log"
    log.write_text(TRAIN_LOG.format(last=last))
    assert check_train_accuracy.final_accuracy(log.read_text()) == float(last)
    assert (check_train_accuracy.main([str(log), "--minimum", "0.98"]) == 0) is passes


def test_the_accuracy_check_fails_without_a_table(tmp_path):
    check_train_accuracy = _checker()
    log = tmp_path / "train.log"
    log.write_text("Traceback (most recent call last):\n")
    assert check_train_accuracy.main([str(log), "--minimum", "0.98"]) == 1
