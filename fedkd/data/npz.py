"""Read a site's ``.npz`` file safely: sizes checked before reading, never unpickling.

An ``.npz`` is a zip of ``.npy`` members. Before any array is read the file's size
on disk, each member's decompressed size (from the zip directory) and each array's
size (from its ``.npy`` header) are checked against the site's limit, so a small
file that expands to gigabytes is refused unread. Object arrays are refused
(``allow_pickle=False`` always).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.lib import format as npy_format

from fedkd.limits import FileLimitError, regular_file_size

NPY_MAGIC = b"\x93NUMPY"


def _kind(path: Path) -> str:
    with open(path, "rb") as stream:
        head = stream.read(6)
    if head == NPY_MAGIC:
        return "a single .npy array renamed .npz; save the arrays with numpy.savez(path, x=..., y=...)"
    return f"not a zip archive (starts with {head!r})"


def _check_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """Bytes the member's array will take, read from its ``.npy`` header only."""
    with archive.open(info) as member:
        try:
            version = npy_format.read_magic(member)
            header = (npy_format.read_array_header_1_0 if version == (1, 0)
                      else npy_format.read_array_header_2_0)(member)
        except ValueError as error:
            raise ValueError(f"{path}: member {info.filename!r} is not an .npy array: {error}") from error
    shape, _, dtype = header
    if dtype.hasobject:
        raise ValueError(f"{path}: member {info.filename!r} holds Python objects ({dtype}); "
                         "only numeric arrays are read")
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if nbytes > info.file_size:
        raise ValueError(f"{path}: member {info.filename!r} declares shape {shape} ({nbytes} bytes) "
                         f"but holds {info.file_size}")
    return nbytes


def read_npz(path: Path, names: tuple[str, ...], optional: tuple[str, ...] = (), *,
             max_bytes: int) -> dict[str, npt.NDArray[np.generic]]:
    """The arrays ``names`` (required) and ``optional`` of the ``.npz`` file at ``path``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    FileLimitError
        If it is not a regular file, or it or its decompressed members exceed ``max_bytes``.
    ValueError
        If it is not an ``.npz`` of numeric arrays, or lacks one of ``names``; the
        message names the file and what is wrong.
    """
    regular_file_size(path, max_bytes=max_bytes, what="site data file", limit_key="max-data-bytes")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} must be an .npz file (a zip of .npy arrays): it is {_kind(path)}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            expanded = sum(info.file_size for info in infos.values())
            if expanded > max_bytes:
                raise FileLimitError(f"{path} expands to {expanded} bytes, over this site's limit of {max_bytes} "
                                     "(node-config max-data-bytes); refused unread")
            missing = [n for n in names if n not in infos]
            if missing:
                raise ValueError(f"{path} must be an .npz file with arrays {' and '.join(map(repr, names))}: "
                                 f"missing {', '.join(map(repr, missing))} (holds {sorted(infos)})")
            wanted = [n for n in (*names, *optional) if n in infos]
            for name in wanted:
                _check_member(path, archive, infos[name])
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in wanted}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{path} is a damaged .npz archive: {error}") from error
