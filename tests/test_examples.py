"""examples/chapter13.py: the chapter's T1-T6 in a tiny (--quick) configuration, as users run it."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chapter13.py"

# Chapter 13 §2.4, final epoch of each table, typed in from the book: train_loss, valid_loss,
# accuracy.
BOOK = {
    "T1": ("0.022580", "0.030775", "0.990186"),
    "T2": ("2.307071", "2.305865", "0.113500"),
    "T3": ("2.309385", "2.302744", "0.113500"),
    "T4": ("0.210838", "0.084827", "0.974300"),
    "T5": ("0.130036", "0.055021", "0.986400"),
    "T6": ("0.017646", "0.025407", "0.991200"),
}
NUMBER = r"(\d+\.\d{6})"
RESULT_ROW = re.compile(
    rf"^(T\d)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+"
    rf"{NUMBER}\s+\d+\.\ds$",
    re.M,
)
STEPS_ROW = re.compile(
    r"^(T\d)\s+([\d,]+)\s+([\d,]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d,]+)\s+([\d,]+)$", re.M
)
EPOCH_ROW = re.compile(rf"^(\d+)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+\d\d:\d\d\s*$", re.M)


def run_example(*args, threads=1):
    # One Numba thread keeps the shared test machine responsive; results do not depend on it
    # (test_quick_run_is_identical_across_thread_counts).
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": str(threads)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    plots = tmp_path_factory.mktemp("figures")
    return run_example("--quick", "--plots", plots), plots


def test_quick_run_prints_ours_beside_the_books(quick_run):
    out, _ = quick_run
    rows = RESULT_ROW.findall(out)
    assert [row[0] for row in rows] == list(BOOK)
    for key, ours_train, book_train, ours_valid, book_valid, ours_acc, book_acc in rows:
        assert (book_train, book_valid, book_acc) == BOOK[key]
        assert float(ours_train) > 0 and float(ours_valid) > 0
        assert 0.0 <= float(ours_acc) <= 1.0


def test_table_repeats_each_fits_last_epoch(quick_run):
    out, _ = quick_run
    # Each experiment prints fastai's epoch table; the summary row must be its last line.
    sections = re.split(r"^(T\d): ", out, flags=re.M)[1:]
    finals = {row[0]: (row[1], row[3], row[5]) for row in RESULT_ROW.findall(out)}
    for key, body in zip(sections[::2], sections[1::2]):
        epochs = EPOCH_ROW.findall(body.split("Final epoch")[0])
        assert len(epochs) == 1  # --quick caps every fit at one epoch
        assert epochs[-1][1:] == finals[key]


def test_quick_steps_per_epoch_are_hand_computed(quick_run):
    out, _ = quick_run
    # --quick keeps 52 training images per class: 104 (3 vs 7) and 520 (10 digits); the last
    # partial batch is dropped, as fastai drops it.
    # Columns: images ours/book, bs, epochs ours/book (--quick: 1), steps ours/book.
    expected = {
        "T1": ("104", "12,396", "64", "1", "2", "1", "386"),
        "T2": ("520", "60,000", "64", "1", "1", "8", "937"),
        **{key: ("520", "60,000", "512", "1", "1", "1", "117") for key in ("T3", "T4", "T5")},
        "T6": ("520", "60,000", "512", "1", "5", "1", "585"),
    }
    assert {row[0]: row[1:] for row in STEPS_ROW.findall(out)} == expected
    assert "--quick: 52 training and 10 validation images per class" in out


def test_models_said_to_predict_one_class_score_one_over_the_classes(quick_run):
    out, _ = quick_run
    listed = re.search(r"give every validation image one class in this run: ([^.]+)\.", out)
    finals = {row[0]: float(row[5]) for row in RESULT_ROW.findall(out)}
    keys = [] if listed.group(1) == "none" else listed.group(1).split(", ")
    assert set(keys) <= set(finals)
    # The --quick validation split is balanced (10 images per class), so one class for every
    # image scores exactly 1/2 (3 vs 7) or 1/10 (10 digits).
    for key in keys:
        assert finals[key] == (0.5 if key == "T1" else 0.1)


def test_quick_run_saves_the_chapters_figures(quick_run):
    _, plots = quick_run
    # fastai's figure sizes at 100 dpi (chapter13.md §2.5).
    expected = {
        "t2_layer_stats_0.png": (1200, 300),
        "t2_layer_stats_-2.png": (1200, 300),
        "t3_layer_stats_-2.png": (1200, 300),
        "t4_sched.png": (1200, 400),
        "t4_layer_stats_-2.png": (1200, 300),
        "t4_color_dim_-2.png": (1000, 500),
        "t5_color_dim_-4.png": (1000, 500),
    }
    assert sorted(p.name for p in plots.iterdir()) == sorted(expected)
    for name, size in expected.items():
        with Image.open(plots / name) as figure:
            assert figure.size == size


def test_quick_run_is_identical_across_thread_counts():
    one = run_example("--quick", "--only", "T1", "T5", "--seed", "4", threads=1)
    two = run_example("--quick", "--only", "T1", "T5", "--seed", "4", threads=2)
    rows_one, rows_two = RESULT_ROW.findall(one), RESULT_ROW.findall(two)
    assert [row[0] for row in rows_one] == ["T1", "T5"]
    assert rows_one == rows_two
    assert EPOCH_ROW.findall(one) == EPOCH_ROW.findall(two)


def load_example():
    spec = importlib.util.spec_from_file_location("chapter13_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_epochs_make_the_books_steps():
    example = load_example()
    # The book's steps: 12,396 // 64 * 2 = 386 (T1); 60,000 // 64 = 937 (T2); 60,000 // 512 =
    # 117 (T3-T5) and 5 * 117 = 585 (T6).
    assert example.BOOK_STEPS == {"T1": 386, "T2": 937, "T3": 117, "T4": 117, "T5": 117, "T6": 585}
    # On the sample: 800 // 64 = 12 steps per epoch (T1), 4,000 // 64 = 62 (T2), 4,000 // 512 = 7.
    on_sample = {
        key: example.epochs_for(key, 800 if key == "T1" else 4000)
        for key in "T1 T2 T3 T4 T5 T6".split()
    }
    assert on_sample == {"T1": 33, "T2": 16, "T3": 17, "T4": 17, "T5": 17, "T6": 84}
    # On the book's own data the book's epochs come back; --book-epochs and --quick keep them.
    assert example.epochs_for("T1", 12_396) == 2 and example.epochs_for("T6", 60_000) == 5
    assert example.epochs_for("T6", 4000, book_epochs=True) == 5
    assert example.epochs_for("T6", 4000, quick=True) == 1


def test_data_runs_the_experiments_whose_model_fits(tmp_path):
    # 64 training images of two classes: T1 (3 vs 7) runs, the 10-class T2-T6 are skipped.
    rng = np.random.default_rng(0)
    for split, count in (("train", 32), ("valid", 5)):
        for name in ("three", "seven"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                    folder / f"{i}.png"
                )
    out = run_example("--data", tmp_path, "--book-epochs", "--only", "T1", "T4")
    assert "skipping T4: the data has 2 classes" in out
    assert [row[0] for row in RESULT_ROW.findall(out)] == ["T1"]
    assert {row[0]: row[1:] for row in STEPS_ROW.findall(out)} == {
        "T1": ("64", "12,396", "64", "2", "2", "2", "386")
    }
