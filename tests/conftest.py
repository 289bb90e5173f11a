"""Shared fixtures: real datasets loaded once per session, private caches per test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fedkd.data import DatasetSplits, load_dataset
from fedkd.data.site import SiteData, split_shard


@pytest.fixture(scope="session", autouse=True)
def single_intra_op_thread() -> None:
    """Run torch on one thread: the models here are tiny, and on a shared 2-core machine intra-op
    threads only add synchronisation (2 threads measured 10-20x slower than 1 under load)."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide cache folder (never ~/.cache); ``load_dataset`` remembers datasets per cache folder."""
    return Path(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def mnist1d(cache_root: Path) -> DatasetSplits:
    """MNIST-1D, generated locally (4000 train, 1000 test)."""
    return load_dataset("mnist1d", data_dir=None, cache_dir=cache_root)


@pytest.fixture(scope="session")
def small_site(mnist1d: DatasetSplits) -> SiteData:
    """A small real site: the first 300 MNIST-1D train samples, 240 train and 60 local test."""
    shard = mnist1d.train.subset(np.arange(300))
    return split_shard(shard, test_fraction=0.2, seed=0, num_classes=mnist1d.num_classes)
