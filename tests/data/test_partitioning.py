"""Partitioners over real MNIST-1D labels: disjoint, covering, seeded, and skewed as asked."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

import fedkd.data.partitioning
from fedkd.data import ArrayDataset, DatasetSplits
from fedkd.data.partitioning import partition_indices, simulated_site

Labels = npt.NDArray[np.int64]


@pytest.fixture(autouse=True)
def fresh_partitions() -> Iterator[None]:
    # partition_indices memoises its results: clear the memo so every call below really partitions
    # (otherwise "same seed, same partition" would hold trivially).
    fedkd.data.partitioning._partition.cache_clear()
    yield
    fedkd.data.partitioning._partition.cache_clear()


def _partition(labels: Labels, **kwargs: object) -> list[Labels]:
    fedkd.data.partitioning._partition.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # flwr-datasets warns about classes nobody holds
        return partition_indices(labels, **kwargs)  # type: ignore[arg-type]


def _skew(labels: Labels, parts: list[Labels]) -> float:
    """Mean over clients of the total-variation distance between client and global label distributions."""
    classes = int(labels.max()) + 1
    overall = np.bincount(labels, minlength=classes) / len(labels)
    distances = [0.5 * np.abs(np.bincount(labels[p], minlength=classes) / len(p) - overall).sum() for p in parts]
    return float(np.mean(distances))


@pytest.mark.parametrize("partitioner", ["iid", "dirichlet", "pathological"])
def test_partition_indices_ten_clients_are_disjoint_sorted_and_cover_every_index(
    mnist1d: DatasetSplits, partitioner: str
) -> None:
    # With 10 clients and 10 classes, first-deterministic pathological assignment gives client i class i,
    # so every class, hence every index, is held by someone.
    labels = mnist1d.train.y

    parts = _partition(labels, num_partitions=10, partitioner=partitioner, seed=0)

    joined = np.concatenate(parts)
    assert len(parts) == 10 and all(len(p) > 0 for p in parts)
    assert all(bool(np.all(np.diff(p) > 0)) for p in parts)  # sorted, no repeats inside a client
    assert len(joined) == len(np.unique(joined))  # pairwise disjoint
    assert np.array_equal(np.sort(joined), np.arange(len(labels)))  # covering


def test_partition_indices_iid_gives_equal_sizes_and_near_global_label_mix(mnist1d: DatasetSplits) -> None:
    labels = mnist1d.train.y

    parts = _partition(labels, num_partitions=8, partitioner="iid", seed=0)

    assert [len(p) for p in parts] == [len(labels) // 8] * 8
    assert _skew(labels, parts) < 0.1


def test_partition_indices_pathological_fewer_clients_than_classes_covers_only_the_held_classes(
    mnist1d: DatasetSplits,
) -> None:
    # Four clients with two classes each hold at most eight of the ten classes. First-deterministic
    # assignment gives client i class i; the second class is drawn at random. Every sample of a held class
    # is shared out among the clients holding it; samples of classes nobody holds are left out.
    labels = mnist1d.train.y

    parts = _partition(labels, num_partitions=4, partitioner="pathological", seed=0, classes_per_client=2)

    held = [set(np.unique(labels[p]).tolist()) for p in parts]
    assert all(i in classes and len(classes) == 2 for i, classes in enumerate(held))
    union = set().union(*held)
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined))
    assert np.array_equal(np.sort(joined), np.flatnonzero(np.isin(labels, sorted(union))))
    assert len(union) <= 8 and len(joined) < len(labels)


@pytest.mark.parametrize("classes_per_client", [1, 2, 3])
def test_partition_indices_pathological_gives_each_client_at_most_its_classes(
    mnist1d: DatasetSplits, classes_per_client: int
) -> None:
    labels = mnist1d.train.y

    parts = _partition(labels, num_partitions=10, partitioner="pathological", seed=0,
                       classes_per_client=classes_per_client)

    assert all(len(np.unique(labels[p])) <= classes_per_client for p in parts)
    assert all(i in set(labels[p].tolist()) for i, p in enumerate(parts))  # first-deterministic: class i


@pytest.mark.parametrize("partitioner", ["iid", "dirichlet", "pathological"])
def test_partition_indices_same_seed_same_partitions_other_seed_different(
    mnist1d: DatasetSplits, partitioner: str
) -> None:
    labels = mnist1d.train.y

    first = _partition(labels, num_partitions=5, partitioner=partitioner, seed=3)
    again = _partition(labels, num_partitions=5, partitioner=partitioner, seed=3)
    other = _partition(labels, num_partitions=5, partitioner=partitioner, seed=4)

    assert first is not again  # really recomputed
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_partition_indices_dirichlet_skew_grows_as_alpha_falls(mnist1d: DatasetSplits) -> None:
    labels = mnist1d.train.y

    skews = [
        np.mean([_skew(labels, _partition(labels, num_partitions=10, partitioner="dirichlet", seed=seed,
                                          dirichlet_alpha=alpha)) for seed in range(3)])
        for alpha in (10.0, 1.0, 0.1)
    ]

    assert skews[0] < skews[1] < skews[2]
    iid = _skew(labels, _partition(labels, num_partitions=10, partitioner="iid", seed=0))
    assert iid < skews[0]


@pytest.mark.parametrize("kwargs", [{"num_partitions": 0, "partitioner": "iid"},
                                    {"num_partitions": 2, "partitioner": "shards"}])
def test_partition_indices_bad_arguments_raise_value_error(mnist1d: DatasetSplits, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="num_partitions=0|unknown partitioner 'shards'"):
        _partition(mnist1d.train.y, seed=0, **kwargs)


SITE_KWARGS: dict[str, object] = {"num_partitions": 4, "partitioner": "dirichlet", "seed": 0, "dirichlet_alpha": 0.5,
                                  "classes_per_client": 2, "local_test_fraction": 0.25, "num_classes": 10}


def _indexed(mnist1d: DatasetSplits) -> ArrayDataset:
    """MNIST-1D's train labels with inputs that are just each sample's row index."""
    return ArrayDataset(np.arange(len(mnist1d.train), dtype=np.float32)[:, None], mnist1d.train.y)


@pytest.mark.parametrize("partition_id", [0, 1, 3])
def test_simulated_site_train_and_local_test_are_disjoint_and_make_up_the_shard(
    mnist1d: DatasetSplits, partition_id: int
) -> None:
    data = _indexed(mnist1d)
    shard = _partition(data.y, num_partitions=4, partitioner="dirichlet", seed=0, dirichlet_alpha=0.5)[partition_id]

    site = simulated_site(data, partition_id=partition_id, **SITE_KWARGS)  # type: ignore[arg-type]

    train_rows, test_rows = site.train.x[:, 0].astype(np.int64), site.test.x[:, 0].astype(np.int64)
    assert not set(train_rows.tolist()) & set(test_rows.tolist())
    assert np.array_equal(np.sort(np.concatenate([train_rows, test_rows])), shard)
    assert len(site.test) == round(0.25 * len(shard))
    assert np.array_equal(site.train.y, data.y[train_rows]) and np.array_equal(site.test.y, data.y[test_rows])


@pytest.mark.parametrize("partition_id", [4, -1, 17])
def test_simulated_site_bad_partition_id_raises_value_error_naming_it(
    mnist1d: DatasetSplits, partition_id: int
) -> None:
    with pytest.raises(ValueError, match=f"partition-id={partition_id} must be in \\[0, 4\\)"):
        simulated_site(_indexed(mnist1d), partition_id=partition_id, **SITE_KWARGS)  # type: ignore[arg-type]


def test_partition_indices_dirichlet_three_hundred_clients_falls_back_to_the_topped_up_split(
    mnist1d: DatasetSplits,
) -> None:
    # flwr-datasets gives up after 10 draws here (each client needs 6 of 4,000 samples).
    fedkd.data.partitioning._partition.cache_clear()
    with pytest.warns(RuntimeWarning, match="using fedkd's Dirichlet split"):
        parts = partition_indices(mnist1d.train.y, num_partitions=300, partitioner="dirichlet", seed=0)

    assert len(parts) == 300 and min(len(p) for p in parts) >= 6
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(mnist1d.train.y)))


def test_partition_indices_pathological_impossible_split_names_the_setting(mnist1d: DatasetSplits) -> None:
    with pytest.raises(ValueError, match=r"partitioner=pathological cannot split 4000 samples among 2000 clients "
                                         r"\(classes-per-client=2\)"):
        _partition(mnist1d.train.y, num_partitions=2000, partitioner="pathological", seed=0)
