"""One figure of a run: numbaconv against the fastest peer, one horizontal bar per row.

Bars are grouped (conv2d passes by shape, pooling, batch norm, training step, correlate2d by
kernel size); each bar is the fastest peer's median time over numbaconv's on a log axis, with a
line at 1 (left of it the peer is faster) and the peer's name on the bar.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from perf_results import Row, Run, peer_name, ratio_rows

GROUPS = ("conv2d", "pooling", "batch norm", "training step", "correlate2d")


@dataclass
class Bar:
    group: str
    label: str
    ratio: float
    low: float | None
    high: float | None
    peer: str


def _params(row: Row) -> dict[str, str]:
    return dict(item.split("=", 1) for item in row.params.split(", ") if "=" in item)


def _place(row: Row) -> tuple[str, str] | None:
    """(group, label) of a ratio row that belongs in the figure, else None."""
    p, bench = _params(row), row.benchmark
    if bench == "bench_conv.Conv2dCPU.time_conv2d" and "torch" in row.peer:
        return "conv2d", f"{p.get('pass')}, shape {p.get('shape')}"
    if bench == "bench_pool.PoolTargets.time_target":
        target = (
            p.get("target", "").replace("_", " ").replace("adaptive avg pool2d 1", "adaptive avg")
        )
        return "pooling", f"{target.replace('max pool2d 2x2', 'max 2x2')}, {p.get('shape')}"
    if bench == "bench_norm.BatchNormCPU.time_batch_norm":
        return "batch norm", f"{p.get('pass')}, {p.get('shape')}"
    if bench == "bench_train.TrainStep.time_train_step":
        return "training step", f"model {p.get('model')}"
    if bench == "bench_correlate.Correlate2dPeers.time_correlate2d_same_float32":
        return "correlate2d", f"2048² 'same', k {p.get('kernel')}, {p.get('boundary')}"
    return None


def bars(run: Run) -> list[Bar]:
    """The figure's bars: per placed row, the fastest peer (the lowest ratio)."""
    fastest: dict[tuple[str, str], Row] = {}
    for row in ratio_rows(run.results, run.param_names, run.quartiles):
        place = _place(row)
        if place is not None and (place not in fastest or row.ratio < fastest[place].ratio):
            fastest[place] = row
    out = []
    for (group, label), row in fastest.items():
        low, high = row.ratio_range or (None, None)
        out.append(Bar(group, label, row.ratio, low, high, row.peer))
    return sorted(out, key=lambda b: (GROUPS.index(b.group), b.label))


def draw(run: Run, path: Path) -> Path:
    """Draw the figure of ``run`` into ``path`` (PNG or SVG, by suffix); returns ``path``."""
    from matplotlib.figure import Figure  # no pyplot: no backend or global state involved

    found = bars(run)
    if not found:
        raise ValueError(f"no peer rows to plot in {run.path}")
    height = 1.2 + 0.26 * len(found)
    fig = Figure(figsize=(10, height))
    ax = fig.subplots()
    ys = list(range(len(found)))[::-1]
    colours = ["#2e7d32" if b.ratio >= 1 else "#e65100" for b in found]
    # Bars start at 1, so a bar to the right is a win and one to the left a loss.
    ax.barh(ys, [b.ratio - 1 for b in found], color=colours, height=0.7, left=1)
    for y, b in zip(ys, found):
        if b.low is not None:
            ax.plot([b.low, b.high], [y, y], color="black", linewidth=0.8)
        right = max(1.0, b.ratio, b.high or b.ratio) * 1.06
        ax.text(right, y, f"{b.ratio:.2f} vs {peer_name(b.peer)}", va="center", fontsize=7)
    for y, (above, below) in zip(ys[1:], itertools.pairwise(found)):
        if above.group != below.group:
            ax.axhline(y + 0.5, color="grey", linewidth=0.6)
    ax.set_yticks(ys, [f"{b.group}: {b.label}" for b in found], fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ratios = [b.ratio for b in found] + [b.high or b.ratio for b in found]
    ax.set_xlim(min(0.1, min(ratios) / 1.5), max(ratios) * 4)
    ax.set_xlabel(
        "fastest peer's time / numbaconv's time (log scale; right of 1: numbaconv is faster)"
    )
    ax.set_title(
        f"numbaconv against the fastest peer: {run.cpu}, {run.num_cpu} threads, "
        f"commit {run.commit}, {run.date}",
        fontsize=9,
    )
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
