"""Partitioners over real labels: disjoint, covering, seeded, and skewed as asked."""

from __future__ import annotations

import numpy as np
import pytest

from fedkd.data import DatasetSplits
from simulations.partitioning import partition_indices, simulated_site


@pytest.mark.parametrize("partitioner", ["iid", "dirichlet", "pathological"])
def test_partitions_are_disjoint_and_cover_the_train_split(mnist1d: DatasetSplits, partitioner: str) -> None:
    parts = partition_indices(mnist1d.train.y, num_partitions=10, partitioner=partitioner, seed=0)

    joined = np.concatenate(parts)
    assert len(parts) == 10 and all(len(p) > 0 for p in parts)
    assert len(joined) == len(np.unique(joined))  # disjoint
    assert set(joined.tolist()) == set(range(len(mnist1d.train)))  # covering


@pytest.mark.parametrize("partitioner", ["iid", "dirichlet", "pathological"])
def test_partitions_are_seeded(mnist1d: DatasetSplits, partitioner: str) -> None:
    first = partition_indices(mnist1d.train.y, num_partitions=5, partitioner=partitioner, seed=3)
    again = partition_indices(mnist1d.train.y, num_partitions=5, partitioner=partitioner, seed=3)
    other = partition_indices(mnist1d.train.y, num_partitions=5, partitioner=partitioner, seed=4)

    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def _skew(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean total-variation distance between each client's label distribution and the global one."""
    classes = int(labels.max()) + 1
    overall = np.bincount(labels, minlength=classes) / len(labels)
    distances = [0.5 * np.abs(np.bincount(labels[p], minlength=classes) / len(p) - overall).sum() for p in parts]
    return float(np.mean(distances))


def test_dirichlet_skew_grows_as_alpha_falls(mnist1d: DatasetSplits) -> None:
    labels = mnist1d.train.y

    skews = [
        np.mean([_skew(labels, partition_indices(labels, num_partitions=10, partitioner="dirichlet", seed=s,
                                                 dirichlet_alpha=alpha)) for s in range(3)])
        for alpha in (100.0, 1.0, 0.1)
    ]

    assert skews[0] < skews[1] < skews[2]
    iid = _skew(labels, partition_indices(labels, num_partitions=10, partitioner="iid", seed=0))
    assert iid < 0.1 < skews[2]


def test_pathological_gives_each_client_at_most_its_classes(mnist1d: DatasetSplits) -> None:
    parts = partition_indices(mnist1d.train.y, num_partitions=10, partitioner="pathological", seed=0,
                              classes_per_client=2)

    assert all(len(np.unique(mnist1d.train.y[p])) <= 2 for p in parts)


def test_simulated_site_splits_its_shard_into_disjoint_train_and_local_test(mnist1d: DatasetSplits) -> None:
    kwargs = {"num_partitions": 4, "partitioner": "iid", "seed": 0, "dirichlet_alpha": 0.5,
              "classes_per_client": 2, "local_test_fraction": 0.25, "num_classes": 10}

    site = simulated_site(mnist1d.train, partition_id=1, **kwargs)  # type: ignore[arg-type]

    assert len(site.train) == 750 and len(site.test) == 250
    rows = {tuple(x) for x in site.train.x.round(6)}
    assert not rows & {tuple(x) for x in site.test.x.round(6)}
    with pytest.raises(ValueError, match="partition-id=4"):
        simulated_site(mnist1d.train, partition_id=4, **kwargs)  # type: ignore[arg-type]
