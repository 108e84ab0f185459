"""The ``numbaconv`` command line: the chapter-13 ``edges`` demo and argument errors."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from PIL import Image
from scipy.signal import correlate2d

from numbaconv.cli import EDGE_KERNELS, ascii_ink, ascii_signed, edge_kernels, main
from numbaconv.datasets import mnist_sample

# Chapter 13 §1.3, typed in by hand from the book rather than taken from numbaconv.cli.
BOOK_KERNELS = {
    "left_edge": [[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]],
    "top_edge": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "diag1_edge": [[0, -1, 1], [-1, 1, 0], [1, 0, 0]],
    "diag2_edge": [[1, -1, 0], [0, 1, -1], [0, 0, 1]],
}
MAP_LINE = re.compile(
    r"^(\w+) \(26x26\): min ([-+]\d+\.\d+)  max ([-+]\d+\.\d+)$", flags=re.MULTILINE
)


def _threes() -> np.ndarray:
    images, labels = mnist_sample("train")
    return images[labels == 0]


def _reference_maps(index: int) -> dict[str, np.ndarray]:
    """The four maps computed with SciPy in float64 on the same [0, 1] float32 digit."""
    digit = (_threes()[index].astype(np.float32) / np.float32(255.0)).astype(np.float64)
    return {
        name: correlate2d(digit, np.array(kernel, dtype=np.float64), mode="valid")
        for name, kernel in BOOK_KERNELS.items()
    }


def test_edge_kernels_are_the_books():
    weight = edge_kernels()
    assert weight.shape == (4, 1, 3, 3)
    assert weight.dtype == np.float32
    assert list(EDGE_KERNELS) == list(BOOK_KERNELS)
    np.testing.assert_array_equal(weight[:, 0], np.array(list(BOOK_KERNELS.values())))


@pytest.mark.parametrize("index", [0, 17, 399])
def test_edges_report_matches_scipy(capsys, index):
    argv = ["edges"] if index == 0 else ["edges", "--index", str(index)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "conv2d: (1, 1, 28, 28) -> (1, 4, 26, 26)" in out.splitlines()
    assert f"'3' number {index} of 400" in out

    reference = _reference_maps(index)
    found = MAP_LINE.findall(out)
    assert [name for name, _, _ in found] == list(BOOK_KERNELS)
    for name, low, high in found:
        # Printed with 6 decimals from a float32 result: rounding plus float32 error.
        assert abs(float(low) - reference[name].min()) <= 2e-6
        assert abs(float(high) - reference[name].max()) <= 2e-6


def test_edges_report_draws_the_digit_and_maps(capsys):
    assert main(["edges", "--index", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("input digit (28x28), darker = more ink:") + 1
    digit_rows = lines[start : start + 28]
    digit = _threes()[3]
    for row_text, pixels in zip(digit_rows, digit, strict=True):
        assert len(row_text) == 56
        cells = row_text[::2]
        assert cells == row_text[1::2]
        for cell, pixel in zip(cells, pixels, strict=True):
            if pixel == 0:
                assert cell == " "
            if pixel == 255:
                assert cell == "@"
    reference = _reference_maps(3)
    for name, feature_map in reference.items():
        header = next(i for i, line in enumerate(lines) if line.startswith(f"{name} (26x26)"))
        rows = lines[header + 1 : header + 27]
        assert all(len(row) == 52 for row in rows)
        strongest = np.unravel_index(np.argmax(np.abs(feature_map)), feature_map.shape)
        expected = "#" if feature_map[strongest] > 0 else "="
        assert rows[strongest[0]][2 * strongest[1]] == expected


def test_ascii_signed_hand_computed():
    feature_map = np.array([[-1.0, -0.4, 0.0], [0.2, 0.5, 1.0]])
    # Scaled by max |value| = 1 to levels -2 -1 0 0 1 2 (rint of 2 * value).
    assert ascii_signed(feature_map) == ["==--  ", "  ++##"]
    assert ascii_signed(2 * feature_map) == ascii_signed(feature_map)
    assert ascii_signed(np.zeros((2, 2))) == ["    ", "    "]


def test_ascii_ink_hand_computed():
    image = np.array([[0.0, 1 / 9, 0.5, 1.0]])
    assert ascii_ink(image) == ["  ..==@@"]


def test_edges_output_is_identical_across_thread_counts(capsys):
    previous = numba.get_num_threads()
    outputs = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            main(["edges", "--index", "5"])
            outputs.append(capsys.readouterr().out)
    finally:
        numba.set_num_threads(previous)
    assert outputs[0] == outputs[1]


def test_edges_output_writes_a_png(tmp_path, capsys):
    path = tmp_path / "edges.png"
    assert main(["edges", "--index", "2", "--output", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    with Image.open(path) as figure:
        assert figure.format == "PNG"
        pixels = np.asarray(figure.convert("L"))
    # The first panel is the digit, 6x nearest-neighbour, ink black on white (255 - pixel).
    digit = _threes()[2].astype(np.int64)
    panel = pixels[22 : 22 + 168 : 6, 8 : 8 + 168 : 6].astype(np.int64)
    assert np.abs(panel - (255 - digit)).max() <= 1
    # Each feature-map panel spans its whole range: its min is white and its max black.
    for position in range(1, 5):
        left = 8 + position * (168 + 8) + 6
        feature_panel = pixels[28 : 28 + 156, left : left + 156]
        assert feature_panel.min() == 0
        assert feature_panel.max() == 255


def test_edges_output_to_an_unwritable_path(tmp_path, capsys):
    path = tmp_path / "missing-dir" / "edges.png"
    with pytest.raises(SystemExit) as info:
        main(["edges", "--output", str(path)])
    assert info.value.code == 2
    assert "--output" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["400", "100000", "-1", "three", "1.5"])
def test_bad_index_is_an_argparse_error(capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["edges", "--index", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --index" in err
    assert value in err


def test_missing_subcommand_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
