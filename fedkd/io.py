"""Files that are whole or absent: atomic writes, and where fedkd caches what it computes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_ENV = "FEDKD_CACHE_DIR"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it in one rename when the block ends without error.

    The file gets the permissions a plain ``open()`` would give it (``0o666`` less the
    umask), so results on a shared server are readable by its group. On an error the
    temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename; nothing half-written remains."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())


def resolve_cache_dir(*chosen: str) -> Path:
    """The cache folder: the first non-empty of ``chosen``, then ``$FEDKD_CACHE_DIR``, then ``~/.cache/fedkd``.

    Callers pass their choices most specific first (a site's node config, then the run config).
    """
    for candidate in (*chosen, os.environ.get(CACHE_ENV, "")):
        if candidate:
            return Path(candidate).expanduser()
    return Path.home() / ".cache" / "fedkd"
