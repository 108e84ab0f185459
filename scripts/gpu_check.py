"""One command for a machine with an NVIDIA GPU: numbaconv's CUDA backend checked and timed.

Run from the repository root, with no install::

    PYTHONPATH=. python scripts/gpu_check.py --out gpu-check

It runs, within about 8 minutes on an H100/H200-class GPU:

(a) the CUDA parity registry (``tests/cuda_cases.py``) against the CPU kernels, float32 and
    float64, at the tolerances of ``tests/test_cuda_parity.py``;
(b) ``numbaconv train --device cuda`` on the bundled 3-vs-7 sample (must reach 0.98) and the
    README's 10-class batch-norm recipe;
(c) timings against PyTorch + cuDNN on the same GPU (CUDA events, warm-up, median of
    ``--repeats`` samples): every conv2d pass on shapes a-f, pooling, batch norm and a training
    step, with GFLOP/s for the convolutions. cuDNN runs with ``benchmark=True`` and TF32 off, so
    both sides compute in float32.

It writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out`` and exits 1 when a check fails.
``--simulate`` runs (a) (one case per op, float32 and float64 by turns), (b) (one step on two
images) and (c) (tiny shapes, 2 samples, no warm-up: the plumbing only) in the CUDA
simulator, which CI does; without a CUDA build of PyTorch the peer columns say why there is
no figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN_TIMEOUT_S = 240
# (label, batch, in channels, out channels, image size, kernel, stride, padding)
CONV_SHAPES = [
    ("a", 64, 1, 8, 28, 3, 2, 1),
    ("b", 64, 8, 16, 14, 3, 2, 1),
    ("c", 64, 16, 32, 7, 3, 2, 1),
    ("d", 512, 1, 8, 28, 5, 2, 2),
    ("e", 64, 3, 32, 32, 3, 1, 1),
    ("f", 16, 64, 64, 56, 3, 1, 1),
]
RTOL = {"float32": 1e-5, "float64": 1e-12}
ACCURACY_3V7 = 0.98
# The README's 10-class recipe; the bundled 10-digit sample (4000/1000 images).
RECIPE_10_CLASS = [
    "--dataset",
    "mnist",
    "--model",
    "simple_cnn_bn",
    "--epochs",
    "5",
    "--lr",
    "0.06",
    "--bs",
    "64",
    "--normalize",
]


def _environment(simulate: bool) -> None:
    """Variables numba reads at import: set before anything imports it."""
    if simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        os.environ.setdefault("NUMBACONV_CUDA_THREADS", "7")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numbaconv-cache"))
    sys.path.insert(0, str(ROOT))


def _device_info(simulate: bool) -> dict:
    import numba
    from numba import cuda

    info = {"python": platform.python_version(), "numba": numba.__version__, "simulator": simulate}
    try:
        import numba_cuda

        info["numba_cuda"] = numba_cuda.__version__
    except (ImportError, AttributeError):
        info["numba_cuda"] = None
    if not simulate:
        device = cuda.get_current_device()
        name = device.name
        info.update(
            name=name.decode() if isinstance(name, bytes) else str(name),
            compute_capability=list(device.compute_capability),
            multiprocessors=int(device.MULTIPROCESSOR_COUNT),
        )
    torch = _torch()
    info["torch"] = torch.__version__ if torch is not None else None
    info["cudnn"] = (
        torch.backends.cudnn.version() if torch is not None and torch.cuda.is_available() else None
    )
    return info


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# --- (a) parity -----------------------------------------------------------------------------


def _max_error(got, expected) -> float:
    import numpy as np

    if expected.dtype.kind in "iu":
        return 0.0 if np.array_equal(got, expected) else float("inf")
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    if not np.array_equal(np.isnan(got), np.isnan(expected)):
        return float("inf")
    both = np.isfinite(expected) & np.isfinite(got)
    diff = np.abs(got[both].astype(np.float64) - expected[both])
    bound = np.abs(expected[both]) + scale
    return float((diff / bound).max(initial=0.0))


def _leaves(result) -> list:
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _leaves(item)]
    return [result]


def _parity_runs(simulate: bool):
    """``(case, dtype)`` pairs: every case in both dtypes, or in the simulator the first case of
    each op, in float32 and float64 by turns."""
    import numpy as np

    from tests import cuda_cases

    if not simulate:
        return [(c, d) for d in (np.float32, np.float64) for c in cuda_cases.CASES]
    firsts = {}
    for case in cuda_cases.CASES:
        firsts.setdefault(case.op, case)
    return [(c, (np.float32, np.float64)[i % 2]) for i, c in enumerate(firsts.values())]


def run_parity(simulate: bool) -> dict:
    """Registry cases on the host and on the device, compared at the test-suite's tolerances."""
    import numpy as np

    from numbaconv import _backend

    def dev(value):
        return _backend.to_device(value) if isinstance(value, np.ndarray) else value

    rows = []
    for case, dtype in _parity_runs(simulate):
        name = np.dtype(dtype).name
        args, kwargs = case.build(dtype, seed=len(case.id))
        device_args = [dev(a) for a in args]
        device_kwargs = {k: dev(v) for k, v in kwargs.items()}
        row = {"case": case.id, "op": case.op, "dtype": name}
        try:
            expected = _leaves(case.function()(*args, **kwargs))
            got = _leaves(case.function()(*device_args, **device_kwargs))
            # Results, and the arguments too: in-place ops (optimizer steps, running
            # statistics) return None and update their arrays on both sides alike.
            pairs = [(g, e) for g, e in zip(got, expected) if e is not None]
            host_args = [*args, *kwargs.values()]
            pairs += [
                (d, h)
                for h, d in zip(host_args, [*device_args, *device_kwargs.values()])
                if isinstance(h, np.ndarray)
            ]
            error = max(_max_error(_backend.to_host(g), np.asarray(e)) for g, e in pairs)
            row.update(error=error, passed=bool(error <= RTOL[name]))
        except Exception as exc:  # a failing case is a finding, not the end of the run
            row.update(error=None, passed=False, exception=repr(exc))
        rows.append(row)
    failed = [f"{r['case']}[{r['dtype']}]" for r in rows if not r["passed"]]
    return {"cases": rows, "count": len(rows), "failed": failed, "passed": not failed}


# --- (b) training ---------------------------------------------------------------------------


def _tiny_image_folder(folder: Path) -> None:
    """Two training and two validation 3-vs-7 images in fastai's layout."""
    from PIL import Image

    from numbaconv import datasets

    for split in ("train", "valid"):
        images, labels = datasets.mnist_sample(split)
        for label, vocab in enumerate(datasets.MNIST_SAMPLE_VOCAB):
            first = int((labels == label).nonzero()[0][0])
            target = folder / split / str(vocab)
            target.mkdir(parents=True)
            Image.fromarray(images[first].reshape(28, 28)).save(target / "0.png")


def _train(arguments: list[str], threshold: float | None, timeout_s: float) -> dict:
    command = [sys.executable, "-m", "numbaconv.cli", "train", "--device", "cuda", *arguments]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return {"command": command, "passed": False, "error": f"timed out ({timeout_s} s)"}
    found = re.search(r"^validation accuracy ([0-9.]+)", done.stdout, re.MULTILINE)
    accuracy = float(found.group(1)) if found else None
    passed = done.returncode == 0 and accuracy is not None
    if threshold is not None:
        passed = passed and accuracy >= threshold
    return {
        "command": " ".join(command[1:]),
        "returncode": done.returncode,
        "accuracy": accuracy,
        "threshold": threshold,
        "seconds": round(time.perf_counter() - start, 1),
        "passed": passed,
        "output_tail": (done.stdout + done.stderr)[-1500:],
    }


def run_training(simulate: bool) -> dict:
    if simulate:
        with tempfile.TemporaryDirectory() as tmp:
            _tiny_image_folder(Path(tmp))
            tiny = ["--data", tmp, "--epochs", "1", "--bs", "2"]
            # The simulator runs one OS thread per CUDA thread: minutes for one step.
            runs = {"3v7-tiny": _train(tiny, None, 4 * TRAIN_TIMEOUT_S)}
    else:
        runs = {
            "3v7": _train([], ACCURACY_3V7, TRAIN_TIMEOUT_S),
            "10-class-bn": _train(RECIPE_10_CLASS, None, TRAIN_TIMEOUT_S),
        }
    return {"runs": runs, "passed": all(r["passed"] for r in runs.values())}


# --- (c) timings ----------------------------------------------------------------------------


def _median_ms(fn, repeats: int, warmup: int, torch=None) -> float:
    """Median over ``repeats`` samples of one call, timed by CUDA events on the default stream
    after warm-up calls (compilation, cuDNN's algorithm search)."""
    from numba import cuda

    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        if torch is not None:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            start, end = cuda.event(), cuda.event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
    samples.sort()
    return samples[len(samples) // 2]


# Simulator stand-ins: the same code paths on inputs the simulator runs in seconds.
SIMULATED_TIMINGS = dict(
    conv_shapes=[("tiny", 2, 2, 3, 6, 3, 2, 1)],
    pool_shape=(1, 2, 4, 4),
    step=(2, 4, "tiny"),
)


def _peer(torch):
    """``(torch or None, why there is no peer or None)``; sets cuDNN to its fastest float32."""
    if torch is None:
        return None, "PyTorch is not installed"
    if not torch.cuda.is_available():
        return None, "PyTorch has no CUDA device"
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch, None


def run_timings(simulate: bool, repeats: int, budget_s: float) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_check_cases import timing_cases

    peer, peer_problem = _peer(_torch())
    shapes = SIMULATED_TIMINGS if simulate else {"conv_shapes": CONV_SHAPES}
    warmup = 0 if simulate else 3  # the simulator compiles nothing: no warm-up to pay for
    deadline = time.perf_counter() + budget_s
    rows = []
    for case in timing_cases(peer, **shapes):
        row = {"name": case.name, "gflop": case.flops / 1e9 if case.flops else None}
        rows.append(row)
        if time.perf_counter() > deadline:
            row["skipped"] = "time budget spent"
            continue
        try:
            row["numbaconv_ms"] = _median_ms(case.ours, repeats, warmup)
            row["torch_ms"] = None
            if case.peer is None:
                row["torch"] = peer_problem or "no peer row"
            else:
                row["torch_ms"] = _median_ms(case.peer, repeats, warmup, peer)
                row["ratio"] = row["numbaconv_ms"] / row["torch_ms"]
        except Exception as exc:  # one broken case must not cost the other rows
            row["exception"] = repr(exc)
    failed = [row["name"] for row in rows if "exception" in row]
    return {
        "rows": rows,
        "repeats": repeats,
        "peer": peer_problem or "torch + cuDNN",
        "failed": failed,
        "passed": not failed,
    }


# --- report ---------------------------------------------------------------------------------


def _ms(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _gflops(gflop, ms) -> str:
    return "-" if not gflop or not ms else f"{gflop / (ms / 1e3):.1f}"


def markdown(report: dict) -> str:
    info = report["device"]
    lines = [
        "# numbaconv GPU check",
        "",
        f"Device: {info.get('name', 'CUDA simulator')}; numba {info['numba']}, numba-cuda "
        f"{info['numba_cuda']}, torch {info['torch']}, cuDNN {info['cudnn']}.",
        "",
    ]
    parity = report.get("parity", {})
    if "count" in parity:
        failed = ", ".join(parity["failed"]) or "none"
        lines += [
            f"Parity with the CPU kernels: {parity['count']} case runs, failed: {failed}.",
            "",
        ]
    for name, run in report.get("training", {}).get("runs", {}).items():
        needs = f" (needs >= {run['threshold']})" if run.get("threshold") else ""
        lines.append(
            f"Training {name}: validation accuracy {run.get('accuracy')}{needs}, "
            f"{run.get('seconds')} s, {'passed' if run['passed'] else 'FAILED'}."
        )
    for key in ("parity", "training", "timings"):
        if "exception" in report.get(key, {}):
            lines += ["", f"Section {key} failed:", "", "```", report[key]["exception"], "```"]
    timings = report.get("timings", {})
    if "rows" in timings:
        lines += [
            "",
            f"Median of {timings['repeats']} CUDA-event samples after warm-up; peer: "
            f"{timings['peer']} (cuDNN benchmark mode, TF32 off); float32. 'kernel' rows call "
            "the launcher into preallocated outputs, the others the public op (which allocates).",
            "",
            "| case | numbaconv ms | GFLOP/s | torch ms | GFLOP/s | numbaconv / torch |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in timings["rows"]:
            ours, peer = row.get("numbaconv_ms"), row.get("torch_ms")
            note = row.get("skipped") or row.get("exception") or row.get("torch")
            ratio = f"{row['ratio']:.2f}" if "ratio" in row else (note or "-")
            lines.append(
                f"| {row['name']} | {_ms(ours)} | {_gflops(row['gflop'], ours)} | "
                f"{_ms(peer)} | {_gflops(row['gflop'], peer)} | {ratio} |"
            )
    return "\n".join(lines) + "\n"


def _section(report: dict, key: str, fn, *args) -> None:
    started = time.perf_counter()
    try:
        report[key] = fn(*args)
    except Exception:
        report[key] = {"passed": False, "exception": traceback.format_exc()}
    report[key]["seconds"] = round(time.perf_counter() - started, 1)
    print(f"[gpu_check] {key}: {report[key]['seconds']} s", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the JSON and table")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="run in the CUDA simulator: (a) one case per op, (b) one step on two images, "
        "(c) on tiny shapes with 2 samples (checks the plumbing; the times mean nothing)",
    )
    parser.add_argument("--repeats", type=int, default=25, help="timed samples per case (>= 20)")
    parser.add_argument(
        "--timing-budget",
        type=float,
        default=150.0,
        help="seconds after which remaining timing cases are skipped",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["parity", "training", "timings"])
    args = parser.parse_args(argv)
    _environment(args.simulate)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"device": _device_info(args.simulate), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    sections = {
        "parity": (run_parity, args.simulate),
        "training": (run_training, args.simulate),
        "timings": (run_timings, args.simulate, 2 if args.simulate else max(args.repeats, 20),
                    args.timing_budget),
    }  # fmt: skip
    for key, (fn, *fn_args) in sections.items():
        if key not in args.skip:
            _section(report, key, fn, *fn_args)
            # Written after every section: a run stopped by a time limit keeps what it measured.
            report["passed"] = all(report[k]["passed"] for k in sections if k in report)
            _write(report, args.out)
    print(markdown(report))
    return 0 if report.get("passed", False) else 1


def _write(report: dict, out: Path) -> None:
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "gpu_check.md").write_text(markdown(report))


if __name__ == "__main__":
    sys.exit(main())
