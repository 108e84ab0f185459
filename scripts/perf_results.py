"""Reading asv results files: medians, quartiles and peer / numbaconv ratios from one run.

The machines we benchmark on are shared and noisy, so absolute times mean little across runs;
ratios taken from one run (one results file) are what we report. A ratio is the peer's time
divided by numbaconv's: above 1 means numbaconv was faster.

Peers are found two ways:

- a benchmark with an ``impl`` parameter (``"numbaconv"`` against ``"scipy"``, ...): each
  other parameter combination gives one row;
- a pair of benchmark classes over the same parameters, listed in :data:`CLASS_PAIRS`
  (numbaconv on the CPU against PyTorch on the CPU, numbaconv's CUDA kernels against its CPU
  kernels).

This module only reads and formats; ``perf_targets`` says what we aim for, ``perf_plot`` draws,
and ``perf_table`` is the command line.
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# (ours, peer, peer label, fixed): two benchmarks over the same parameters; rows are matched on
# the parameters the two share (a parameter only ``ours`` has must equal the value in ``fixed``).
CLASS_PAIRS = [
    (
        "bench_conv.Conv2dCPU.time_conv2d",
        "bench_conv.Conv2dTorchCPU.time_conv2d",
        "torch (CPU)",
        {},
    ),
    ("bench_pool.PoolCPU.time_pool", "bench_pool.PoolTorchCPU.time_pool", "torch (CPU)", {}),
    (
        "bench_pool.PoolTargets.time_target",
        "bench_pool.PoolTargetsTorchCPU.time_target",
        "torch (CPU)",
        {},
    ),
    (
        "bench_norm.BatchNormCPU.time_batch_norm",
        "bench_norm.BatchNormTorchCPU.time_batch_norm",
        "torch (CPU)",
        {},
    ),
    ("bench_conv.Conv2dCUDA.time_conv2d", "bench_conv.Conv2dCPU.time_conv2d", "numbaconv CPU", {}),
]
OURS = "numbaconv"
DASH = "\u2013"  # en dash between a range's bounds; escaped because ruff (RUF001) flags it

Quartiles = tuple[float, float]

# How a peer is named to readers: the benchmarks' ``impl`` values and pair labels are terse.
PEER_NAMES = {
    "torch": "PyTorch",
    "torch (CPU)": "PyTorch",
    "scipy": "scipy.signal",
    "ndimage": "scipy.ndimage",
    "opencv": "OpenCV",
}


def peer_name(peer: str) -> str:
    """A peer's name as readers know it (``torch`` -> ``PyTorch``)."""
    return PEER_NAMES.get(peer, peer)


def ratio_range(peer_q: Quartiles | None, ours_q: Quartiles | None) -> Quartiles | None:
    """Range of peer / ours from the quartiles: (peer q25 / ours q75, peer q75 / ours q25)."""
    if peer_q is None or ours_q is None:
        return None
    return peer_q[0] / ours_q[1], peer_q[1] / ours_q[0]


@dataclass
class Row:
    """One numbaconv measurement beside one peer's, on the same parameters."""

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


# ------------------------------------------------------------------------------ reading files


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


@dataclass
class Run:
    """One results file: medians, quartiles, parameter names and where and when it ran."""

    results: dict[str, dict[tuple, float]]
    quartiles: dict[str, dict[tuple, Quartiles]]
    param_names: dict[str, list[str]]
    machine: str = "?"
    commit: str = "?"
    cpu: str = "?"
    num_cpu: str = "?"
    date: str = "?"
    path: Path | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path, benchmarks_json: Path, machine: str = "?") -> Run:
        path = Path(path)
        data = json.loads(path.read_text())
        info = data.get("params") or {}
        stamp = data.get("date")
        date = "?"
        if isinstance(stamp, (int, float)) and stamp > 1e9:
            moment = datetime.datetime.fromtimestamp(stamp / 1000, tz=datetime.timezone.utc)
            date = moment.date().isoformat()
        return cls(
            load_results(path),
            load_quartiles(path),
            _param_names(benchmarks_json),
            machine=info.get("machine", machine),
            commit=str(data.get("commit_hash", "?"))[:8],
            cpu=str(info.get("cpu", "?")),
            num_cpu=str(info.get("num_cpu", "?")),
            date=date,
            path=path,
        )

    def measures(self, bench: str, where: dict | None = None) -> list[tuple[dict, Measure]]:
        """[({parameter: value}, Measure)] of every usable combination of ``bench`` whose
        parameters equal ``where``'s values."""
        names = self.param_names.get(bench, [])
        where = where or {}
        found = []
        for combo, median in sorted(self.results.get(bench, {}).items()):
            values = dict(zip(names, combo))
            if all(str(values.get(k)) == str(v) for k, v in where.items()):
                found.append((values, Measure(median, self.quartiles.get(bench, {}).get(combo))))
        return found


def result_files(results_dir: Path, machine: str | None = None, commit: str | None = None):
    """{machine: (newest (or ``commit``'s) results file, commit hash)} under ``results_dir``."""
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


def runs(results_dir: Path, machine: str | None = None, commit: str | None = None) -> list[Run]:
    """One :class:`Run` per machine (its newest results file, or ``commit``'s)."""
    results_dir = Path(results_dir)
    benchmarks_json = results_dir / "benchmarks.json"
    return [
        Run.load(path, benchmarks_json, name)
        for name, (path, _) in result_files(results_dir, machine, commit).items()
    ]


# ------------------------------------------------------------------------------ ratio rows


def _fmt(names, combo) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, combo))


def ratio_rows(
    results: dict, param_names: dict[str, list[str]], quartiles: dict | None = None
) -> list[Row]:
    """Every numbaconv measurement that has a peer in the same run, one :class:`Row` each."""
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


# ------------------------------------------------------------------------------ formatting


def _time_unit(value: float) -> tuple[str, float]:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return unit, scale
    return "ns", 1e-9


def seconds(value: float) -> str:
    unit, scale = _time_unit(value)
    return f"{value / scale:.3g} {unit}"


def seconds_with_range(value: float, spread: Quartiles | None) -> str:
    """``71.6 µs (70.1–73.2)``: the bounds share the median's unit."""
    if spread is None:
        return seconds(value)
    unit, scale = _time_unit(value)
    low, high = (f"{v / scale:.3g}" for v in spread)
    return f"{value / scale:.3g} {unit} ({low}{DASH}{high})"


def ratio_with_range(value: float, spread: Quartiles | None) -> str:
    if spread is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({spread[0]:.2f}{DASH}{spread[1]:.2f})"


RANGE_NOTE = (
    "Times are medians with their quartiles (25th to 75th percentile of asv's samples); a ratio's "
    "range runs from peer q25 / numbaconv q75 to peer q75 / numbaconv q25."
)


def markdown_table(rows: list[Row]) -> str:
    """Every ratio row of one run as a Markdown table."""
    lines = [
        "| benchmark | parameters | peer | numbaconv | peer time | peer / numbaconv |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        short = row.benchmark.split(".", 1)[-1]
        lines.append(
            f"| {short} | {row.params} | {peer_name(row.peer)} | "
            f"{seconds_with_range(row.ours_s, row.ours_q)} | "
            f"{seconds_with_range(row.peer_s, row.peer_q)} | "
            f"{ratio_with_range(row.ratio, row.ratio_range)} |"
        )
    if any(row.ratio_range is not None for row in rows):
        lines += ["", RANGE_NOTE]
    return "\n".join(lines)
