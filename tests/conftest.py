"""Shared fixtures: real datasets loaded once per session, private caches per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedkd.data import DatasetSplits, load_dataset


@pytest.fixture(scope="session")
def mnist1d(tmp_path_factory: pytest.TempPathFactory) -> DatasetSplits:
    """MNIST-1D, generated locally (4000 train, 1000 test)."""
    return load_dataset("mnist1d", data_dir=None, cache_dir=Path(tmp_path_factory.mktemp("cache")))
