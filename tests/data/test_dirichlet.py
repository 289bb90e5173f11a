"""fedkd's Dirichlet split for many clients, on real MNIST-1D labels: a minimum per client, still skewed."""

from __future__ import annotations

import numpy as np
import pytest

from fedkd.data import DatasetSplits
from fedkd.data.dirichlet import dirichlet_shards, minimum_size


def _skew(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean total-variation distance between client and global label distributions."""
    overall = np.bincount(labels, minlength=10) / len(labels)
    return float(np.mean([0.5 * np.abs(np.bincount(labels[p], minlength=10) / len(p) - overall).sum()
                          for p in parts]))


def test_minimum_size_is_ten_or_half_an_even_share_and_at_least_one() -> None:
    assert minimum_size(60_000, 100) == 10
    assert minimum_size(4_000, 300) == 6
    assert minimum_size(4_000, 1_000) == 2
    assert minimum_size(4_000, 3_000) == 1


def test_dirichlet_shards_thousand_clients_each_get_the_minimum_and_cover_every_sample(
    mnist1d: DatasetSplits,
) -> None:
    labels = mnist1d.train.y

    shards = dirichlet_shards(labels, num_partitions=1000, alpha=0.5, seed=0, min_size=2)

    assert len(shards) == 1000
    assert min(len(s) for s in shards) >= 2
    joined = np.concatenate(shards)
    assert np.array_equal(np.sort(joined), np.arange(len(labels)))  # disjoint and covering
    assert all(np.array_equal(s, np.sort(s)) for s in shards)


def test_dirichlet_shards_small_alpha_is_more_skewed_than_large(mnist1d: DatasetSplits) -> None:
    labels = mnist1d.train.y
    skewed = dirichlet_shards(labels, num_partitions=300, alpha=0.1, seed=0, min_size=6)
    mild = dirichlet_shards(labels, num_partitions=300, alpha=100.0, seed=0, min_size=6)
    assert _skew(labels, skewed) > _skew(labels, mild) + 0.2


def test_dirichlet_shards_same_seed_same_split_other_seed_different(mnist1d: DatasetSplits) -> None:
    labels = mnist1d.train.y
    first = dirichlet_shards(labels, num_partitions=500, alpha=0.5, seed=3, min_size=2)
    again = dirichlet_shards(labels, num_partitions=500, alpha=0.5, seed=3, min_size=2)
    other = dirichlet_shards(labels, num_partitions=500, alpha=0.5, seed=4, min_size=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_dirichlet_shards_more_clients_than_the_data_allows_is_refused(mnist1d: DatasetSplits) -> None:
    with pytest.raises(ValueError, match="4000 samples cannot give 2001 clients 2 samples each"):
        dirichlet_shards(mnist1d.train.y, num_partitions=2001, alpha=0.5, seed=0, min_size=2)
