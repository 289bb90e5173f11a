"""A fault of the catalogue, and how acting on one is observed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Fault:
    """One bad input or fault and the behaviour expected of fedkd.

    Attributes
    ----------
    id : str
        Short unique name (a pytest id).
    door : str
        Where the bad value comes in: config, node config, site data, checkpoint, cache, reply, split.
    description : str
        The bad input, in words.
    prepare : callable
        ``prepare(folder)`` writes the bad input into an empty folder.
    act : callable
        ``act(folder)`` does what fedkd would do with it; a handled fault returns what happened.
    expect : str
        Text the error message (or the handled outcome) must contain: the bad value, named.
    refused : type of Exception, optional
        The error a refused fault raises; ``None`` for a handled fault.
    may_write : tuple of str
        Glob patterns of files a handled fault may (re)write while acting.
    """

    id: str
    door: str
    description: str
    prepare: Callable[[Path], None]
    act: Callable[[Path], str | None]
    expect: str
    refused: type[Exception] | None = ValueError
    may_write: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Observation:
    """What acting on a fault did: the message (error or outcome) and the files it wrote."""

    message: str
    error: type[Exception] | None
    written: tuple[str, ...]


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def observe(fault: Fault, folder: Path) -> Observation:
    """Prepare ``fault`` in the empty ``folder``, act on it, and report the message and the files written.

    The folder's path in the message reads ``<dir>``.
    """
    fault.prepare(folder)
    before = _files(folder)
    error: type[Exception] | None = None
    try:
        message = fault.act(folder) or ""
    except Exception as caught:  # the catalogue records whatever is raised; the test judges it
        error, message = type(caught), str(caught)
    after = _files(folder)
    written = tuple(sorted(name for name, stamp in after.items() if before.get(name) != stamp))
    return Observation(message.replace(str(folder), "<dir>"), error, written)
