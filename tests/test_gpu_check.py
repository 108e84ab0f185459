"""``scripts/gpu_check.py --simulate`` runs end to end and its JSON report says what it checked.

Runs in the simulator process of CI (the script sets ``NUMBA_ENABLE_CUDASIM`` for its own
process; this module runs it only where the simulator tier runs, so that CI pays for it once)::

    NUMBA_ENABLE_CUDASIM=1 NUMBACONV_CUDA_THREADS=7 python -m pytest tests/test_gpu_check.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0"):
    pytest.skip(
        "runs in the CUDA simulator's test process (NUMBA_ENABLE_CUDASIM=1)",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402

from . import cuda_cases  # noqa: E402


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--simulate", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((out / "gpu_check.json").read_text())
    data["markdown"] = (out / "gpu_check.md").read_text()
    return data


def test_parity_ran_one_case_per_op_in_both_dtypes(report):
    parity = report["parity"]
    ops = [c["op"] for c in parity["cases"]]
    assert sorted(ops) == sorted({case.op for case in cuda_cases.CASES})
    assert parity["count"] == len(ops)
    assert {c["dtype"] for c in parity["cases"]} == {"float32", "float64"}
    # Every comparison produced an error figure within the suite's tolerance.
    for case in parity["cases"]:
        assert case["passed"] and case["error"] <= gpu_check.RTOL[case["dtype"]], case
    assert parity["passed"] and parity["failed"] == []


def test_training_ran_the_cli_on_the_device(report):
    (run,) = report["training"]["runs"].values()
    assert run["returncode"] == 0 and run["passed"]
    assert "--device cuda" in run["command"]
    assert 0.0 <= run["accuracy"] <= 1.0
    assert "device cuda" in run["output_tail"]


def test_timings_cover_every_conv_pass_pooling_norm_and_a_step(report):
    rows = report["timings"]["rows"]
    names = [row["name"] for row in rows]
    for conv_pass in ("forward", "grad_input", "grad_weight", "grad_bias"):
        assert any(conv_pass in name for name in names), conv_pass
    for op in ("max_pool2d", "avg_pool2d", "batch_norm train", "batch_norm_grad", "training step"):
        assert any(name.startswith(op) for name in names), op
    for row in rows:
        assert "exception" not in row and "skipped" not in row, row
        # The simulator's events time nothing (they answer -1.0); a GPU's give milliseconds.
        assert isinstance(row["numbaconv_ms"], float)
        # No CUDA build of PyTorch here: the peer column says why instead of a number.
        assert row["torch_ms"] is None and row["torch"], row
    assert report["passed"]


def test_markdown_table_has_a_row_per_timing(report):
    table = report["markdown"]
    assert "| case | numbaconv ms | GFLOP/s | torch ms |" in table
    for row in report["timings"]["rows"]:
        assert f"| {row['name']} |" in table
    assert "CUDA simulator" in table
