"""Bounded resources at a site: size limits checked before a file is read.

A site owns its limits (node-config ``max-data-bytes`` and ``max-checkpoint-bytes``):
a path sent by the server, or a file a site was handed, is measured with
``os.stat`` first, and refused if it is not a regular file (``/dev/zero``, a FIFO)
or larger than the limit, before a byte of it is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DEFAULT_MAX_DATA_BYTES = 2 * 1024**3
"""Largest site data file, counted both on disk and decompressed (2 GiB: ten times Fashion-MNIST as float32)."""
DEFAULT_MAX_CHECKPOINT_BYTES = 1024**3
"""Largest teacher checkpoint (1 GiB)."""


class FileLimitError(ValueError):
    """A file is not a regular file, or is larger than a site allows."""


def regular_file_size(path: Path, *, max_bytes: int, what: str, limit_key: str) -> int:
    """The size of ``path`` in bytes, after checking that it is a regular file within ``max_bytes``.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    max_bytes : int
        The largest size allowed.
    what : str
        What the file is, for messages (``"site data file"``).
    limit_key : str
        The node-config key that sets ``max_bytes``, named in the message.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    FileLimitError
        If it is not a regular file or is too large.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileLimitError(f"{what} {path} is not a regular file (a device, FIFO or folder); refused unread")
    if info.st_size > max_bytes:
        raise FileLimitError(f"{what} {path} is {info.st_size} bytes, over this site's limit of {max_bytes} "
                             f"(node-config {limit_key}); refused unread")
    return info.st_size
