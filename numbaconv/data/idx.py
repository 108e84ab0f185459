"""IDX files, the format MNIST and Fashion-MNIST ship in (``*-ubyte``, raw or gzipped).

Layout (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number ``0x00 0x00 <type> <ndim>``,
then ``ndim`` big-endian uint32 dimension sizes, then the data, big-endian, in C order.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "IDX_DTYPES",
    "IDXFormatError",
    "idx_folder_dataset",
    "load_idx_dataset",
    "read_idx",
]

#: IDX type code -> big-endian NumPy dtype of the stored values.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """An IDX file that is malformed, or two IDX files that do not belong together."""


def _read_bytes(name: str) -> bytes:
    with open(name, "rb") as file:
        raw = file.read()
    # Detect by content: MNIST mirrors serve gzipped files both with and without ".gz".
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXFormatError(
            f"IDX file {name!r} starts like gzip but cannot be decompressed: {exc}"
        ) from exc


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip compression is detected from the first two bytes, whatever the name.

    Returns
    -------
    ndarray, shape given by the header
        dtype uint8, int8, int16, int32, float32 or float64 (type codes 0x08, 0x09, 0x0B, 0x0C,
        0x0D, 0x0E), in native byte order, C-contiguous and writable.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IDXFormatError
        (a ValueError) naming the file: bad magic bytes, an unknown type code, a header or data
        shorter than the header says (truncated), bytes after the data (trailing garbage), or a
        corrupt gzip stream.

    Examples
    --------
    >>> images = read_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    name = os.fspath(path)
    raw = _read_bytes(name)
    if len(raw) < 4:
        raise IDXFormatError(
            f"IDX file {name!r} is truncated: {len(raw)} bytes, fewer than the 4-byte magic number"
        )
    if raw[0] != 0 or raw[1] != 0:
        raise IDXFormatError(
            f"IDX file {name!r} has bad magic bytes {raw[:4].hex(' ')}; an IDX file starts with "
            "00 00 <type> <ndim>"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IDXFormatError(
            f"IDX file {name!r} has unknown type code 0x{type_code:02X}; expected one of {known}"
        )
    if ndim == 0:
        raise IDXFormatError(f"IDX file {name!r} declares 0 dimensions; expected at least 1")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise IDXFormatError(
            f"IDX file {name!r} is truncated: its header needs {header_size} bytes for {ndim} "
            f"dimensions but the file has {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    data_size = math.prod(shape) * dtype.itemsize
    available = len(raw) - header_size
    if available < data_size:
        raise IDXFormatError(
            f"IDX file {name!r} is truncated: dimensions {shape} of {dtype.newbyteorder('=')} "
            f"need {data_size} data bytes but only {available} follow the header"
        )
    if available > data_size:
        raise IDXFormatError(
            f"IDX file {name!r} has {available - data_size} bytes of trailing garbage after the "
            f"{data_size} data bytes that dimensions {shape} of {dtype.newbyteorder('=')} need"
        )
    values = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header_size)
    # astype copies, which also makes the result writable (frombuffer views read-only bytes).
    return values.astype(dtype.newbyteorder("="), order="C").reshape(shape)


def load_idx_dataset(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """Read an images IDX file and its labels IDX file, checking that they belong together.

    Parameters
    ----------
    images_path : str or os.PathLike
        IDX file of images, shape (N, H, W) (as MNIST) or (N, C, H, W).
    labels_path : str or os.PathLike
        IDX file of integer labels, shape (N,).

    Returns
    -------
    images : ndarray, shape (N, H, W) or (N, C, H, W)
        As stored (uint8 for MNIST and Fashion-MNIST).
    labels : ndarray of int64, shape (N,)

    Raises
    ------
    IDXFormatError
        (a ValueError) naming the file: anything :func:`read_idx` refuses, images that are not
        3-D or 4-D, labels that are not 1-D integers, or a label count that differs from the
        image count.
    """
    images_name, labels_name = os.fspath(images_path), os.fspath(labels_path)
    images = read_idx(images_name)
    labels = read_idx(labels_name)
    if images.ndim not in (3, 4):
        raise IDXFormatError(
            f"images IDX file {images_name!r} has shape {images.shape}; expected (N, H, W) or "
            "(N, C, H, W)"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise IDXFormatError(
            f"labels IDX file {labels_name!r} holds {labels.dtype} of shape {labels.shape}; "
            "expected integers of shape (N,)"
        )
    if labels.shape[0] != images.shape[0]:
        raise IDXFormatError(
            f"labels IDX file {labels_name!r} has {labels.shape[0]} labels but images IDX file "
            f"{images_name!r} has {images.shape[0]} images"
        )
    return images, labels.astype(np.int64)


# Standard names of MNIST and Fashion-MNIST, with and without ".gz".
_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "valid": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder: Path, stem: str) -> Path:
    candidates = [folder / (stem + suffix) for suffix in ("", ".gz")]
    present = [c for c in candidates if c.is_file()]
    if not present:
        raise FileNotFoundError(
            f"IDX folder {os.fspath(folder)!r} has no file {stem!r} or {stem + '.gz'!r}"
        )
    if len(present) > 1:
        raise IDXFormatError(
            f"IDX folder {os.fspath(folder)!r} holds both {stem!r} and {stem + '.gz'!r}; "
            "remove one so that it is clear which to read"
        )
    return present[0]


def idx_folder_dataset(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a folder holding MNIST's four IDX files (raw or ``.gz``), named as MNIST names them.

    Parameters
    ----------
    path : str or os.PathLike
        A folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally ending ``.gz``.

    Returns
    -------
    dict
        ``{"train": (images, labels), "valid": (images, labels)}`` as :func:`load_idx_dataset`
        returns them; the ``t10k`` files are the validation split.

    Raises
    ------
    FileNotFoundError
        If the folder or one of the files is missing.
    IDXFormatError
        As :func:`load_idx_dataset`, or if a file is present both raw and gzipped.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"IDX folder {os.fspath(folder)!r} does not exist")
    return {
        split: load_idx_dataset(_find(folder, images_stem), _find(folder, labels_stem))
        for split, (images_stem, labels_stem) in _IDX_NAMES.items()
    }
