"""scripts/perf_table.py turns asv results into peer/numbaconv ratios."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import perf_plot
import perf_results
import perf_table
import perf_targets


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
    assert "| scipy.signal |" in text and "| PyTorch |" in text  # peers in readers' names
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


def _run(root: Path, benches: dict, columns=STATS_COLUMNS) -> perf_results.Run:
    path = _write_run(root, benches, columns)
    return perf_results.Run.load(path, root / "benchmarks.json", "box")


def _targets(run: perf_results.Run) -> dict[str, perf_targets.Target]:
    return {row.what: row for row in perf_targets.target_rows(run)}


def _find(targets: dict, start: str) -> perf_targets.Target:
    (row,) = [row for what, row in targets.items() if what.startswith(start)]
    return row


CONV_PARAMS = ["shape", "pass"], [["a", "b", "c"], ["forward", "grad_input", "grad_weight"]]
# (median, q25, q75) seconds; shape c has no torch row, so it cannot count.
CONV_OURS = {
    ("a", "forward"): (1.0, 0.5, 1.5),
    ("a", "grad_input"): (1.0, 0.5, 1.5),
    ("a", "grad_weight"): (2.0, 1.0, 3.0),
    ("b", "forward"): (2.0, 1.0, 3.0),
    ("b", "grad_input"): (3.0, 2.0, 4.0),
    ("b", "grad_weight"): (3.0, 2.0, 4.0),
    ("c", "forward"): (100.0, 50.0, 150.0),
}
CONV_TORCH = {
    ("a", "forward"): (2.0, 1.0, 3.0),  # 2.0
    ("a", "grad_input"): (3.0, 2.0, 4.0),  # 3.0
    ("a", "grad_weight"): (3.0, 2.0, 4.0),  # 1.5
    ("b", "forward"): (1.0, 0.5, 1.5),  # 0.5: the lowest forward
    ("b", "grad_input"): (6.0, 5.0, 7.0),  # 2.0
    ("b", "grad_weight"): (0.3, 0.2, 0.4),  # 0.1: the lowest grad_weight
}


FWD_BWD = "max_pool2d_2x2_forward_backward"


def _full_run() -> dict:
    pool_params = ["shape", "target"], [["s1", "s2"], ["max_pool2d_2x2_forward", FWD_BWD]]
    pool_ours = {
        ("s1", "max_pool2d_2x2_forward"): (1.0, 1.0, 1.0),
        ("s2", "max_pool2d_2x2_forward"): (1.0, 1.0, 1.0),
        ("s1", FWD_BWD): (1.0, 1.0, 1.0),
        ("s2", FWD_BWD): (2.0, 2.0, 2.0),
    }
    pool_torch = {  # forward: 6 and 8 (met, >= 5); forward+backward: 9 and 4.5 (not met)
        ("s1", "max_pool2d_2x2_forward"): (6.0, 6.0, 6.0),
        ("s2", "max_pool2d_2x2_forward"): (8.0, 8.0, 8.0),
        ("s1", FWD_BWD): (9.0, 9.0, 9.0),
        ("s2", FWD_BWD): (9.0, 9.0, 9.0),
    }
    corr_params = (
        ["impl", "kernel", "boundary"],
        [["numbaconv", "opencv", "ndimage"], [3, 25], ["fill", "symm", "wrap"]],
    )
    corr = {}
    for kernel, boundary in itertools.product([3, 25], ["fill", "symm", "wrap"]):
        corr[("numbaconv", kernel, boundary)] = (1.0, 1.0, 1.0)
        # OpenCV is faster only at (25, symm); it has no wrap, which must not count anyway.
        opencv = 0.5 if (kernel, boundary) == (25, "symm") else 2.0
        corr[("opencv", kernel, boundary)] = (opencv, opencv, opencv)
        corr[("ndimage", kernel, boundary)] = (12.0, 12.0, 12.0)
    train = ["impl", "model"], [["numbaconv", "torch"], ["3v7", "10bn"]]
    dask = ["where"], [["cluster", "in_process"]]
    return {
        perf_targets.CONV_OURS: (*CONV_PARAMS, CONV_OURS),
        perf_targets.CONV_TORCH: (*CONV_PARAMS, CONV_TORCH),
        perf_targets.CONV_GFLOPS: (
            ["shape", "pass"],
            [["a", "f"], ["forward"]],
            {("a", "forward"): (50.0, None, None), ("f", "forward"): (300.0, None, None)},
        ),
        perf_targets.SGEMM_GFLOPS: ([], [], {(): (400.0, None, None)}),
        perf_targets.POOL_OURS: (*pool_params, pool_ours),
        perf_targets.POOL_TORCH: (*pool_params, pool_torch),
        perf_targets.CORRELATE32: (*corr_params, corr),
        perf_targets.TRAIN_STEP: (
            *train,
            {
                ("numbaconv", "3v7"): (1.0, 0.5, 2.0),
                ("torch", "3v7"): (2.5, 2.0, 3.0),
                ("numbaconv", "10bn"): (1.0, 1.0, 1.0),
                ("torch", "10bn"): (1.2, 1.2, 1.2),
            },
        ),
        perf_targets.DASK_PREDICT: (
            *dask,
            {("cluster",): (3.0, 3.0, 3.0), ("in_process",): (2.5, 2.5, 2.5)},
        ),
        perf_targets.PEAK_MEMORY: ([], [], {(): (300e6, 300e6, 300e6)}),
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


def test_conv_targets_take_the_lowest_shape_per_pass(tmp_path):
    targets = _targets(_run(tmp_path, _full_run()))
    forward = _find(targets, "conv2d forward")
    assert forward.measured.value == pytest.approx(0.5) and forward.where == "lowest: b"
    # range of the minimum: min of the lows (0.5 / 3 for b), min of the highs (1.5 / 1 for b)
    assert forward.measured.spread == pytest.approx((0.5 / 3.0, 1.5))
    assert forward.met is False
    assert _find(targets, "conv2d grad_input").met is True  # 3.0 and 2.0
    grad_weight = _find(targets, "conv2d grad_weight")
    assert grad_weight.measured.value == pytest.approx(0.1) and grad_weight.met is False
    share = _find(targets, "conv2d shape f forward GFLOP/s")
    assert share.measured.value == pytest.approx(0.75) and share.met is False  # 300 / 400
    assert forward.markdown().startswith("| conv2d forward, chapter shapes a")
    assert forward.markdown().endswith("(lowest: b) | >= 1 | **no** |")


def test_pool_training_correlate_dask_and_memory_targets(tmp_path):
    targets = _targets(_run(tmp_path, _full_run()))
    assert targets["max_pool2d 2x2 forward"].met is True  # 6 and 8
    both = _find(targets, "max_pool2d 2x2 forward + backward")
    assert both.measured.value == pytest.approx(4.5) and both.met is False
    assert _find(targets, "adaptive_avg_pool2d").measured is None  # not in this run
    assert _find(targets, "training step, 3-vs-7").measured.value == pytest.approx(2.5)
    assert _find(targets, "training step, 3-vs-7").met is True  # >= 2.0
    assert _find(targets, "training step, 10-class").met is False  # 1.2 < 1.3
    opencv = _find(targets, "correlate2d 'same' 2048²")
    assert opencv.measured.value == pytest.approx(0.5) and opencv.met is False
    assert opencv.where == "lowest: kernel 25, boundary symm"
    ndimage = _find(targets, "correlate2d, the same cells plus wrap")
    assert ndimage.measured.value == pytest.approx(12.0) and ndimage.met is True
    dask = _find(targets, "Dask: predict")
    assert dask.measured.value == pytest.approx(1.2) and dask.met is True  # 3 / 2.5 <= 1.5
    assert _find(targets, "Dask: 8192²").measured is None
    memory = _find(targets, "peak memory")
    assert memory.markdown() == (
        "| peak memory, conv2d shape f forward + backward | — | 300 MB | < 424 MB | yes |"
    )


def test_targets_whose_benchmarks_are_missing_read_not_measured(tmp_path):
    benches = {
        "bench_train.TrainStep.time_train_step": (
            ["impl", "model"],
            [["numbaconv", "torch"], ["3v7"]],
            {("numbaconv", "3v7"): (2.0, 1.0, 4.0)},  # torch's row failed (None)
        ),
    }
    run = _run(tmp_path, benches)
    targets = perf_targets.target_rows(run)
    assert all(row.measured is None and row.met is None for row in targets)
    table = perf_targets.targets_table(run)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == len(targets) + 1  # the header
    assert all("| not measured |" in line and line.endswith("| — |") for line in rows[1:])
    assert "No peer pairs were measured in this run." in perf_table.tables(tmp_path)


def test_old_files_without_stats_columns_give_medians_without_ranges(tmp_path):
    run = _run(tmp_path, _full_run(), columns=["result", "params"])
    assert all(not combos for combos in run.quartiles.values())
    forward = _find(_targets(run), "conv2d forward")
    assert forward.measured.value == pytest.approx(0.5) and forward.measured.spread is None
    text = perf_table.tables(tmp_path)
    assert "| 1 s | 2 s | 2.00 |" in text  # shape a forward: torch 2 s / numbaconv 1 s
    assert perf_table.RANGE_NOTE not in text


def test_plot_bars_take_the_fastest_peer_and_draw_a_png(tmp_path):
    run = _run(tmp_path, _full_run())
    bars = {(b.group, b.label): b for b in perf_plot.bars(run)}
    k25_symm = bars[("correlate2d", "2048² 'same', k 25, symm")]
    assert (k25_symm.ratio, k25_symm.peer) == (pytest.approx(0.5), "opencv")
    k3_fill = bars[("correlate2d", "2048² 'same', k 3, fill")]
    assert (k3_fill.ratio, k3_fill.peer) == (pytest.approx(2.0), "opencv")  # not ndimage's 12
    assert bars[("conv2d", "forward, shape b")].ratio == pytest.approx(0.5)
    groups = [b.group for b in perf_plot.bars(run)]
    assert groups == sorted(groups, key=perf_plot.GROUPS.index)  # grouped, in GROUPS order
    path = perf_plot.draw(run, tmp_path / "speed.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert perf_table.main(["--results-dir", str(tmp_path), "--plot", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").stat().st_size > 10_000


def test_readme_section_covers_the_headlines(tmp_path):
    run = _run(tmp_path, _full_run())
    section = perf_table.readme_section(run)
    assert section.startswith(perf_table.README_START) and section.endswith(perf_table.README_END)
    assert "| conv2d forward, the chapter's six layer shapes | PyTorch | 0.50 to 2.00 |" in section
    assert "| training step, 3-vs-7 CNN, bs 64 | PyTorch | 2.50 |" in section
    assert (
        "| correlate2d 'same' 2048² float32, k 3, 5 and 25 | OpenCV filter2D | 0.50 to 2.00 |"
        in section
    )
    assert "| max_pool2d 2x2, forward and forward + backward | PyTorch | 4.50 to 9.00 |" in section


def test_the_readme_speed_table_is_what_the_published_run_gives():
    root = Path(__file__).resolve().parents[1]
    (run,) = perf_results.runs(root / "benchmarks" / "published")
    in_readme = perf_table.readme_table_in((root / "README.md").read_text())
    assert in_readme is not None, "README.md has no speed table between the markers"
    assert in_readme == perf_table.readme_section(run), (
        "README.md's speed table is stale: paste the output of "
        "`python scripts/perf_table.py --results-dir benchmarks/published --readme`"
    )
