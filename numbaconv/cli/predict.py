"""``numbaconv predict FOLDER``: classify every image under folders, in batches, in-process or
on Dask (threads, a local cluster of processes, or a running scheduler), and write a CSV.

Images are read by the same function as single-file ``predict`` (:func:`_read_digit` in
``examine``), inside the tasks: on a cluster, the workers must see the same files.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .common import CommandError

#: File name endings read as images (Pillow reads them all).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def image_files(locations) -> list[str]:
    """Image files named by ``locations``: files as given, folders searched recursively for
    :data:`IMAGE_SUFFIXES`; sorted, without repeats."""
    found = set()
    for location in locations:
        if not os.path.isdir(location):
            found.add(location)
            continue
        for folder, _, names in os.walk(location):
            found.update(
                os.path.join(folder, name)
                for name in names
                if name.lower().endswith(IMAGE_SUFFIXES)
            )
    if not found:
        raise CommandError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {locations}")
    return sorted(found)


def predict_files(paths, model, normalize, resize, invert, size, channels) -> np.ndarray:
    """Class probabilities, float32 (len(paths), K), of the images at ``paths`` (one task),
    read at the model's image ``size`` (H, W) and ``channels`` as single-file predict reads them."""
    from types import SimpleNamespace

    from .._batch_predict import probabilities
    from .examine import _read_digit

    takes = SimpleNamespace(size=tuple(size), channels=channels)
    images = np.stack([_read_digit(path, resize, invert, takes) for path in paths])
    return probabilities(model, images, normalize, batch_size=len(paths))


class _Progress:
    """A one-line text progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, total: int, what: str):
        self.total, self.done, self.what = total, 0, what
        self.live = sys.stderr.isatty()
        self._draw(force=False)

    def update(self, count: int = 1) -> None:
        self.done += count
        self._draw(force=self.done == self.total)

    def _draw(self, force: bool) -> None:
        if not (self.live or force):
            return
        filled = 30 * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (30 - filled)
        end = "\n" if self.done == self.total else ""
        start = "\r" if self.live else ""
        print(f"{start}[{bar}] {self.done}/{self.total} {self.what}", end=end, file=sys.stderr)


def run_folder_predict(args, saved) -> int:
    """Classify the images under ``args.images``; write ``args.out`` (or stdout) as CSV."""
    paths = image_files(args.images)
    batches = [paths[i : i + args.bs] for i in range(0, len(paths), args.bs)]
    options = {
        "normalize": saved.normalize,
        "resize": args.resize,
        "invert": args.invert,
        "size": saved.size,
        "channels": saved.channels,
    }
    progress = _Progress(len(batches), f"batches of up to {args.bs} images")
    if args.scheduler is None:
        results = []
        for batch in batches:
            results.append(predict_files(batch, saved.model, **options))
            progress.update()
    else:
        results = _on_dask(args.scheduler, batches, saved.model, options, progress)
    probs = np.concatenate(results)
    indices = probs.argmax(axis=1)
    rows = [(path, saved.vocab[i], float(p[i])) for path, i, p in zip(paths, indices, probs)]
    _write_csv(args.out, rows)
    _report_accuracy(rows, saved.vocab, args.out)
    return 0


def _on_dask(scheduler, batches, model, options, progress):
    try:
        import dask
    except ImportError:
        raise CommandError("--scheduler needs Dask: pip install 'numbaconv[dask]'") from None
    from ..dask.batch import _shared

    if scheduler == "threads":
        from dask.callbacks import Callback

        shared = dask.delayed(model, pure=False)
        tasks = [dask.delayed(predict_files)(batch, shared, **options) for batch in batches]
        names = {task.key for task in tasks}

        class _Bar(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                if key in names:
                    progress.update()

        with _Bar():
            return list(dask.compute(*tasks, scheduler="threads"))
    from distributed import Client, as_completed

    from ..dask import local_client

    if scheduler == "processes":
        client = local_client(n_workers=min(os.cpu_count() or 1, 4))
        cluster = client.cluster
    else:
        cluster, client = None, Client(scheduler)
    try:
        shared = _shared(model)  # scattered to every worker once
        futures = [
            client.submit(predict_files, batch, shared, pure=False, **options) for batch in batches
        ]
        for _ in as_completed(futures):
            progress.update()
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _write_csv(out, rows) -> None:
    import csv

    stream = open(out, "w", newline="") if out else sys.stdout
    try:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(("path", "label", "probability"))
        writer.writerows((path, label, f"{p:.6f}") for path, label, p in rows)
    finally:
        if out:
            stream.close()


def _report_accuracy(rows, vocab, out) -> None:
    """The accuracy when every image's folder is named after one of the model's classes."""
    stream = sys.stdout if out else sys.stderr  # keep a CSV on stdout clean
    truths = [os.path.basename(os.path.dirname(path)) for path, _, _ in rows]
    where = f"; predictions in {out}" if out else ""
    if not all(truth in vocab for truth in truths):
        print(f"{len(rows)} images{where} (no accuracy: not every folder is a class)", file=stream)
        return
    correct = sum(truth == label for truth, (_, label, _) in zip(truths, rows))
    print(
        f"{len(rows)} images{where}; accuracy {correct / len(rows):.6f} "
        f"({correct} of {len(rows)}, labels from the folder names)",
        file=stream,
    )
