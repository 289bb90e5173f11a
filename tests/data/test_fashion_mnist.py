"""Fashion-MNIST: the download path against a server on 127.0.0.1, checksums, and the real files."""

from __future__ import annotations

import gzip
import re
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import fedkd.data.fashion_mnist as fashion
from fedkd.data.fashion_mnist import CONTENT_SHA256, ChecksumError, load_fashion_mnist, locate_files, verify_file
from tests.optional_data import needs_fashion_mnist

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
NAMES = list(CONTENT_SHA256)
needs_files = needs_fashion_mnist


@dataclass
class Mirror:
    """A folder served over HTTP on 127.0.0.1, and the paths requested from it."""

    url: str
    folder: Path
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    folder = tmp_path / "mirror"
    folder.mkdir()
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(f"http://127.0.0.1:{server.server_address[1]}/", folder, requests)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def no_local_copies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.delenv("FEDKD_DATA_DIR", raising=False)


def _serve_debian_copies(mirror: Mirror) -> None:
    for name in NAMES:
        shutil.copy(DEBIAN / name, mirror.folder / name)


def _cache_files(cache: Path) -> set[str]:
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()} if cache.exists() else set()


@needs_files
@pytest.mark.usefixtures("no_local_copies")
def test_locate_files_without_local_copies_downloads_all_four_verified_into_the_cache(
    mirror: Mirror, tmp_path: Path
) -> None:
    # Prepare
    _serve_debian_copies(mirror)
    cache = tmp_path / "cache"

    # Execute
    files = locate_files(None, cache, base_url=mirror.url)

    # Assert: each file fetched once, stored under cache/fashion-mnist, with the published content.
    assert sorted(mirror.requests) == sorted(f"/{name}" for name in NAMES)
    assert files == {name: cache / "fashion-mnist" / name for name in NAMES}
    assert _cache_files(cache) == {f"fashion-mnist/{name}" for name in NAMES}
    for name, path in files.items():
        verify_file(path, CONTENT_SHA256[name])
        assert gzip.decompress(path.read_bytes()) == gzip.decompress((DEBIAN / name).read_bytes())


@needs_files
@pytest.mark.usefixtures("no_local_copies")
def test_locate_files_second_call_uses_the_cache_without_the_network(mirror: Mirror, tmp_path: Path) -> None:
    _serve_debian_copies(mirror)
    first = locate_files(None, tmp_path / "cache", base_url=mirror.url)
    for name in NAMES:
        (mirror.folder / name).unlink()  # the mirror is gone
    mirror.requests.clear()

    second = locate_files(None, tmp_path / "cache", base_url=mirror.url)

    assert second == first and mirror.requests == []


@needs_files
def test_locate_files_with_debian_copies_requests_nothing(
    mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEDKD_DATA_DIR", raising=False)
    monkeypatch.setattr(fashion, "DEBIAN_DIR", DEBIAN)

    files = locate_files(None, tmp_path / "cache", base_url=mirror.url)

    assert files == {name: DEBIAN / name for name in NAMES}
    assert mirror.requests == [] and not (tmp_path / "cache").exists()


def _flip_last_byte(source: Path, target: Path) -> None:
    content = bytearray(gzip.decompress(source.read_bytes()))
    content[-1] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(content)))


def _truncate(source: Path, target: Path) -> None:
    raw = source.read_bytes()
    target.write_bytes(raw[: len(raw) // 2])


@needs_files
@pytest.mark.usefixtures("no_local_copies")
@pytest.mark.parametrize(
    "corrupt, damage",
    [("train-images-idx3-ubyte.gz", _truncate), ("train-labels-idx1-ubyte.gz", _flip_last_byte),
     ("t10k-images-idx3-ubyte.gz", _truncate), ("t10k-labels-idx1-ubyte.gz", _flip_last_byte)],
    ids=["train-images-truncated", "train-labels-one-byte", "t10k-images-truncated", "t10k-labels-one-byte"],
)
def test_locate_files_corrupt_download_raises_checksum_error_naming_it_and_leaves_nothing(
    mirror: Mirror, tmp_path: Path, corrupt: str, damage: Callable[[Path, Path], None]
) -> None:
    # Prepare: the mirror serves the Debian files, one of them damaged.
    _serve_debian_copies(mirror)
    damage(DEBIAN / corrupt, mirror.folder / corrupt)
    cache = tmp_path / "cache"

    # Execute
    with pytest.raises(ChecksumError, match=re.escape(mirror.url + corrupt)):
        locate_files(None, cache, base_url=mirror.url)

    # Assert: no trace of the damaged file (nor any .part); only the verified files fetched before it.
    before = NAMES[: NAMES.index(corrupt)]
    assert _cache_files(cache) == {f"fashion-mnist/{name}" for name in before}
    for name in before:
        verify_file(cache / "fashion-mnist" / name, CONTENT_SHA256[name])


@pytest.mark.usefixtures("no_local_copies")
def test_download_file_valid_gzip_of_other_content_raises_checksum_error_and_leaves_nothing(
    mirror: Mirror, tmp_path: Path
) -> None:
    name = "train-labels-idx1-ubyte.gz"
    (mirror.folder / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 64))
    target = tmp_path / "cache" / name

    with pytest.raises(ChecksumError, match=re.escape(mirror.url + name) + " refused: .* has content SHA-256"):
        fashion.download_file(mirror.url + name, target, CONTENT_SHA256[name])

    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.usefixtures("no_local_copies")
def test_locate_files_missing_on_the_mirror_raises_and_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="404"):
        locate_files(None, tmp_path / "cache", base_url=mirror.url)

    assert _cache_files(tmp_path / "cache") == set()


@pytest.mark.usefixtures("no_local_copies")
@needs_files
@pytest.mark.usefixtures("no_local_copies")
def test_locate_files_corrupt_cache_entry_is_removed_and_downloaded_again(
    mirror: Mirror, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Prepare: a cached download cut short (a killed process, a full disk).
    _serve_debian_copies(mirror)
    cache = tmp_path / "cache"
    locate_files(None, cache, base_url=mirror.url)
    broken = cache / "fashion-mnist" / NAMES[1]
    broken.write_bytes(broken.read_bytes()[:100])
    mirror.requests.clear()

    # Execute
    with caplog.at_level("WARNING", logger="fedkd.data.fashion_mnist"):
        files = locate_files(None, cache, base_url=mirror.url)

    # Assert: only the broken file fetched again, whole, and the log names it.
    assert mirror.requests == [f"/{NAMES[1]}"]
    verify_file(files[NAMES[1]], CONTENT_SHA256[NAMES[1]])
    assert f"cache entry {broken} is corrupt" in caplog.text


def test_locate_files_corrupt_local_copy_raises_checksum_error_naming_it(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / NAMES[0]).write_bytes(b"not gzip at all")

    with pytest.raises(ChecksumError, match=re.escape(str(local / NAMES[0])) + " is not a readable gzip file"):
        locate_files(local, tmp_path / "cache", base_url="http://127.0.0.1:9/")


def _independent_idx(path: Path) -> np.ndarray:
    """Parse an idx file with struct: magic (0, 0, 8, rank), big-endian dimensions, then unsigned bytes."""
    raw = gzip.decompress(path.read_bytes())
    zero, dtype, rank = struct.unpack(">HBB", raw[:4])
    assert (zero, dtype) == (0, 8)
    dims = struct.unpack(f">{rank}I", raw[4 : 4 + 4 * rank])
    return np.frombuffer(raw[4 + 4 * rank :], dtype=np.uint8).reshape(dims)


@needs_files
def test_load_fashion_mnist_real_files_have_the_published_shape_range_and_balance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEDKD_DATA_DIR", raising=False)

    splits = load_fashion_mnist(None, tmp_path)

    assert splits.train.x.shape == (60000, 28, 28) and splits.test.x.shape == (10000, 28, 28)
    assert splits.train.x.dtype == np.float32 and splits.train.y.dtype == np.int64
    assert splits.train.x.min() == 0.0 and splits.train.x.max() == 1.0
    assert 0.0 <= splits.test.x.min() and splits.test.x.max() <= 1.0
    assert splits.num_classes == 10 and splits.input_shape == (28, 28)
    assert np.bincount(splits.train.y).tolist() == [6000] * 10
    assert np.bincount(splits.test.y).tolist() == [1000] * 10
    assert np.array_equal(splits.train.y, _independent_idx(DEBIAN / "train-labels-idx1-ubyte.gz"))
    assert np.array_equal(splits.test.y, _independent_idx(DEBIAN / "t10k-labels-idx1-ubyte.gz"))
    images = _independent_idx(DEBIAN / "t10k-images-idx3-ubyte.gz")
    assert np.array_equal(splits.test.x, images.astype(np.float32) / 255.0)
