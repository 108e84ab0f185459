"""Ratio tables, the targets, a figure and the README's speed table from asv results.

The ratio is a peer's time divided by numbaconv's, measured in one run (one results file):
above 1 means numbaconv was faster. For each machine, the newest results file (or the given
commit's) gives:

1. **Targets**: one row per target (what, peer, the measured ratio with its range, the goal,
   met), from ``perf_targets``.
2. **All ratios**: one row per numbaconv measurement that has a peer, each time the median with
   its quartiles, ``71.6 µs (70.1–73.2)``, and the ratio of the medians with its range,
   ``0.94 (0.88–1.01)``, from ``peer q25 / numbaconv q75`` to ``peer q75 / numbaconv q25``.

Usage::

    python scripts/perf_table.py [--results-dir .asv/results] [--machine NAME] [--commit HASH]
    python scripts/perf_table.py --results-dir benchmarks/published --plot docs/_static/speed.png
    python scripts/perf_table.py --results-dir benchmarks/published --readme

asv writes its results to ``.asv/results`` (git-ignored, the default here); the run the docs show
is a copy kept in git under ``benchmarks/published``. It exits with status 1 when there are no
results to read. Skipped or failed rows (no PyTorch, no GPU) are left out and a target whose
benchmarks are missing reads "not measured"; nothing is estimated or filled in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import perf_targets
from perf_results import (  # noqa: F401  (re-exported: the docs and tests use them from here)
    RANGE_NOTE,
    Row,
    Run,
    _param_names,
    load_quartiles,
    load_results,
    markdown_table,
    ratio_rows,
    ratio_with_range,
    runs,
)

README_START = "<!-- speed table: written by `python scripts/perf_table.py --readme` -->"
README_END = "<!-- end of speed table -->"
TORCH = perf_targets.TORCH

# The README's headline rows: (what, peer, pairings whose cells are pooled).
HEADLINES = [
    (
        "conv2d forward, the chapter's six layer shapes",
        TORCH,
        [
            perf_targets.Pairing(
                perf_targets.CONV_OURS,
                perf_targets.CONV_TORCH,
                {"pass": "forward"},
                {"pass": "forward"},
                ("shape",),
            )
        ],
    ),
    *[
        (
            f"training step, {label}",
            TORCH,
            [
                perf_targets.Pairing(
                    perf_targets.TRAIN_STEP,
                    perf_targets.TRAIN_STEP,
                    {"impl": "numbaconv", "model": model},
                    {"impl": "torch", "model": model},
                )
            ],
        )
        for label, model in (
            ("10-class batch-norm CNN, bs 512", "10bn"),
            ("3-vs-7 CNN, bs 64", "3v7"),
        )
    ],
    (
        "correlate2d 1024² float64, k 3 and 5, every mode and boundary",
        "scipy.signal",
        [
            perf_targets.Pairing(
                perf_targets.CORRELATE64,
                perf_targets.CORRELATE64,
                {"impl": "numbaconv", "size": "1024"},
                {"impl": "scipy", "size": "1024"},
                ("kernel", "mode", "boundary"),
            )
        ],
    ),
    (
        "correlate2d 'same' 2048² float32, k 3, 5 and 25",
        "OpenCV filter2D",
        [
            perf_targets.Pairing(
                perf_targets.CORRELATE32,
                perf_targets.CORRELATE32,
                {"impl": "numbaconv"},
                {"impl": "opencv"},
                ("kernel", "boundary"),
            )
        ],
    ),
    (
        "max_pool2d 2x2, forward and forward + backward",
        TORCH,
        [
            perf_targets.Pairing(
                perf_targets.POOL_OURS,
                perf_targets.POOL_TORCH,
                {"target": target},
                {"target": target},
                ("shape",),
            )
            for target in ("max_pool2d_2x2_forward", "max_pool2d_2x2_forward_backward")
        ],
    ),
]


def _headline_cell(run: Run, pairings) -> str:
    ratios = [m.value for p in pairings for _, m in p.ratios(run)]
    if not ratios:
        return "not measured"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{min(ratios):.2f} to {max(ratios):.2f}"


def readme_section(run: Run) -> str:
    """The README's speed table for ``run``, between its markers."""
    lines = [
        README_START,
        "",
        f"Measured with asv on {run.cpu} ({run.num_cpu} threads), {run.date}, commit "
        f"`{run.commit}`: a peer's median time over numbaconv's on the same inputs, so above 1 "
        "means numbaconv is faster; where a row covers several cases it gives the lowest and "
        "the highest.",
        "",
        "| what | peer | peer time / numbaconv time |",
        "|---|---|---:|",
    ]
    lines += [
        f"| {what} | {peer} | {_headline_cell(run, pairings)} |"
        for what, peer, pairings in HEADLINES
    ]
    return "\n".join([*lines, "", README_END])


def readme_table_in(readme_text: str) -> str | None:
    """The speed section currently in a README's text, markers included, or None."""
    start, end = readme_text.find(README_START), readme_text.find(README_END)
    if start < 0 or end < start:
        return None
    return readme_text[start : end + len(README_END)]


def tables(results_dir: Path, machine: str | None = None, commit: str | None = None) -> str:
    """The targets table and every ratio row of each machine's run, as Markdown; "" if none."""
    parts = []
    for run in runs(results_dir, machine, commit):
        rows = ratio_rows(run.results, run.param_names, run.quartiles)
        title = f"**{run.machine}** ({run.cpu}, {run.num_cpu} threads), commit `{run.commit}`"
        body = markdown_table(rows) if rows else "No peer pairs were measured in this run."
        targets = perf_targets.targets_table(run)
        parts.append(f"{title}\n\n**Targets**\n\n{targets}\n\n**All ratios**\n\n{body}\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=".asv/results", type=Path)
    parser.add_argument("--machine", default=None, help="one machine (default: all)")
    parser.add_argument("--commit", default=None, help="a commit hash prefix (default: newest)")
    parser.add_argument("--plot", type=Path, help="draw the figure of the run into this file")
    parser.add_argument("--readme", action="store_true", help="print the README's speed table")
    args = parser.parse_args(argv)
    found = runs(args.results_dir, args.machine, args.commit)
    if not found:
        print(f"no asv results under {args.results_dir} (run `asv run` first)", file=sys.stderr)
        return 1
    if args.plot or args.readme:
        if len(found) > 1:
            names = ", ".join(run.machine for run in found)
            print(
                f"results of several machines ({names}): pick one with --machine", file=sys.stderr
            )
            return 1
        if args.plot:
            import perf_plot

            print(perf_plot.draw(found[0], args.plot))
        if args.readme:
            print(readme_section(found[0]))
        return 0
    print(tables(args.results_dir, args.machine, args.commit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
