"""scripts/perf_table.py turns asv results into peer/numbaconv ratios."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import perf_table


def _write_results(root: Path) -> None:
    machine = root / "box"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text("{}")
    (root / "benchmarks.json").write_text(
        json.dumps(
            {
                "bench_correlate.Correlate2d.time_correlate2d": {
                    "param_names": ["impl", "size"],
                    "params": [["'numbaconv'", "'scipy'"], ["256", "1024"]],
                },
                "bench_train.TrainStep.track_images_per_second": {
                    "param_names": ["impl", "model"],
                    "params": [["'numbaconv'", "'torch'"], ["'3v7'"]],
                },
                "bench_conv.Conv2dCPU.time_conv2d": {
                    "param_names": ["shape", "pass"],
                    "params": [["'a'"], ["'forward'"]],
                },
                "bench_conv.Conv2dTorchCPU.time_conv2d": {
                    "param_names": ["shape", "pass"],
                    "params": [["'a'"], ["'forward'"]],
                },
                "version": 2,
            }
        )
    )
    results = {
        "bench_correlate.Correlate2d.time_correlate2d": [
            # product order: (numbaconv, 256), (numbaconv, 1024), (scipy, 256), (scipy, 1024)
            [0.001, 0.01, 0.004, None],
            [["'numbaconv'", "'scipy'"], ["256", "1024"]],
        ],
        "bench_train.TrainStep.track_images_per_second": [
            [1000.0, 2000.0],
            [["'numbaconv'", "'torch'"], ["'3v7'"]],
        ],
        "bench_conv.Conv2dCPU.time_conv2d": [[2e-4], [["'a'"], ["'forward'"]]],
        "bench_conv.Conv2dTorchCPU.time_conv2d": [[1e-4], [["'a'"], ["'forward'"]]],
    }
    (machine / "abc123-env.json").write_text(
        json.dumps(
            {
                "commit_hash": "abc123def",
                "date": 1,
                "result_columns": ["result", "params"],
                "results": results,
                "version": 2,
            }
        )
    )


def test_ratios_are_peer_time_over_numbaconv_time(tmp_path):
    _write_results(tmp_path)
    rows = perf_table.ratio_rows(
        perf_table.load_results(tmp_path / "box" / "abc123-env.json"),
        perf_table._param_names(tmp_path / "benchmarks.json"),
    )
    by_peer = {(r.peer, r.params): r.ratio for r in rows}
    # scipy 4 ms vs numbaconv 1 ms -> 4x; the 1024 row has no scipy value and is left out
    assert by_peer == {
        ("scipy", "size=256"): pytest.approx(4.0),
        ("torch (CPU)", "shape=a, pass=forward"): pytest.approx(0.5),
    }
    assert all("track_" not in r.benchmark for r in rows)


def test_tables_and_exit_status(tmp_path, capsys):
    _write_results(tmp_path / "results")
    text = perf_table.tables(tmp_path / "results")
    assert "abc123de" in text and "| 4.00 |" in text and "| 0.50 |" in text
    assert perf_table.main(["--results-dir", str(tmp_path / "results")]) == 0
    assert perf_table.main(["--results-dir", str(tmp_path / "none")]) == 1
    assert "no asv results" in capsys.readouterr().err
