"""Ratio tables and issue 6's targets from asv results, each measured in one run.

The machines we benchmark on are shared and noisy, so absolute times mean little across runs;
ratios taken from one run (one results file) are what we report. The ratio is the peer's time
divided by numbaconv's (the issue tracker's "PyTorch time / numbaconv time"): above 1 means
numbaconv was faster.

For each machine, the newest results file (or the given commit's) gives two Markdown tables:

1. **Ratios.** One row per numbaconv measurement that has a peer: numbaconv's time, the peer's
   time (each the median with its quartiles, ``71.6 µs (70.1–73.2)``) and the ratio of the
   medians with its range, ``0.94 (0.88–1.01)``, where the range runs from
   ``peer q25 / numbaconv q75`` to ``peer q75 / numbaconv q25``. Peers are found two ways:

   - a benchmark with an ``impl`` parameter (``"numbaconv"`` against ``"scipy"``, ...): each
     other parameter combination gives one row;
   - a pair of benchmark classes over the same parameters, listed in :data:`CLASS_PAIRS`
     (numbaconv on the CPU against PyTorch on the CPU, numbaconv's CUDA kernels against its CPU
     kernels).

2. **Targets (issue 6).** One row per target: what is measured, the value (with its range where
   it is a ratio of medians), the target and whether the median-based value meets it. conv2d
   per shape (PyTorch's forward + grad_input + grad_weight over numbaconv's), their geometric
   mean (>= 0.7) and minimum (>= 0.33); shape f's forward GFLOP/s (>= 100); correlate2d against
   SciPy at 1024x1024, kernels 3 and 5, the minimum over every mode and boundary (>= 4); a
   training step and epoch, PyTorch's time over numbaconv's per model (>= 0.5); import plus
   the first conv2d with a warm cache (< 2 s), with the import alone and the empty-cache
   first call as information rows.

Usage::

    python scripts/perf_table.py [--results-dir .asv/results] [--machine NAME] [--commit HASH]

asv writes its results to ``.asv/results`` (git-ignored, the default here); the run the docs show
is a copy kept in git under ``benchmarks/published`` (``--results-dir benchmarks/published``). It
exits with status 1 when there are no results to read. Skipped or failed rows (no PyTorch, no
GPU) are left out and a target whose benchmarks are missing reads "not measured"; nothing is
estimated or filled in. Files without asv's ``stats_q_25``/``stats_q_75`` columns give medians
without ranges.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# (ours, peer, peer label, fixed): two benchmarks over the same parameters; rows
# are matched on the parameters the two share (a parameter only ``ours`` has must equal the
# value given in ``fixed``).
CLASS_PAIRS = [
    (
        "bench_conv.Conv2dCPU.time_conv2d",
        "bench_conv.Conv2dTorchCPU.time_conv2d",
        "torch (CPU)",
        {},
    ),
    (
        "bench_pool.PoolCPU.time_pool",
        "bench_pool.PoolTorchCPU.time_pool",
        "torch (CPU)",
        {"pass": "forward"},
    ),
    ("bench_conv.Conv2dCUDA.time_conv2d", "bench_conv.Conv2dCPU.time_conv2d", "numbaconv CPU", {}),
]
OURS = "numbaconv"
DASH = "\u2013"  # en dash between a range's bounds; escaped because ruff (RUF001) flags it

CONV_OURS = "bench_conv.Conv2dCPU.time_conv2d"
CONV_TORCH = "bench_conv.Conv2dTorchCPU.time_conv2d"
CONV_GFLOPS = "bench_conv.Conv2dCPU.track_gflops"
CONV_PASSES = ("forward", "grad_input", "grad_weight")
CORRELATE = "bench_correlate.Correlate2d.time_correlate2d"
TRAINING = {
    "training step": "bench_train.TrainStep.time_train_step",
    "training epoch": "bench_train.TrainEpoch.time_train_epoch",
}
COLD_START = {
    "import + first conv2d, warm cache": "bench_coldstart.timeraw_first_conv2d_warm_cache",
    "import numbaconv": "bench_coldstart.timeraw_import",
    "import + first conv2d, empty cache": "bench_coldstart.timeraw_first_conv2d_empty_cache",
}

Quartiles = tuple[float, float]


def ratio_range(peer_q: Quartiles | None, ours_q: Quartiles | None) -> Quartiles | None:
    """Range of peer / ours from the quartiles: (peer q25 / ours q75, peer q75 / ours q25)."""
    if peer_q is None or ours_q is None:
        return None
    return peer_q[0] / ours_q[1], peer_q[1] / ours_q[0]


@dataclass
class Row:
    benchmark: str
    params: str
    peer: str
    ours_s: float
    peer_s: float
    ours_q: Quartiles | None = None  # (q25, q75) seconds when the file has asv's stats
    peer_q: Quartiles | None = None

    @property
    def ratio(self) -> float:
        """Peer time / numbaconv time: above 1, numbaconv was faster."""
        return self.peer_s / self.ours_s

    @property
    def ratio_range(self) -> Quartiles | None:
        return ratio_range(self.peer_q, self.ours_q)


@dataclass(frozen=True)
class Measure:
    """A median (or a value computed from medians) and, when known, its (low, high) range."""

    value: float
    spread: Quartiles | None = None

    def over(self, other: Measure) -> Measure:
        """self / other, the range from opposite quartiles."""
        return Measure(self.value / other.value, ratio_range(self.spread, other.spread))


def combine(reduce: Callable[[list[float]], float], measures: Sequence[Measure]) -> Measure:
    """``reduce`` (sum, min, geometric mean) of the values, and of the lows and of the highs.

    These reductions never decrease when an argument grows, so each range maps to a range.
    """
    spread = None
    if all(m.spread is not None for m in measures):
        spread = (reduce([m.spread[0] for m in measures]), reduce([m.spread[1] for m in measures]))
    return Measure(reduce([m.value for m in measures]), spread)


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def _column(entry, columns, column) -> dict[tuple, float]:
    """{parameter combination: value} of one results column; unusable values are left out."""
    record = dict(zip(columns, entry))
    values = record.get(column)
    params = record.get("params") or []
    if values is None:
        return {}
    if not isinstance(values, list):
        values = [values]
    combos = list(itertools.product(*[[_unquote(v) for v in p] for p in params])) or [()]
    out = {}
    for combo, value in zip(combos, values):
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            out[combo] = float(value)
    return out


def _load_columns(path: Path, column: str) -> dict[str, dict[tuple, float]]:
    data = json.loads(Path(path).read_text())
    columns = data.get("result_columns", ["result", "params"])
    return {name: _column(entry, columns, column) for name, entry in data["results"].items()}


def load_results(path: Path) -> dict[str, dict[tuple, float]]:
    """{benchmark: {combo tuple: median}} from one asv results file (format version 2)."""
    return _load_columns(path, "result")


def load_quartiles(path: Path) -> dict[str, dict[tuple, Quartiles]]:
    """{benchmark: {combo: (q25, q75)}}; empty for files without asv's stats columns."""
    low, high = _load_columns(path, "stats_q_25"), _load_columns(path, "stats_q_75")
    return {
        name: {c: (q25, high[name][c]) for c, q25 in combos.items() if c in high[name]}
        for name, combos in low.items()
    }


def _param_names(benchmarks_json: Path) -> dict[str, list[str]]:
    if not benchmarks_json.exists():
        return {}
    data = json.loads(benchmarks_json.read_text())
    return {k: v.get("param_names", []) for k, v in data.items() if isinstance(v, dict)}


def _fmt(names, combo) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, combo))


def ratio_rows(
    results: dict, param_names: dict[str, list[str]], quartiles: dict | None = None
) -> list[Row]:
    quartiles = quartiles or {}

    def row(bench, params, peer, combo, peer_bench, peer_combo) -> Row:
        return Row(
            bench,
            params,
            peer,
            results[bench][combo],
            results[peer_bench][peer_combo],
            quartiles.get(bench, {}).get(combo),
            quartiles.get(peer_bench, {}).get(peer_combo),
        )

    rows: list[Row] = []
    for bench, measured in sorted(results.items()):
        names = param_names.get(bench, [])
        # Only timings are ratios of seconds; track_* values (GFLOP/s, images/s) are not.
        if "impl" not in names or not bench.rsplit(".", 1)[-1].startswith("time_"):
            continue
        i = names.index("impl")
        others = [n for k, n in enumerate(names) if k != i]
        for combo in sorted(measured):
            if combo[i] != OURS:
                continue
            rest = combo[:i] + combo[i + 1 :]
            for peer_combo in sorted(measured):
                if peer_combo[i] != OURS and peer_combo[:i] + peer_combo[i + 1 :] == rest:
                    rows.append(
                        row(bench, _fmt(others, rest), peer_combo[i], combo, bench, peer_combo)
                    )
    for ours, peer, label, fixed in CLASS_PAIRS:
        if ours not in results or peer not in results:
            continue
        ours_names, peer_names = param_names.get(ours, []), param_names.get(peer, [])
        for combo in sorted(results[ours]):
            values = dict(zip(ours_names, combo))
            if any(values.get(k) != v for k, v in fixed.items()):
                continue
            peer_combo = tuple(values.get(n) for n in peer_names)
            if peer_combo in results[peer]:
                shown = [n for n in ours_names if n not in fixed]
                params = _fmt(shown, [values[n] for n in shown])
                rows.append(row(ours, params, label, combo, peer, peer_combo))
    return rows


def _time_unit(value: float) -> tuple[str, float]:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return unit, scale
    return "ns", 1e-9


def _seconds(value: float) -> str:
    unit, scale = _time_unit(value)
    return f"{value / scale:.3g} {unit}"


def _seconds_with_range(value: float, spread: Quartiles | None) -> str:
    """``71.6 µs (70.1–73.2)``: the bounds share the median's unit."""
    if spread is None:
        return _seconds(value)
    unit, scale = _time_unit(value)
    low, high = (f"{v / scale:.3g}" for v in spread)
    return f"{value / scale:.3g} {unit} ({low}{DASH}{high})"


def _ratio_with_range(value: float, spread: Quartiles | None) -> str:
    if spread is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({spread[0]:.2f}{DASH}{spread[1]:.2f})"


RANGE_NOTE = (
    "Times are medians with their quartiles (25th to 75th percentile of asv's samples); a ratio's "
    "range runs from peer q25 / numbaconv q75 to peer q75 / numbaconv q25."
)


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | parameters | peer | numbaconv | peer time | peer / numbaconv |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        short = row.benchmark.split(".", 1)[-1]
        lines.append(
            f"| {short} | {row.params} | {row.peer} | "
            f"{_seconds_with_range(row.ours_s, row.ours_q)} | "
            f"{_seconds_with_range(row.peer_s, row.peer_q)} | "
            f"{_ratio_with_range(row.ratio, row.ratio_range)} |"
        )
    if any(row.ratio_range is not None for row in rows):
        lines += ["", RANGE_NOTE]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- issue 6 targets


@dataclass
class Target:
    """One row of the targets table; ``measured`` None means the benchmarks are missing."""

    what: str
    measured: Measure | None
    show: Callable[[Measure], str]
    goal: tuple[str, float] | None = None  # (">=", 0.7) or ("<", 2.0); None: information only
    unit: str = ""  # of the goal's threshold

    @property
    def met(self) -> bool | None:
        if self.measured is None or self.goal is None:
            return None
        op, threshold = self.goal
        return self.measured.value >= threshold if op == ">=" else self.measured.value < threshold

    def markdown(self) -> str:
        measured = "not measured" if self.measured is None else self.show(self.measured)
        goal = "—" if self.goal is None else f"{self.goal[0]} {self.goal[1]:g}{self.unit}"
        met = {None: "—", True: "yes", False: "no"}[self.met]
        return f"| {self.what} | {measured} | {goal} | {met} |"


def _show_ratio(m: Measure) -> str:
    return _ratio_with_range(m.value, m.spread)


def _show_seconds(m: Measure) -> str:
    return _seconds_with_range(m.value, m.spread)


def _show_gflops(m: Measure) -> str:
    return f"{m.value:.0f} GFLOP/s"


def _measures(results, quartiles, param_names, bench) -> list[tuple[dict[str, str], Measure]]:
    """[({parameter name: value}, Measure)] of every usable combination of ``bench``."""
    names = param_names.get(bench, [])
    return [
        (dict(zip(names, combo)), Measure(median, quartiles.get(bench, {}).get(combo)))
        for combo, median in sorted(results.get(bench, {}).items())
    ]


def _impl_ratios(results, quartiles, param_names, bench, peer) -> list[tuple[dict, Measure]]:
    """[(other parameters, peer / numbaconv)] of a benchmark with an ``impl`` parameter."""
    by_impl: dict[str, dict[tuple, tuple[dict, Measure]]] = {}
    for values, measure in _measures(results, quartiles, param_names, bench):
        rest = {k: v for k, v in values.items() if k != "impl"}
        by_impl.setdefault(values.get("impl"), {})[tuple(rest.items())] = (rest, measure)
    ours, theirs = by_impl.get(OURS, {}), by_impl.get(peer, {})
    return [(rest, theirs[key][1].over(m)) for key, (rest, m) in ours.items() if key in theirs]


def _pass_sums(results, quartiles, param_names, bench) -> dict[str, Measure]:
    """{shape: forward + grad_input + grad_weight} for the shapes with all three passes."""
    by_shape: dict[str, dict[str, Measure]] = {}
    for values, measure in _measures(results, quartiles, param_names, bench):
        by_shape.setdefault(values.get("shape"), {})[values.get("pass")] = measure
    return {
        shape: combine(sum, [passes[p] for p in CONV_PASSES])
        for shape, passes in by_shape.items()
        if all(p in passes for p in CONV_PASSES)
    }


def _conv_targets(results, quartiles, param_names) -> list[Target]:
    ours = _pass_sums(results, quartiles, param_names, CONV_OURS)
    torch = _pass_sums(results, quartiles, param_names, CONV_TORCH)
    per_shape = {s: torch[s].over(ours[s]) for s in sorted(ours) if s in torch}
    rows = [
        Target(f"conv2d shape {s}: torch / numbaconv, fwd + grad_in + grad_w", m, _show_ratio)
        for s, m in per_shape.items()
    ]
    measures = list(per_shape.values())
    over = f" over shapes {', '.join(per_shape)}" if per_shape else ""
    lowest = f" (shape {min(per_shape, key=lambda s: per_shape[s].value)})" if per_shape else ""
    geomean = combine(statistics.geometric_mean, measures) if measures else None
    minimum = combine(min, measures) if measures else None
    rows.append(Target(f"conv2d geometric mean{over}", geomean, _show_ratio, (">=", 0.7)))
    rows.append(Target(f"conv2d minimum{over}{lowest}", minimum, _show_ratio, (">=", 0.33)))
    gflops = [
        m
        for values, m in _measures(results, quartiles, param_names, CONV_GFLOPS)
        if values.get("shape") == "f" and values.get("pass") == "forward"
    ]
    rows.append(
        Target(
            "conv2d shape f forward, numbaconv GFLOP/s",
            gflops[0] if gflops else None,
            _show_gflops,
            (">=", 100),
            " GFLOP/s",
        )
    )
    return rows


def _correlate_target(results, quartiles, param_names) -> Target:
    ratios = [
        (rest, m)
        for rest, m in _impl_ratios(results, quartiles, param_names, CORRELATE, "scipy")
        if rest.get("size") == "1024" and rest.get("kernel") in ("3", "5")
    ]
    what = "correlate2d 1024², kernels 3 and 5: scipy / numbaconv, minimum"
    if not ratios:
        return Target(what, None, _show_ratio, (">=", 4))
    worst = min(ratios, key=lambda item: item[1].value)[0]
    where = ", ".join(f"{k}={v}" for k, v in worst.items() if k in ("kernel", "mode", "boundary"))
    what += f" over {len(ratios)} rows ({where})"
    return Target(what, combine(min, [m for _, m in ratios]), _show_ratio, (">=", 4))


def _training_targets(results, quartiles, param_names) -> list[Target]:
    rows = []
    for label, bench in TRAINING.items():
        ratios = _impl_ratios(results, quartiles, param_names, bench, "torch")
        what = f"{label}: torch / numbaconv (= numbaconv images/s over torch's)"
        if not ratios:
            rows.append(Target(what, None, _show_ratio, (">=", 0.5)))
        for rest, m in ratios:
            model_what = f"{label}, model {rest.get('model')}: torch / numbaconv"
            rows.append(Target(model_what, m, _show_ratio, (">=", 0.5)))
    return rows


def _cold_start_targets(results, quartiles, param_names) -> list[Target]:
    rows = []
    for what, bench in COLD_START.items():
        found = _measures(results, quartiles, param_names, bench)
        goal = ("<", 2.0) if bench.endswith("warm_cache") else None
        rows.append(Target(what, found[0][1] if found else None, _show_seconds, goal, " s"))
    return rows


def target_rows(results: dict, quartiles: dict, param_names: dict[str, list[str]]) -> list[Target]:
    """Issue 6's targets, in the order the issue lists them."""
    return [
        *_conv_targets(results, quartiles, param_names),
        _correlate_target(results, quartiles, param_names),
        *_training_targets(results, quartiles, param_names),
        *_cold_start_targets(results, quartiles, param_names),
    ]


TARGETS_NOTE = (
    "met compares the value computed from medians; the range applies the same arithmetic to "
    "the quartiles (sum, geometric mean and minimum of the low ends and of the high ends)."
)


def targets_table(results: dict, quartiles: dict, param_names: dict[str, list[str]]) -> str:
    lines = ["| what | measured | target | met |", "|---|---:|---:|:---:|"]
    lines += [row.markdown() for row in target_rows(results, quartiles, param_names)]
    return "\n".join([*lines, "", TARGETS_NOTE])


def result_files(results_dir: Path, machine: str | None = None, commit: str | None = None):
    """{machine: newest (or ``commit``'s) results file} under ``results_dir``."""
    chosen = {}
    if not results_dir.is_dir():
        return chosen
    for machine_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if machine and machine_dir.name != machine:
            continue
        best = None
        for path in machine_dir.glob("*.json"):
            if path.name == "machine.json":
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if commit and not str(data.get("commit_hash", "")).startswith(commit):
                continue
            key = data.get("date") or 0
            if best is None or key > best[0]:
                best = (key, path, data.get("commit_hash", "?"))
        if best is not None:
            chosen[machine_dir.name] = (best[1], best[2])
    return chosen


def tables(results_dir: Path, machine: str | None = None, commit: str | None = None) -> str:
    """All tables as Markdown, or "" when there are no results."""
    results_dir = Path(results_dir)
    names = _param_names(results_dir / "benchmarks.json")
    parts = []
    for machine_name, (path, commit_hash) in result_files(results_dir, machine, commit).items():
        results, quartiles = load_results(path), load_quartiles(path)
        rows = ratio_rows(results, names, quartiles)
        title = f"**{machine_name}**, commit `{str(commit_hash)[:8]}` ({path.name})"
        body = markdown_table(rows) if rows else "No peer pairs were measured in this run."
        targets = targets_table(results, quartiles, names)
        parts.append(f"{title}\n\n{body}\n\n**Targets (issue 6)**, {machine_name}\n\n{targets}\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=".asv/results", type=Path)
    parser.add_argument("--machine", default=None, help="one machine (default: all)")
    parser.add_argument("--commit", default=None, help="a commit hash prefix (default: newest)")
    args = parser.parse_args(argv)
    text = tables(args.results_dir, args.machine, args.commit)
    if not text:
        print(f"no asv results under {args.results_dir} (run `asv run` first)", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
