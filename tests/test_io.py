"""Atomic writes leave the old file or the new one, never half of either; one cache-folder resolver."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fedkd.io
import fedkd.results
from fedkd.io import resolve_cache_dir, write_atomic


def test_write_atomic_failed_replace_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    target = tmp_path / "results.json"
    write_atomic(target, b"old")

    def broken_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fedkd.io.os, "replace", broken_replace)

    # Execute
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")

    # Assert
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_write_atomic_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.json"
    write_atomic(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(fedkd.io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(target, b"new")

    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_write_atomic_creates_the_folder_and_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"

    write_atomic(target, b"first")
    write_atomic(target, b"second")

    assert target.read_bytes() == b"second" and os.listdir(target.parent) == ["file.bin"]


def test_atomic_path_gives_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    # Results on a shared server are readable by its group: mkstemp's 0600 is not kept.
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "results.json", b"{}")
    finally:
        os.umask(old)

    assert (tmp_path / "results.json").stat().st_mode & 0o777 == 0o644


def test_resolve_cache_dir_prefers_the_most_specific_choice_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDKD_CACHE_DIR", str(tmp_path / "env"))

    assert resolve_cache_dir(str(tmp_path / "node"), str(tmp_path / "run")) == tmp_path / "node"
    assert resolve_cache_dir("", str(tmp_path / "run")) == tmp_path / "run"
    assert resolve_cache_dir("", "") == tmp_path / "env"
    monkeypatch.delenv("FEDKD_CACHE_DIR")
    assert resolve_cache_dir() == Path.home() / ".cache" / "fedkd"

