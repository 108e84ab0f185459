"""Ratio tables from asv results: a peer's time divided by numbaconv's, measured in one run.

The machines we benchmark on are shared and noisy, so absolute times mean little across runs;
ratios taken from one run (one results file) are what we report. The ratio is the peer's time
divided by numbaconv's (the issue tracker's "PyTorch time / numbaconv time"): above 1 means
numbaconv was faster.

Peers are found two ways:

- a benchmark with an ``impl`` parameter (``"numbaconv"`` against ``"scipy"``, ...): each other
  parameter combination gives one row;
- a pair of benchmark classes over the same parameters, listed in :data:`CLASS_PAIRS` (numbaconv
  on the CPU against PyTorch on the CPU, numbaconv's CUDA kernels against its CPU kernels).

Usage::

    python scripts/perf_table.py [--results-dir .asv/results] [--machine NAME] [--commit HASH]

prints a Markdown table per machine for its newest results file (or the given commit). asv
writes its results to ``.asv/results`` (git-ignored, the default here); the run the docs show is
a copy kept in git under ``benchmarks/published`` (``--results-dir benchmarks/published``). It exits
with status 1 when there are no results to read. Skipped or failed rows (no PyTorch, no GPU) are
left out; nothing is estimated or filled in.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
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


@dataclass
class Row:
    benchmark: str
    params: str
    peer: str
    ours_s: float
    peer_s: float

    @property
    def ratio(self) -> float:
        """Peer time / numbaconv time: above 1, numbaconv was faster."""
        return self.peer_s / self.ours_s


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def _measurements(entry, columns) -> tuple[list[str], dict[tuple, float]]:
    """Parameter names are not in the results file; return value lists and {combo: seconds}."""
    record = dict(zip(columns, entry))
    values = record.get("result")
    params = record.get("params") or []
    if values is None:
        return params, {}
    if not isinstance(values, list):
        values = [values]
    combos = list(itertools.product(*[[_unquote(v) for v in p] for p in params])) or [()]
    out = {}
    for combo, value in zip(combos, values):
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            out[combo] = float(value)
    return params, out


def load_results(path: Path) -> dict:
    """{benchmark: {combo tuple: seconds}} from one asv results file (format version 2)."""
    data = json.loads(path.read_text())
    columns = data.get("result_columns", ["result", "params"])
    results = {}
    for name, entry in data.get("results", {}).items():
        _, measured = _measurements(entry, columns)
        results[name] = measured
    return results


def _param_names(benchmarks_json: Path) -> dict[str, list[str]]:
    if not benchmarks_json.exists():
        return {}
    data = json.loads(benchmarks_json.read_text())
    return {k: v.get("param_names", []) for k, v in data.items() if isinstance(v, dict)}


def _fmt(names, combo) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, combo))


def ratio_rows(results: dict, param_names: dict[str, list[str]]) -> list[Row]:
    rows: list[Row] = []
    for bench, measured in sorted(results.items()):
        names = param_names.get(bench, [])
        # Only timings are ratios of seconds; track_* values (GFLOP/s, images/s) are not.
        if "impl" not in names or not bench.rsplit(".", 1)[-1].startswith("time_"):
            continue
        i = names.index("impl")
        others = [n for k, n in enumerate(names) if k != i]
        for combo, seconds in sorted(measured.items()):
            if combo[i] != OURS:
                continue
            rest = combo[:i] + combo[i + 1 :]
            for peer_combo, peer_seconds in sorted(measured.items()):
                if peer_combo[i] != OURS and peer_combo[:i] + peer_combo[i + 1 :] == rest:
                    rows.append(
                        Row(bench, _fmt(others, rest), peer_combo[i], seconds, peer_seconds)
                    )
    for ours, peer, label, fixed in CLASS_PAIRS:
        if ours not in results or peer not in results:
            continue
        ours_names, peer_names = param_names.get(ours, []), param_names.get(peer, [])
        for combo, seconds in sorted(results[ours].items()):
            values = dict(zip(ours_names, combo))
            if any(values.get(k) != v for k, v in fixed.items()):
                continue
            peer_combo = tuple(values.get(n) for n in peer_names)
            if peer_combo in results[peer]:
                shown = [n for n in ours_names if n not in fixed]
                rows.append(
                    Row(
                        ours,
                        _fmt(shown, [values[n] for n in shown]),
                        label,
                        seconds,
                        results[peer][peer_combo],
                    )
                )
    return rows


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | parameters | peer | numbaconv | peer time | peer / numbaconv |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        short = row.benchmark.split(".", 1)[-1]
        lines.append(
            f"| {short} | {row.params} | {row.peer} | {_seconds(row.ours_s)} | "
            f"{_seconds(row.peer_s)} | {row.ratio:.2f} |"
        )
    return "\n".join(lines)


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
        rows = ratio_rows(load_results(path), names)
        title = f"**{machine_name}**, commit `{str(commit_hash)[:8]}` ({path.name})"
        body = markdown_table(rows) if rows else "No peer pairs were measured in this run."
        parts.append(f"{title}\n\n{body}\n")
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
