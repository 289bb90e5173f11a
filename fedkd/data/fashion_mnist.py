"""Fashion-MNIST (Xiao et al., 2017) from its four original idx files.

Lookup order: an explicit data directory, the ``FEDKD_DATA_DIR`` environment
variable, Debian's ``dataset-fashion-mnist`` package, then a download from the
canonical mirror into the cache directory. Every file, wherever it comes from, is
checked against the SHA-256 of its decompressed content before use, so a
truncated download or a different file is refused by name; a corrupt file in
fedkd's own cache is removed with a log line and downloaded again.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedkd.data.arrays import ArrayDataset, DatasetSplits
from fedkd.io import atomic_path

CANONICAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

logger = logging.getLogger(__name__)

# SHA-256 of each file's decompressed idx content (gzip headers vary by packager).
CONTENT_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


class ChecksumError(ValueError):
    """A dataset file's content does not match its published checksum."""


class DatasetUnavailable(FileNotFoundError):
    """A dataset file is on no searched path and could not be downloaded."""


HOW_TO_GET = ("install Debian's package (apt-get install dataset-fashion-mnist), or put the four .gz files "
              "in a folder and pass data-dir=FOLDER (or set FEDKD_DATA_DIR)")


def _content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` decompresses to the expected bytes."""
    try:
        actual = _content_sha256(path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise ChecksumError(f"{path} is not a readable gzip file: {error}") from error
    if actual != expected:
        raise ChecksumError(
            f"{path} has content SHA-256 {actual}, expected {expected}; "
            "the file is corrupt or not the original Fashion-MNIST release"
        )


def download_file(url: str, destination: Path, expected: str) -> None:
    """Download ``url`` to ``destination`` atomically, verifying its checksum.

    Nothing is left at ``destination`` unless the checksum matches.
    """
    with atomic_path(destination) as temporary:
        with open(temporary, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        try:
            verify_file(temporary, expected)
        except ChecksumError as error:
            raise ChecksumError(f"download of {url} refused: {error}") from error


def _read_idx(path: Path) -> npt.NDArray[np.uint8]:
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    rank = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    return data.reshape(dims)


def _verified_cache_entry(path: Path, expected: str) -> bool:
    """Whether a file of fedkd's own cache is whole; a corrupt one is removed (and downloaded again) with a log line.

    Files elsewhere (a data directory, Debian's package) are the user's: a corrupt one is refused, never removed.
    """
    try:
        verify_file(path, expected)
    except ChecksumError as error:
        logger.warning("[fedkd] cache entry %s is corrupt (%s); removed, downloading it again", path, error)
        path.unlink(missing_ok=True)
        return False
    return True


def locate_files(
    data_dir: Path | None, cache_dir: Path, base_url: str = CANONICAL_URL
) -> dict[str, Path]:
    """Find (or download) the four verified files; return their paths by name.

    Raises
    ------
    DatasetUnavailable
        If a file is on no searched path and cannot be downloaded, saying how to get it.
    ChecksumError
        If a file found or downloaded is not the original.
    """
    candidates = [d for d in (data_dir, os.environ.get("FEDKD_DATA_DIR")) if d]
    search = [Path(d) for d in candidates] + [DEBIAN_DIR, cache_dir / "fashion-mnist"]
    found = local_files(search, own=cache_dir / "fashion-mnist")
    for name, expected in CONTENT_SHA256.items():
        if name in found:
            continue
        target = cache_dir / "fashion-mnist" / name
        url = base_url.rstrip("/") + "/" + name
        try:
            download_file(url, target, expected)
        except OSError as error:  # URLError, timeouts, refused connections
            reason = error if isinstance(error, urllib.error.HTTPError) else getattr(error, "reason", error)
            raise DatasetUnavailable(
                f"Fashion-MNIST file {name} is not in {', '.join(str(d) for d in search)} and its download "
                f"from {url} failed ({reason}); {HOW_TO_GET}"
            ) from error
        found[name] = target
    return found


def local_files(search: list[Path], own: Path | None = None) -> dict[str, Path]:
    """The verified files found in the ``search`` folders (or their ``fashion-mnist`` subfolders), by name.

    A corrupt file in ``own`` (fedkd's cache) is removed so that it is fetched again; elsewhere it is refused.
    """
    found: dict[str, Path] = {}
    for name, expected in CONTENT_SHA256.items():
        for directory in search:
            for path in (directory / name, directory / "fashion-mnist" / name):
                if path.is_file():
                    if path.parent == own and not _verified_cache_entry(path, expected):
                        continue
                    verify_file(path, expected)
                    found[name] = path
                    break
            if name in found:
                break
    return found


def load_fashion_mnist(
    data_dir: Path | None, cache_dir: Path, base_url: str = CANONICAL_URL
) -> DatasetSplits:
    """Load Fashion-MNIST as 28x28 float images scaled to [0, 1]."""
    files = locate_files(data_dir, cache_dir, base_url)

    def split(images: str, labels: str) -> ArrayDataset:
        x = _read_idx(files[images]).astype(np.float32) / 255.0
        y = _read_idx(files[labels]).astype(np.int64)
        return ArrayDataset(x, y)

    return DatasetSplits(
        name="fashion-mnist",
        train=split("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        test=split("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        num_classes=10,
    )
