"""What we aim for, checked against one asv run: one row per target, against its peer.

Each target is a ratio of medians from the same results file (peer time / numbaconv time, so
above 1 means numbaconv was faster), reduced over the cells it covers (the minimum: a target
"≥ 1.0 on every shape" is met when the slowest shape meets it), with the range the same
arithmetic gives on the quartiles and the cell that sets the value. A target whose benchmarks
are missing from the run reads "not measured"; nothing is estimated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from perf_results import Measure, Run, combine, ratio_with_range, seconds_with_range

CONV_OURS = "bench_conv.Conv2dCPU.time_conv2d"
CONV_TORCH = "bench_conv.Conv2dTorchCPU.time_conv2d"
CONV_GFLOPS = "bench_conv.Conv2dCPU.track_gflops"
SGEMM_GFLOPS = "bench_conv.SgemmReference.track_sgemm_2048_gflops"
POOL_OURS = "bench_pool.PoolTargets.time_target"
POOL_TORCH = "bench_pool.PoolTargetsTorchCPU.time_target"
TRAIN_STEP = "bench_train.TrainStep.time_train_step"
CORRELATE64 = "bench_correlate.Correlate2d.time_correlate2d"
CORRELATE32 = "bench_correlate.Correlate2dPeers.time_correlate2d_same_float32"
CORRELATE_COMPLEX = "bench_correlate.Correlate2dComplex.time_correlate2d_complex128_same_symm"
DASK_CORRELATE = "bench_dask.Correlate8192.time_same_symm_5x5"
DASK_PREDICT = "bench_dask.Predict60k.time_predict"
PEAK_MEMORY = "bench_train.PeakMemory.peakmem_conv2d_f_forward_backward"
COLD_START_WARM = "bench_coldstart.timeraw_first_conv2d_warm_cache"

TORCH = "PyTorch"


@dataclass(frozen=True)
class Pairing:
    """Which numbaconv rows meet which peer rows: equal values of the ``cell`` parameters."""

    ours: str
    peer: str
    ours_where: dict
    peer_where: dict
    cell: tuple[str, ...] = ()

    def ratios(self, run: Run) -> list[tuple[dict, Measure]]:
        """[(cell values, peer / ours)] of every cell measured on both sides."""

        def keyed(bench, where):
            return {
                tuple(str(values.get(k)) for k in self.cell): m
                for values, m in run.measures(bench, where)
            }

        ours, peer = keyed(self.ours, self.ours_where), keyed(self.peer, self.peer_where)
        return [
            (dict(zip(self.cell, key)), peer[key].over(m)) for key, m in ours.items() if key in peer
        ]


@dataclass
class Target:
    """One row of the key table; ``measured`` None means the benchmarks are missing."""

    what: str
    peer: str
    measured: Measure | None
    goal: tuple[str, float] | None = None  # (">=", 1.0), ("<", 2.0), ("<=", 1.5); None: info
    show: Callable[[Measure], str] = lambda m: ratio_with_range(m.value, m.spread)
    unit: str = ""
    where: str = ""  # the cell that sets the value, when several are reduced

    @property
    def met(self) -> bool | None:
        if self.measured is None or self.goal is None:
            return None
        op, threshold = self.goal
        value = self.measured.value
        return {">=": value >= threshold, "<": value < threshold, "<=": value <= threshold}[op]

    def markdown(self) -> str:
        measured = "not measured" if self.measured is None else self.show(self.measured)
        if self.where and self.measured is not None:
            measured += f" ({self.where})"
        goal = "—" if self.goal is None else f"{self.goal[0]} {self.goal[1]:g}{self.unit}"
        met = {None: "—", True: "yes", False: "**no**"}[self.met]
        return f"| {self.what} | {self.peer} | {measured} | {goal} | {met} |"


def _cell_name(cell: dict) -> str:
    return ", ".join(f"{v}" if k == "shape" else f"{k} {v}" for k, v in cell.items())


def lowest(what: str, peer: str, pairing: Pairing, run: Run, goal: float) -> Target:
    """The minimum ratio over the pairing's cells, naming the cell that sets it."""
    ratios = pairing.ratios(run)
    if not ratios:
        return Target(what, peer, None, (">=", goal))
    cell, _ = min(ratios, key=lambda item: item[1].value)
    where = f"lowest: {_cell_name(cell)}" if len(ratios) > 1 else ""
    return Target(what, peer, combine(min, [m for _, m in ratios]), (">=", goal), where=where)


def slowdown(what: str, peer: str, pairing: Pairing, run: Run, goal: float) -> Target:
    """numbaconv-on-Dask time over in-process time, the largest over the cells (<= ``goal``)."""
    ratios = pairing.ratios(run)
    if not ratios:
        return Target(what, peer, None, ("<=", goal))
    inverted = [
        Measure(1 / m.value, m.spread and (1 / m.spread[1], 1 / m.spread[0])) for _, m in ratios
    ]
    return Target(what, peer, combine(max, inverted), ("<=", goal))


def _conv_targets(run: Run) -> list[Target]:
    rows = [
        lowest(
            f"conv2d {which}, chapter shapes a{chr(0x2013)}f",
            TORCH,
            Pairing(CONV_OURS, CONV_TORCH, {"pass": which}, {"pass": which}, ("shape",)),
            run,
            1.0,
        )
        for which in ("forward", "grad_input", "grad_weight")
    ]
    ours = run.measures(CONV_GFLOPS, {"shape": "f", "pass": "forward"})
    sgemm = run.measures(SGEMM_GFLOPS)
    share = ours[0][1].over(sgemm[0][1]) if ours and sgemm else None
    rows.append(
        Target(
            "conv2d shape f forward GFLOP/s, share of sgemm's", "sgemm 2048²", share, (">=", 0.8)
        )
    )
    return rows


def _pool_targets(run: Run) -> list[Target]:
    cases = [
        ("max_pool2d 2x2 forward", "max_pool2d_2x2_forward", 5.0),
        ("max_pool2d 2x2 forward + backward", "max_pool2d_2x2_forward_backward", 5.0),
        ("adaptive_avg_pool2d(x, 1) forward", "adaptive_avg_pool2d_1", 1.0),
    ]
    return [
        lowest(what, TORCH, Pairing(POOL_OURS, POOL_TORCH, where, where, ("shape",)), run, goal)
        for what, target, goal in cases
        for where in [{"target": target}]
    ]


def _training_targets(run: Run) -> list[Target]:
    cases = [("10-class batch-norm CNN, bs 512", "10bn", 1.3), ("3-vs-7 CNN, bs 64", "3v7", 2.0)]
    return [
        lowest(
            f"training step, {label}",
            TORCH,
            Pairing(
                TRAIN_STEP,
                TRAIN_STEP,
                {"impl": "numbaconv", "model": model},
                {"impl": "torch", "model": model},
            ),
            run,
            goal,
        )
        for label, model, goal in cases
    ]


def _correlate_targets(run: Run) -> list[Target]:
    def pairing(bench, peer, where, cell):
        return Pairing(bench, bench, {"impl": "numbaconv", **where}, {"impl": peer, **where}, cell)

    same32 = {}  # Correlate2dPeers: always 'same' on a 2048² float32 image
    cells = ("kernel", "boundary")
    opencv = [
        (cell, m)
        for boundary in ("fill", "symm")
        for cell, m in pairing(
            CORRELATE32, "opencv", {**same32, "boundary": boundary}, cells
        ).ratios(run)
    ]
    rows = []
    if opencv:
        cell, _ = min(opencv, key=lambda item: item[1].value)
        rows.append(
            Target(
                "correlate2d 'same' 2048² float32, k 3/5/25, fill and symm",
                "OpenCV filter2D",
                combine(min, [m for _, m in opencv]),
                (">=", 1.0),
                where=f"lowest: {_cell_name(cell)}",
            )
        )
    else:
        rows.append(
            Target(
                "correlate2d 'same' 2048² float32, k 3/5/25, fill and symm",
                "OpenCV filter2D",
                None,
                (">=", 1.0),
            )
        )
    rows += [
        lowest(
            "correlate2d, the same cells plus wrap",
            "scipy.ndimage",
            pairing(CORRELATE32, "ndimage", same32, cells),
            run,
            10.0,
        ),
        lowest(
            "correlate2d 1024² float64, k 3 and 5, every mode and boundary",
            "scipy.signal",
            pairing(CORRELATE64, "scipy", {"size": "1024"}, ("kernel", "mode", "boundary")),
            run,
            4.0,
        ),
        lowest(
            "correlate2d complex128 'same'/symm 1024², k 3 and 5",
            "scipy.signal",
            pairing(CORRELATE_COMPLEX, "scipy", {}, ("kernel",)),
            run,
            10.0,
        ),
    ]
    return rows


def _dask_targets(run: Run) -> list[Target]:
    def pairing(bench):
        return Pairing(bench, bench, {"where": "cluster"}, {"where": "in_process"})

    return [
        slowdown(
            "Dask: 8192² 'same'/symm 5x5 correlation on a 2-worker cluster, time ratio",
            "in-process",
            pairing(DASK_CORRELATE),
            run,
            1.5,
        ),
        slowdown(
            "Dask: predict 60,000 digits on a 2-worker cluster, time ratio",
            "in-process",
            pairing(DASK_PREDICT),
            run,
            1.5,
        ),
    ]


def _absolute_targets(run: Run) -> list[Target]:
    memory = run.measures(PEAK_MEMORY)
    warm = run.measures(COLD_START_WARM)
    megabytes = Measure(memory[0][1].value / 1e6) if memory else None
    return [
        Target(
            "peak memory, conv2d shape f forward + backward",
            "—",
            megabytes,
            ("<", 424),
            show=lambda m: f"{m.value:.0f} MB",
            unit=" MB",
        ),
        Target(
            "import + first conv2d, warm cache",
            "—",
            warm[0][1] if warm else None,
            ("<", 2),
            show=lambda m: seconds_with_range(m.value, m.spread),
            unit=" s",
        ),
    ]


def target_rows(run: Run) -> list[Target]:
    """Every target, in the order the key table lists them."""
    return [
        *_conv_targets(run),
        *_pool_targets(run),
        *_training_targets(run),
        *_correlate_targets(run),
        *_dask_targets(run),
        *_absolute_targets(run),
    ]


TARGETS_NOTE = (
    "Each value is a peer's median time over numbaconv's (above 1: numbaconv is faster), the "
    "lowest over the cells a row covers; the range applies the same arithmetic to the quartiles. "
    "Dask rows are the cluster's time over the in-process time (at most 1.5)."
)


def targets_table(run: Run) -> str:
    lines = ["| target | peer | measured | goal | met |", "|---|---|---:|---:|:---:|"]
    lines += [row.markdown() for row in target_rows(run)]
    return "\n".join([*lines, "", TARGETS_NOTE])
