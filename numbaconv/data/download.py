"""Download files with checksum verification, and fetch and unpack fastai's MNIST archives.

A download streams into a temporary file beside its destination, is checked (size, SHA-256,
MD5), and only then moved into place with :func:`os.replace`, so a failed, partial or wrong
download never replaces a good file and never leaves a temporary file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import numbers
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "SOURCES",
    "ChecksumError",
    "DataSource",
    "DownloadError",
    "UnsafeArchiveError",
    "default_data_root",
    "download",
    "untar_data",
]

_CHUNK = 1 << 20
# Smaller reads while a progress bar shows, so that it moves on a 15 MB archive.
_PROGRESS_CHUNK = 1 << 16


class DownloadError(OSError):
    """A download that failed: HTTP error, network error, or a transfer cut short."""


class ChecksumError(DownloadError):
    """Downloaded bytes whose size or hash differs from the expected value."""


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the extraction folder, or is not a plain entry."""


class DataSource(NamedTuple):
    """A named archive: where it lives and what its bytes must be."""

    url: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


#: Named archives for :func:`untar_data`. Sizes and MD5 digests are those recorded in fastai's
#: ``fastai/data/checks.txt`` (github.com/fastai/fastai, commit 29be53d7), which is how fastai
#: itself verifies these files; fastai records no SHA-256 for them.
SOURCES = {
    "MNIST_SAMPLE": DataSource(
        "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz",
        size=3214948,
        md5="2dbc7ec6f9259b583af0072c55816a88",
    ),
    "MNIST": DataSource(
        "https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz",
        size=15683414,
        md5="03639f83c4e3d19e0a3a53a8a997c487",
    ),
}


def default_data_root() -> Path:
    """Where :func:`untar_data` keeps data: ``$NUMBACONV_DATA`` or ``~/.numbaconv/data``."""
    configured = os.environ.get("NUMBACONV_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".numbaconv" / "data"


def _check_hex(name: str, value, length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", value):
        raise ValueError(f"{name} must be a {length}-digit hexadecimal digest, got {value!r}")
    return value.lower()


def _check_url(url) -> str:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
    return url


class _Expected(NamedTuple):
    size: int | None
    sha256: str | None
    md5: str | None

    def mismatch(self, size: int, sha256: str, md5: str) -> str | None:
        """A description of the first check that fails, or None when all pass."""
        if self.size is not None and size != self.size:
            return f"size is {size} bytes, expected {self.size}"
        if self.sha256 is not None and sha256 != self.sha256:
            return f"SHA-256 is {sha256}, expected {self.sha256}"
        if self.md5 is not None and md5 != self.md5:
            return f"MD5 is {md5}, expected {self.md5}"
        return None


def _digest_file(path: Path) -> tuple[int, str, str]:
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha256.hexdigest(), md5.hexdigest()


def _progress_bar(total: int, name: str):
    """fastprogress's bar over ``total`` bytes (as fastai's downloads show), or None without it."""
    try:
        from fastprogress.fastprogress import progress_bar
    except ImportError:  # the bar is a courtesy; the download does not need it
        return None
    bar = progress_bar(range(total))
    bar.comment = name
    bar.update(0)  # starts the clock; later updates need it
    return bar


def _fetch(url: str, temp, timeout: float, progress: bool = False) -> tuple[int, str, str]:
    """Stream ``url`` into the open file ``temp``; return (size, sha256, md5) of what came."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced is not None and announced.isdigit() else None
            bar = _progress_bar(total, os.path.basename(url)) if progress and total else None
            while chunk := response.read(_CHUNK if bar is None else _PROGRESS_CHUNK):
                temp.write(chunk)
                sha256.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                if bar is not None:
                    bar.update(min(size, total))
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection open until garbage-collected otherwise
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"download of {url} failed: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, IncompleteRead
        raise DownloadError(
            f"download of {url} failed after {size} bytes: {type(exc).__name__}: {exc}"
        ) from exc
    # http.client returns a short body without complaint when the server closes early.
    if announced is not None and announced.isdigit() and size != int(announced):
        raise DownloadError(
            f"download of {url} was cut short: received {size} of {announced} bytes"
        )
    return size, sha256.hexdigest(), md5.hexdigest()


def download(url, dest, sha256=None, md5=None, size=None, timeout=30, progress=False) -> Path:
    """Download ``url`` to the file ``dest``, verifying it before it replaces anything.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL.
    dest : str or os.PathLike
        The file to write; its folder is created if needed.
    sha256, md5 : str, optional
        Expected hexadecimal digests of the file (prefer SHA-256; MD5 is accepted because some
        publishers, fastai among them, record only MD5).
    size : int, optional
        Expected size in bytes.
    timeout : float
        Seconds to wait for the server on each network operation.
    progress : bool, default False
        Show a fastprogress bar (as fastai's downloads do) while the bytes arrive.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Notes
    -----
    If ``dest`` already exists and passes every check given, it is kept and nothing is
    downloaded (with no check given, any existing file is kept). Otherwise the body is
    streamed into a temporary file in ``dest``'s folder, checked against the announced
    ``Content-Length`` and the given checks, and moved into place with :func:`os.replace` only
    when all pass. On any failure the temporary file is removed and an existing ``dest`` is
    left untouched.

    Raises
    ------
    DownloadError
        (an OSError) on an HTTP error (e.g. 404), a network error or a truncated transfer.
    ChecksumError
        (a DownloadError) if the size or a digest differs from the expected value.
    ValueError
        If ``url`` is not http(s), a digest is not hexadecimal of the right length, ``size`` is
        negative or ``timeout`` is not positive; TypeError for arguments of the wrong type.
    """
    url = _check_url(url)
    expected = _Expected(
        None if size is None else _check_size(size),
        _check_hex("sha256", sha256, 64),
        _check_hex("md5", md5, 32),
    )
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    dest = Path(dest)
    if dest.is_dir():
        raise IsADirectoryError(f"dest {os.fspath(dest)!r} is a folder; expected a file path")
    if dest.is_file() and expected.mismatch(*_digest_file(dest)) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as temp:
            got = _fetch(url, temp, float(timeout), bool(progress))
            temp.flush()
            os.fsync(temp.fileno())
        problem = expected.mismatch(*got)
        if problem is not None:
            raise ChecksumError(
                f"download of {url} is not the expected file: {problem}; "
                f"{os.fspath(dest)!r} was left as it was"
            )
        os.replace(temp_name, dest)
    except BaseException:
        # Also on KeyboardInterrupt: a half-written temporary file must not stay behind.
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    return dest


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"size must be an integer number of bytes, got {size!r}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return int(size)


_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar")


def _archive_stem(filename: str) -> str:
    lowered = filename.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    raise ValueError(
        f"archive name {filename!r} does not end in one of {_ARCHIVE_SUFFIXES}; expected a tar "
        "archive"
    )


def _within(root: str, target: str) -> bool:
    return os.path.commonpath([root, target]) == root


def _check_members(archive: tarfile.TarFile, archive_name: str, dest: str, shown: str) -> None:
    """Refuse members escaping ``dest`` (absolute paths, ``..``, outward links) or devices.

    Messages name ``shown``, the folder the user asked for, not the temporary ``dest``.
    """
    root = os.path.realpath(dest)
    for member in archive.getmembers():
        target = os.path.realpath(os.path.join(root, member.name))
        if os.path.isabs(member.name) or not _within(root, target):
            raise UnsafeArchiveError(
                f"archive {archive_name!r} member {member.name!r} would be written outside "
                f"the extraction folder {shown!r}"
            )
        if member.issym() or member.islnk():
            base = os.path.dirname(target) if member.issym() else root
            link_target = os.path.realpath(os.path.join(base, member.linkname))
            if os.path.isabs(member.linkname) or not _within(root, link_target):
                raise UnsafeArchiveError(
                    f"archive {archive_name!r} member {member.name!r} links to "
                    f"{member.linkname!r}, outside the extraction folder {shown!r}"
                )
        elif not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"archive {archive_name!r} member {member.name!r} is a device, FIFO or other "
                f"special file; only files, folders and links are extracted (into {shown!r})"
            )


def _extract(archive_path: Path, final: Path) -> None:
    """Unpack into a temporary folder beside ``final``, then rename it into place."""
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part"))
    try:
        try:
            archive = tarfile.open(archive_path, "r:*")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise UnsafeArchiveError(
                f"archive {os.fspath(archive_path)!r} cannot be read as a tar file: {exc}"
            ) from exc
        with archive:
            _check_members(archive, os.fspath(archive_path), os.fspath(staging), os.fspath(final))
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: a second guard
                archive.extractall(staging, filter="data")
            else:
                archive.extractall(staging)  # members were checked above
        entries = [e for e in staging.iterdir() if not e.name.startswith("._")]
        # fastai's archives hold one top folder (mnist_sample/, mnist_png/): use it as the root.
        content = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        os.replace(content, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _source(name_or_url) -> DataSource:
    """The :class:`DataSource` of a name in :data:`SOURCES` or of an http(s) URL."""
    if not isinstance(name_or_url, str):
        raise TypeError(f"name_or_url must be a source name or URL string, got {name_or_url!r}")
    if urllib.parse.urlsplit(name_or_url).scheme in ("http", "https"):
        return DataSource(name_or_url)
    key = name_or_url.upper()
    if key not in SOURCES:
        raise KeyError(
            f"unknown data source {name_or_url!r}; expected one of {sorted(SOURCES)} or an "
            "http(s) URL"
        )
    return SOURCES[key]


def untar_data(
    name_or_url,
    dest_root=None,
    *,
    sha256=None,
    md5=None,
    size=None,
    timeout=30,
    progress=False,
) -> Path:
    """Download (once) and unpack a tar archive, as fastai's ``untar_data``.

    Parameters
    ----------
    name_or_url : str
        A key of :data:`SOURCES` (``"MNIST_SAMPLE"``, ``"MNIST"``; case-insensitive), whose
        recorded size and MD5 are checked, or an ``http(s)://`` URL of a ``.tgz``/``.tar.gz``/
        ``.tar`` (or ``.bz2``/``.xz``) archive.
    dest_root : str or os.PathLike, optional
        Folder for the data; default :func:`default_data_root` (``$NUMBACONV_DATA`` or
        ``~/.numbaconv/data``). The archive is kept in ``dest_root/archive/`` and unpacked into
        ``dest_root/<archive name without suffix>``.
    sha256, md5, size : optional
        Checks for the download (for a named source, each one given replaces the recorded
        value). See :func:`download`.
    timeout : float
        Seconds to wait for the server on each network operation.
    progress : bool, default False
        Show a progress bar while downloading.

    Returns
    -------
    pathlib.Path
        The unpacked folder. If the archive holds a single top-level folder, that folder's
        contents are what the returned path holds (``mnist_png/training/...`` becomes
        ``<dest_root>/mnist_png/training/...``).

    Notes
    -----
    If the unpacked folder already exists it is returned without any download. Unpacking goes
    to a temporary folder renamed into place at the end, so an interrupted run leaves no
    half-filled data folder. Every member is checked first: absolute paths, ``..`` escapes,
    links pointing outside the folder and device files are refused.

    Raises
    ------
    KeyError
        For an unknown source name.
    DownloadError, ChecksumError
        As :func:`download`.
    UnsafeArchiveError
        (a ValueError) naming the archive and member that would escape the folder, or if the
        file is not a readable tar archive.
    """
    source = _source(name_or_url)
    filename = os.path.basename(urllib.parse.urlsplit(source.url).path)
    stem = _archive_stem(filename)
    root = Path(default_data_root() if dest_root is None else dest_root)
    final = root / stem
    if final.is_dir():
        return final
    archive_path = download(
        source.url,
        root / "archive" / filename,
        sha256=sha256 if sha256 is not None else source.sha256,
        md5=md5 if md5 is not None else source.md5,
        size=size if size is not None else source.size,
        timeout=timeout,
        progress=progress,
    )
    _extract(archive_path, final)
    return final
