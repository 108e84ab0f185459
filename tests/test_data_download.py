"""download() and untar_data() against a local http.server on 127.0.0.1: never the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading

import pytest

from numbaconv.data.download import (
    SOURCES,
    ChecksumError,
    DataSource,
    DownloadError,
    UnsafeArchiveError,
    default_data_root,
    download,
    untar_data,
)

PAYLOAD = bytes(range(256)) * 40 + b"end"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Server:
    """Serves ``root`` over HTTP; ``/truncated/<name>`` announces twice the bytes it sends."""

    def __init__(self, root):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=os.fspath(root), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/truncated/"):
                    body = (root / self.path.removeprefix("/truncated/")).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(2 * len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                    return
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "file.bin").write_bytes(PAYLOAD)
    serving = Server(root)
    yield serving
    serving.close()
    assert not serving.thread.is_alive()


@pytest.fixture
def dest_dir(tmp_path):
    folder = tmp_path / "dest"
    folder.mkdir()
    return folder


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_download_success_with_sha256(server, dest_dir):
    dest = dest_dir / "file.bin"
    result = download(server.url("file.bin"), dest, sha256=sha256_of(PAYLOAD), timeout=10)
    assert result == dest and dest.read_bytes() == PAYLOAD
    assert leftovers(dest_dir) == []


def test_download_progress_bar_counts_the_bytes(server, dest_dir, capsys):
    # PAYLOAD is 10,243 bytes: the bar (fastprogress, as fastai's downloads) ends at all of them.
    dest = dest_dir / "file.bin"
    download(server.url("file.bin"), dest, sha256=sha256_of(PAYLOAD), progress=True)
    assert dest.read_bytes() == PAYLOAD
    out = capsys.readouterr().out
    assert f"100.00% [{len(PAYLOAD)}/{len(PAYLOAD)}" in out and "file.bin" in out


def test_download_with_md5_and_size_and_new_folder(server, tmp_path):
    dest = tmp_path / "new" / "deeper" / "file.bin"
    download(server.url("file.bin"), dest, md5=md5_of(PAYLOAD).upper(), size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


def test_existing_good_file_is_not_downloaded_again(server, dest_dir):
    dest = dest_dir / "file.bin"
    download(server.url("file.bin"), dest, sha256=sha256_of(PAYLOAD))
    assert server.requests == ["/file.bin"]
    download(server.url("file.bin"), dest, sha256=sha256_of(PAYLOAD))
    download(server.url("file.bin"), dest, md5=md5_of(PAYLOAD), size=len(PAYLOAD))
    assert server.requests == ["/file.bin"]


def test_existing_bad_file_is_replaced(server, dest_dir):
    dest = dest_dir / "file.bin"
    dest.write_bytes(b"stale")
    download(server.url("file.bin"), dest, sha256=sha256_of(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and server.requests == ["/file.bin"]


def test_checksum_mismatch_keeps_the_old_file(server, dest_dir):
    dest = dest_dir / "file.bin"
    dest.write_bytes(b"old good data")
    wanted = sha256_of(b"a third content")
    with pytest.raises(ChecksumError, match="SHA-256") as info:
        download(server.url("file.bin"), dest, sha256=wanted)
    assert isinstance(info.value, OSError)
    assert sha256_of(PAYLOAD) in str(info.value) and wanted in str(info.value)
    assert dest.read_bytes() == b"old good data"
    assert leftovers(dest_dir) == []


def test_md5_and_size_mismatch(server, dest_dir):
    dest = dest_dir / "file.bin"
    with pytest.raises(ChecksumError, match="MD5"):
        download(server.url("file.bin"), dest, md5=md5_of(b"other"))
    with pytest.raises(ChecksumError, match=f"size is {len(PAYLOAD)} bytes, expected 5"):
        download(server.url("file.bin"), dest, size=5)
    assert not dest.exists() and leftovers(dest_dir) == []


def test_truncated_transfer_keeps_the_old_file(server, dest_dir):
    dest = dest_dir / "file.bin"
    with pytest.raises(DownloadError, match=f"received {len(PAYLOAD)} of {2 * len(PAYLOAD)}"):
        download(server.url("truncated/file.bin"), dest, timeout=10)
    assert not dest.exists() and leftovers(dest_dir) == []
    # An existing file that fails its check is only replaced by a complete, verified download.
    dest.write_bytes(b"old data")
    with pytest.raises(DownloadError, match="cut short"):
        download(server.url("truncated/file.bin"), dest, sha256=sha256_of(PAYLOAD))
    assert dest.read_bytes() == b"old data"
    assert leftovers(dest_dir) == []
    assert server.requests == ["/truncated/file.bin"] * 2


def test_existing_file_is_kept_when_no_check_is_given(server, dest_dir):
    dest = dest_dir / "file.bin"
    dest.write_bytes(b"whatever")
    download(server.url("file.bin"), dest)
    assert dest.read_bytes() == b"whatever" and server.requests == []


def test_404(server, dest_dir):
    dest = dest_dir / "missing.bin"
    with pytest.raises(DownloadError, match="404") as info:
        download(server.url("missing.bin"), dest)
    assert "missing.bin" in str(info.value)
    assert not dest.exists() and leftovers(dest_dir) == []


def test_connection_refused(dest_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="failed"):
        download(f"http://127.0.0.1:{port}/x", dest_dir / "x", timeout=5)
    assert list(dest_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"url": "ftp://example.com/x"}, ValueError, "url"),
        ({"url": "file:///etc/passwd"}, ValueError, "url"),
        ({"url": 3}, ValueError, "url"),
        ({"sha256": "abc"}, ValueError, "sha256"),
        ({"sha256": "g" * 64}, ValueError, "sha256"),
        ({"md5": "0" * 31}, ValueError, "md5"),
        ({"size": -1}, ValueError, "size"),
        ({"size": 1.5}, TypeError, "size"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "10"}, ValueError, "timeout"),
    ],
)
def test_bad_arguments(dest_dir, kwargs, error, match):
    arguments = {"url": "http://127.0.0.1:9/x", "dest": dest_dir / "x"} | kwargs
    with pytest.raises(error, match=match):
        download(**arguments)


def test_dest_that_is_a_folder(server, dest_dir):
    with pytest.raises(IsADirectoryError, match="folder"):
        download(server.url("file.bin"), dest_dir)


def make_tgz(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path.read_bytes()


def test_untar_data_from_url(server, tmp_path):
    data = make_tgz(
        server.root / "tiny_sample.tgz",
        {"tiny_sample/train/3/a.png": b"aa", "tiny_sample/valid/7/b.png": b"bbb"},
    )
    root = tmp_path / "data"
    path = untar_data(server.url("tiny_sample.tgz"), dest_root=root, sha256=sha256_of(data))
    assert path == root / "tiny_sample"
    assert (path / "train" / "3" / "a.png").read_bytes() == b"aa"
    assert (path / "valid" / "7" / "b.png").read_bytes() == b"bbb"
    assert (root / "archive" / "tiny_sample.tgz").read_bytes() == data
    assert sorted(p.name for p in root.iterdir()) == ["archive", "tiny_sample"]
    assert untar_data(server.url("tiny_sample.tgz"), dest_root=root) == path
    assert server.requests == ["/tiny_sample.tgz"]


def test_untar_data_without_single_top_folder(server, tmp_path):
    make_tgz(server.root / "flat.tar.gz", {"a.txt": b"1", "b/c.txt": b"2"})
    path = untar_data(server.url("flat.tar.gz"), dest_root=tmp_path / "data")
    assert path.name == "flat"
    assert (path / "a.txt").read_bytes() == b"1" and (path / "b" / "c.txt").read_bytes() == b"2"


def test_named_source_uses_its_recorded_checks(server, tmp_path, monkeypatch):
    data = make_tgz(server.root / "mnist_sample.tgz", {"mnist_sample/train/3/x.png": b"x"})
    fake = DataSource(server.url("mnist_sample.tgz"), size=len(data), md5=md5_of(data))
    monkeypatch.setitem(SOURCES, "MNIST_SAMPLE", fake)
    path = untar_data("mnist_sample", dest_root=tmp_path / "data")
    assert (path / "train" / "3" / "x.png").read_bytes() == b"x"

    wrong = DataSource(server.url("mnist_sample.tgz"), md5=md5_of(b"not it"))
    monkeypatch.setitem(SOURCES, "MNIST_SAMPLE", wrong)
    other_root = tmp_path / "other"
    with pytest.raises(ChecksumError, match="MD5"):
        untar_data("MNIST_SAMPLE", dest_root=other_root)
    assert not (other_root / "mnist_sample").exists()
    assert leftovers(other_root / "archive") == [] and leftovers(other_root) == []


def test_named_sources_point_at_fastai_archives():
    assert SOURCES["MNIST_SAMPLE"].url == "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz"
    assert SOURCES["MNIST"].url == "https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz"
    for source in SOURCES.values():
        assert source.size > 0 and len(source.md5) == 32


def test_default_data_root_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBACONV_DATA", os.fspath(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"
    monkeypatch.delenv("NUMBACONV_DATA")
    assert default_data_root().parts[-2:] == (".numbaconv", "data")


def unsafe_archive(path, kind: str):
    with tarfile.open(path, "w:gz") as archive:
        good = tarfile.TarInfo("evil/ok.txt")
        good.size = 2
        archive.addfile(good, io.BytesIO(b"ok"))
        if kind == "dotdot":
            bad = tarfile.TarInfo("evil/../../escaped.txt")
            bad.size = 1
            archive.addfile(bad, io.BytesIO(b"x"))
        elif kind == "absolute":
            bad = tarfile.TarInfo(os.fspath(path.parent / "absolute.txt"))
            bad.size = 1
            archive.addfile(bad, io.BytesIO(b"x"))
        elif kind == "symlink":
            bad = tarfile.TarInfo("evil/link")
            bad.type, bad.linkname = tarfile.SYMTYPE, "../../.."
            archive.addfile(bad)
        elif kind == "hardlink":
            bad = tarfile.TarInfo("evil/hard")
            bad.type, bad.linkname = tarfile.LNKTYPE, "../outside.txt"
            archive.addfile(bad)
        elif kind == "fifo":
            bad = tarfile.TarInfo("evil/fifo")
            bad.type = tarfile.FIFOTYPE
            archive.addfile(bad)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "fifo"])
def test_unsafe_archives_are_refused(server, tmp_path, kind):
    unsafe_archive(server.root / "evil.tgz", kind)
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match=r"evil\.tgz") as info:
        untar_data(server.url("evil.tgz"), dest_root=root)
    assert isinstance(info.value, ValueError)
    assert os.fspath(root / "evil") in str(info.value)
    assert sorted(p.name for p in root.iterdir()) == ["archive"]  # no data folder, no staging
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "absolute.txt").exists()
    assert not (server.root / "absolute.txt").exists()


def test_internal_symlink_is_allowed(server, tmp_path):
    with tarfile.open(server.root / "links.tgz", "w:gz") as archive:
        target = tarfile.TarInfo("links/a.txt")
        target.size = 1
        archive.addfile(target, io.BytesIO(b"a"))
        link = tarfile.TarInfo("links/b.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "a.txt"
        archive.addfile(link)
    path = untar_data(server.url("links.tgz"), dest_root=tmp_path / "data")
    assert (path / "b.txt").read_bytes() == b"a"


def test_not_a_tar_archive(server, tmp_path):
    (server.root / "fake.tgz").write_bytes(b"not a tar archive")
    with pytest.raises(UnsafeArchiveError, match="cannot be read as a tar"):
        untar_data(server.url("fake.tgz"), dest_root=tmp_path / "data")
    assert not (tmp_path / "data" / "fake").exists()


def test_untar_data_bad_names(tmp_path):
    with pytest.raises(KeyError, match="MNIST_SAMPLE"):
        untar_data("IMAGENET", dest_root=tmp_path)
    with pytest.raises(ValueError, match="does not end in"):
        untar_data("http://127.0.0.1:9/data.zip", dest_root=tmp_path)
    with pytest.raises(TypeError, match="name_or_url"):
        untar_data(None, dest_root=tmp_path)
    assert list(tmp_path.iterdir()) == []
