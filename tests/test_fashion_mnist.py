"""Fashion-MNIST: the download path against a server on 127.0.0.1, checksums, and the real files."""

from __future__ import annotations

import gzip
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import fedkd.data.fashion_mnist as fashion
from fedkd.data.fashion_mnist import CONTENT_SHA256, ChecksumError, load_fashion_mnist, locate_files

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_files = pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a folder; yields its URL and the folder."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    server.shutdown()
    thread.join()


@pytest.fixture
def no_local_copies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.delenv("FEDKD_DATA_DIR", raising=False)


@needs_files
@pytest.mark.usefixtures("no_local_copies")
def test_missing_files_are_downloaded_verified_and_cached(mirror: tuple[str, Path], tmp_path: Path) -> None:
    url, folder = mirror
    for name in CONTENT_SHA256:
        shutil.copy(DEBIAN / name, folder / name)

    files = locate_files(None, tmp_path / "cache", base_url=url)

    assert set(files) == set(CONTENT_SHA256)
    assert all(p.parent == tmp_path / "cache" / "fashion-mnist" and p.is_file() for p in files.values())
    for name in CONTENT_SHA256:
        (folder / name).unlink()  # the mirror is gone: a second call must use the cache
    assert locate_files(None, tmp_path / "cache", base_url=url) == files


@pytest.mark.usefixtures("no_local_copies")
def test_corrupt_download_is_refused_by_name_and_leaves_nothing(mirror: tuple[str, Path], tmp_path: Path) -> None:
    url, folder = mirror
    name = "train-labels-idx1-ubyte.gz"
    with gzip.open(folder / name, "wb") as stream:
        stream.write(b"\x00\x00\x08\x01" + b"\x00" * 64)

    with pytest.raises(ChecksumError, match=name):
        fashion.download_file(url + name, tmp_path / "cache" / name, CONTENT_SHA256[name])

    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.usefixtures("no_local_copies")
def test_unreachable_mirror_fails_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        locate_files(None, tmp_path / "cache", base_url="http://127.0.0.1:9/")

    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


@needs_files
def test_real_dataset_has_the_published_shape_and_balance(tmp_path: Path) -> None:
    splits = load_fashion_mnist(None, tmp_path)

    assert splits.train.x.shape == (60000, 28, 28) and splits.test.x.shape == (10000, 28, 28)
    assert 0.0 <= splits.train.x.min() and splits.train.x.max() <= 1.0
    assert np.bincount(splits.train.y).tolist() == [6000] * 10
    assert np.bincount(splits.test.y).tolist() == [1000] * 10
