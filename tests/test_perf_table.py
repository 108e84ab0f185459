"""scripts/perf_table.py turns asv results into peer/numbaconv ratios."""

from __future__ import annotations

import itertools
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


# --------------------------------------------------------------- spreads and issue 6's targets

STATS_COLUMNS = ["result", "params", "stats_q_25", "stats_q_75"]


def _write_run(root: Path, benches: dict, columns=STATS_COLUMNS) -> Path:
    """One machine's results file in asv's format version 2.

    ``benches``: {name: (param_names, params, {combo: (median, q25, q75)})}, params as lists of
    Python values; combos missing from the dict are written as None (a failed row).
    """
    machine = root / "box"
    machine.mkdir(parents=True)
    specs, results = {}, {}
    for name, (names, params, values) in benches.items():
        quoted = [[repr(v) for v in p] for p in params]
        specs[name] = {"param_names": names, "params": quoted}
        triples = [values.get(c, (None, None, None)) for c in itertools.product(*params)]
        record = {"result": [t[0] for t in triples], "params": quoted}
        record["stats_q_25"] = [t[1] for t in triples]
        record["stats_q_75"] = [t[2] for t in triples]
        results[name] = [record[c] for c in columns]
    (root / "benchmarks.json").write_text(json.dumps({**specs, "version": 2}))
    path = machine / "abc123-env.json"
    path.write_text(
        json.dumps(
            {
                "commit_hash": "abc123def",
                "date": 1,
                "result_columns": columns,
                "results": results,
                "version": 2,
            }
        )
    )
    return path


def _targets(root: Path, path: Path) -> dict[str, perf_table.Target]:
    rows = perf_table.target_rows(
        perf_table.load_results(path),
        perf_table.load_quartiles(path),
        perf_table._param_names(root / "benchmarks.json"),
    )
    return {row.what: row for row in rows}


def _find(targets: dict, start: str) -> perf_table.Target:
    (row,) = [row for what, row in targets.items() if what.startswith(start)]
    return row


CONV_PARAMS = ["shape", "pass"], [["a", "b", "c"], ["forward", "grad_input", "grad_weight"]]
# (median, q25, q75) in seconds. numbaconv, shape a: 1 + 1 + 2 = 4 s (low 0.5 + 0.5 + 1 = 2,
# high 1.5 + 1.5 + 3 = 6); shape b: 2 + 3 + 3 = 8 s (low 5, high 11); shape c has no peer.
CONV_OURS = {
    ("a", "forward"): (1.0, 0.5, 1.5),
    ("a", "grad_input"): (1.0, 0.5, 1.5),
    ("a", "grad_weight"): (2.0, 1.0, 3.0),
    ("b", "forward"): (2.0, 1.0, 3.0),
    ("b", "grad_input"): (3.0, 2.0, 4.0),
    ("b", "grad_weight"): (3.0, 2.0, 4.0),
    ("c", "forward"): (1.0, 0.5, 1.5),
    ("c", "grad_input"): (1.0, 0.5, 1.5),
    ("c", "grad_weight"): (1.0, 0.5, 1.5),
}
# torch, shape a: 2 + 3 + 3 = 8 s (low 5, high 11); shape b: 1 + 0.5 + 0.5 = 2 s (low 1, high 3).
CONV_TORCH = {
    ("a", "forward"): (2.0, 1.0, 3.0),
    ("a", "grad_input"): (3.0, 2.0, 4.0),
    ("a", "grad_weight"): (3.0, 2.0, 4.0),
    ("b", "forward"): (1.0, 0.5, 1.5),
    ("b", "grad_input"): (0.5, 0.25, 0.75),
    ("b", "grad_weight"): (0.5, 0.25, 0.75),
}


def _full_run() -> dict:
    kernels_and_more = (
        ["impl", "size", "kernel", "mode", "boundary"],
        [
            ["numbaconv", "scipy"],
            [512, 1024],
            [3, 5, 7],
            ["same", "valid"],
            ["fill"],
        ],
    )
    correlate = {}
    for size, kernel, mode in itertools.product([512, 1024], [3, 5, 7], ["same", "valid"]):
        correlate[("numbaconv", size, kernel, mode, "fill")] = (1.0, 0.5, 2.0)
        # Smaller ratios at size 512 and kernel 7 must not count; (1024, 5, valid) is the minimum.
        scipy = 1.0 if size == 512 else 2.0 if kernel == 7 else 10.0
        scipy = 6.0 if (size, kernel, mode) == (1024, 5, "valid") else scipy
        correlate[("scipy", size, kernel, mode, "fill")] = (scipy, scipy - 1, scipy + 1)
    train = ["impl", "model"], [["numbaconv", "torch"], ["3v7"]]
    return {
        "bench_conv.Conv2dCPU.time_conv2d": (*CONV_PARAMS, CONV_OURS),
        "bench_conv.Conv2dTorchCPU.time_conv2d": (*CONV_PARAMS, CONV_TORCH),
        "bench_conv.Conv2dCPU.track_gflops": (
            ["shape", "pass"],
            [["a", "f"], ["forward"]],
            {("a", "forward"): (50.0, None, None), ("f", "forward"): (120.0, None, None)},
        ),
        "bench_correlate.Correlate2d.time_correlate2d": (*kernels_and_more, correlate),
        "bench_train.TrainStep.time_train_step": (
            *train,
            {("numbaconv", "3v7"): (2.0, 1.0, 4.0), ("torch", "3v7"): (1.0, 0.5, 2.0)},
        ),
        "bench_train.TrainEpoch.time_train_epoch": (
            *train,
            {("numbaconv", "3v7"): (4.0, 3.0, 5.0), ("torch", "3v7"): (1.0, 0.9, 1.1)},
        ),
        "bench_coldstart.timeraw_first_conv2d_warm_cache": ([], [], {(): (2.5, 2.4, 2.6)}),
        "bench_coldstart.timeraw_import": ([], [], {(): (0.3, 0.29, 0.31)}),
    }


def test_ratio_range_is_peer_q25_over_ours_q75_to_peer_q75_over_ours_q25(tmp_path):
    benches = {
        "bench_conv.Conv2dCPU.time_conv2d": (["shape"], [["a"]], {("a",): (2.0, 1.6, 2.5)}),
        "bench_conv.Conv2dTorchCPU.time_conv2d": (["shape"], [["a"]], {("a",): (1.0, 0.8, 1.2)}),
    }
    path = _write_run(tmp_path, benches)
    (row,) = perf_table.ratio_rows(
        perf_table.load_results(path),
        perf_table._param_names(tmp_path / "benchmarks.json"),
        perf_table.load_quartiles(path),
    )
    assert (row.ours_q, row.peer_q) == ((1.6, 2.5), (0.8, 1.2))
    assert row.ratio == pytest.approx(0.5)
    assert row.ratio_range == pytest.approx((0.8 / 2.5, 1.2 / 1.6))  # (0.32, 0.75)
    text = perf_table.tables(tmp_path)
    assert "| 2 s (1.6\u20132.5) | 1 s (0.8\u20131.2) | 0.50 (0.32\u20130.75) |" in text
    assert perf_table.RANGE_NOTE in text


def test_conv_targets_sum_the_passes_then_take_geometric_mean_and_minimum(tmp_path):
    targets = _targets(tmp_path, _write_run(tmp_path, _full_run()))
    shape_a = _find(targets, "conv2d shape a:")
    shape_b = _find(targets, "conv2d shape b:")
    assert not [what for what in targets if what.startswith("conv2d shape c")]
    # a: torch 8 s / numbaconv 4 s = 2, range 5 / 6 .. 11 / 2
    assert shape_a.measured.value == pytest.approx(2.0)
    assert shape_a.measured.spread == pytest.approx((5 / 6, 5.5))
    # b: 2 s / 8 s = 0.25, range 1 / 11 .. 3 / 5
    assert shape_b.measured.value == pytest.approx(0.25)
    assert shape_b.measured.spread == pytest.approx((1 / 11, 0.6))
    assert shape_a.met is None and shape_b.met is None  # information rows

    geomean = _find(targets, "conv2d geometric mean over shapes a, b")
    assert geomean.measured.value == pytest.approx(0.5**0.5)  # sqrt(2 * 0.25) = 0.707 >= 0.7
    assert geomean.measured.spread == pytest.approx(((5 / 6 / 11) ** 0.5, (5.5 * 0.6) ** 0.5))
    assert geomean.met is True
    minimum = _find(targets, "conv2d minimum over shapes a, b (shape b)")
    assert minimum.measured.value == pytest.approx(0.25)
    assert minimum.measured.spread == pytest.approx((1 / 11, 0.6))
    assert minimum.met is False  # 0.25 < 0.33

    gflops = _find(targets, "conv2d shape f forward")
    assert gflops.measured.value == 120.0 and gflops.met is True
    assert gflops.markdown() == (
        "| conv2d shape f forward, numbaconv GFLOP/s | 120 GFLOP/s | >= 100 GFLOP/s | yes |"
    )


def test_correlate_training_and_cold_start_targets(tmp_path):
    targets = _targets(tmp_path, _write_run(tmp_path, _full_run()))
    # size 1024, kernels 3 and 5, modes same and valid: 4 rows; (5, valid) is 6 s / 1 s.
    correlate = _find(
        targets, "correlate2d 1024², kernels 3 and 5: scipy / numbaconv, minimum over 4 rows"
    )
    assert "(kernel=5, mode=valid, boundary=fill)" in correlate.what
    assert correlate.measured.value == pytest.approx(6.0)
    # lows: 5 / 2 = 2.5 for (5, valid), 9 / 2 otherwise; highs: 7 / 0.5 = 14, 11 / 0.5 = 22
    assert correlate.measured.spread == pytest.approx((2.5, 14.0))
    assert correlate.met is True

    step = _find(targets, "training step, model 3v7")
    assert step.measured.value == pytest.approx(0.5) and step.met is True  # 1 s / 2 s
    assert step.measured.spread == pytest.approx((0.5 / 4.0, 2.0 / 1.0))
    epoch = _find(targets, "training epoch, model 3v7")
    assert epoch.measured.value == pytest.approx(0.25) and epoch.met is False  # 1 s / 4 s

    warm = _find(targets, "import + first conv2d, warm cache")
    assert warm.measured.value == 2.5 and warm.met is False  # not < 2 s
    assert warm.markdown().endswith("| 2.5 s (2.4\u20132.6) | < 2 s | no |")
    assert _find(targets, "import numbaconv").markdown() == (
        "| import numbaconv | 300 ms (290\u2013310) | — | — |"
    )
    empty = _find(targets, "import + first conv2d, empty cache")
    assert empty.measured is None
    assert empty.markdown() == "| import + first conv2d, empty cache | not measured | — | — |"


def test_targets_whose_benchmarks_are_missing_read_not_measured(tmp_path):
    # Only an unrelated benchmark, and a training step whose torch rows failed (None).
    benches = {
        "bench_norm.BatchNormCPU.time_batch_norm": (
            ["pass"],
            [["forward"]],
            {("forward",): (1.0, 1.0, 1.0)},
        ),
        "bench_train.TrainStep.time_train_step": (
            ["impl", "model"],
            [["numbaconv", "torch"], ["3v7"]],
            {("numbaconv", "3v7"): (2.0, 1.0, 4.0)},
        ),
    }
    _write_run(tmp_path, benches)
    text = perf_table.tables(tmp_path)
    assert "No peer pairs were measured in this run." in text
    assert "**Targets (issue 6)**, box" in text
    targets = _targets(tmp_path, tmp_path / "box" / "abc123-env.json")
    assert all(row.measured is None and row.met is None for row in targets.values())
    assert len(targets) == 9  # geomean, min, GFLOP/s, correlate, step, epoch, 3 cold start
    target_lines = text.split("**Targets (issue 6)**")[1].splitlines()
    rows = [line for line in target_lines if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(targets)
    assert all("| not measured |" in line and line.endswith("| — |") for line in rows)


def test_old_files_without_stats_columns_give_medians_without_ranges(tmp_path):
    path = _write_run(tmp_path, _full_run(), columns=["result", "params"])
    assert all(not combos for combos in perf_table.load_quartiles(path).values())
    targets = _targets(tmp_path, path)
    geomean = _find(targets, "conv2d geometric mean")
    assert geomean.measured.value == pytest.approx(0.5**0.5) and geomean.measured.spread is None
    assert geomean.markdown().endswith("| 0.71 | >= 0.7 | yes |")
    text = perf_table.tables(tmp_path)
    assert "| 4 s | 8 s | 2.00 |" not in text  # conv rows are per pass, not summed
    assert "| 1 s | 2 s | 2.00 |" in text  # shape a forward: torch 2 s / numbaconv 1 s
    assert "\u2013" not in text.split("**Targets")[0]
    assert perf_table.RANGE_NOTE not in text
