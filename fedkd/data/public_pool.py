"""Public pools: samples of a run's task that no site holds, to pretrain teachers and the student on.

- MNIST-1D: the official generator with another seed
  (:func:`fedkd.data.mnist1d.make_mnist1d_corpus`), fresh draws disjoint from the
  federation's data whatever the run.
- Fashion-MNIST has no images outside its train and test splits, so a run that wants a
  pool holds ``public-pool-holdout`` train images out of the federation
  (:func:`federated_splits`): a fixed, class-balanced draw (seed :data:`HOLDOUT_SEED`,
  the same for every run seed), whose first ``n`` per class are the pool of ``n * 10``
  samples (:func:`held_out_pool`). The sites share out the rest, so pool and federation
  are disjoint by construction; a run without a holdout has no Fashion-MNIST pool and
  its sites hold the whole train split, as before.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedkd.data.arrays import ArrayDataset, DatasetSplits
from fedkd.data.mnist1d import CORPUS_SEED, make_mnist1d_corpus
from fedkd.data.registry import load_dataset

HOLDOUT_SEED = 20_201
"""Seed of the Fashion-MNIST holdout's draw; distinct from the run, corpus and proxy seeds."""
GENERATED_POOLS = {"mnist1d": CORPUS_SEED}
"""Datasets whose pool is generated: the generator seed."""
HELD_OUT_POOLS = ("fashion-mnist",)
"""Datasets whose pool is held out of the train split (``public-pool-holdout``)."""

__all__ = ["HOLDOUT_SEED", "GENERATED_POOLS", "HELD_OUT_POOLS", "has_pool", "pool_seed", "holdout_order",
           "federated_splits", "load_federation", "held_out_pool", "public_samples"]


def has_pool(dataset: str, holdout: int) -> bool:
    """Whether a run of ``dataset`` holding ``holdout`` train images out has a public pool."""
    return dataset in GENERATED_POOLS or (dataset in HELD_OUT_POOLS and holdout > 0)


def pool_seed(dataset: str) -> int:
    """The seed that fixes ``dataset``'s pool: its generator's, or its holdout draw's."""
    return GENERATED_POOLS.get(dataset, HOLDOUT_SEED)


def holdout_order(labels: npt.NDArray[np.int64], num_classes: int) -> list[npt.NDArray[np.int64]]:
    """Each class's train indices in the holdout's fixed order; a pool takes each one's first entries."""
    rng = np.random.default_rng(HOLDOUT_SEED)
    return [rng.permutation(np.flatnonzero(labels == c)).astype(np.int64) for c in range(num_classes)]


def _pool_indices(splits: DatasetSplits, samples: int) -> npt.NDArray[np.int64]:
    """The train indices of a class-balanced pool of ``samples``, sorted.

    Raises
    ------
    ValueError
        If ``samples`` is not a positive multiple of the class count, or leaves a class
        with no train image for the federation.
    """
    k = splits.num_classes
    if samples <= 0 or samples % k:
        raise ValueError(f"a held-out pool takes a positive multiple of {k} images (equally many per class), "
                         f"got {samples}")
    order = holdout_order(splits.train.y, k)
    smallest = min(len(indices) for indices in order)
    if samples // k >= smallest:
        raise ValueError(f"a held-out pool of {samples} takes {samples // k} images per class; {splits.name}'s "
                         f"smallest class has {smallest}, and the federation must keep some of each")
    return np.sort(np.concatenate([indices[: samples // k] for indices in order]))


def federated_splits(splits: DatasetSplits, holdout: int) -> DatasetSplits:
    """``splits`` less the ``holdout`` train images a public pool takes; unchanged when ``holdout`` is 0.

    Raises
    ------
    ValueError
        As :func:`held_out_pool`, for a holdout the train split cannot give.
    """
    if holdout == 0:
        return splits
    kept = np.setdiff1d(np.arange(len(splits.train), dtype=np.int64), _pool_indices(splits, holdout))
    return replace(splits, train=splits.train.subset(kept))


@lru_cache(maxsize=4)
def load_federation(name: str, *, holdout: int, data_dir: Path | None, cache_dir: Path) -> DatasetSplits:
    """The dataset ``name`` as the federation holds it (:func:`federated_splits`), once per process.

    Every simulated site of a process reads the same splits; the holdout is cut once, not per site.
    """
    return federated_splits(load_dataset(name, data_dir=data_dir, cache_dir=cache_dir), holdout)


def held_out_pool(splits: DatasetSplits, samples: int) -> ArrayDataset:
    """The first ``samples`` images of the holdout (equally many per class), with their labels.

    A pool of ``n`` samples lies within every holdout of at least ``n``, so it never
    overlaps the federation's train images of such a run.
    """
    return splits.train.subset(_pool_indices(splits, samples))


def public_samples(dataset: str, samples: int, *, cache_dir: Path) -> ArrayDataset:
    """``samples`` public samples of ``dataset``: generated, or the first of its train holdout.

    Raises
    ------
    ValueError
        If ``dataset`` has no public pool.
    """
    if dataset in GENERATED_POOLS:
        return make_mnist1d_corpus(samples, seed=GENERATED_POOLS[dataset])
    if dataset in HELD_OUT_POOLS:
        return held_out_pool(load_dataset(dataset, data_dir=None, cache_dir=cache_dir), samples)
    pools = ", ".join([*GENERATED_POOLS, *HELD_OUT_POOLS])
    raise ValueError(f"dataset {dataset!r} has no public pool; pools exist for {pools}")
