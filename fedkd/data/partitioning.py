"""Share a dataset's train split among simulated clients with flwr-datasets' partitioners.

The partitioners work on a tiny in-memory Hugging Face dataset of labels and
row indices, so the data itself is never copied; each client gets the indices of
its shard. The same arguments always give the same shards.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fedkd.data.arrays import ArrayDataset
from fedkd.data.dirichlet import dirichlet_shards, minimum_size
from fedkd.data.site import SiteData, split_shard
from fedkd.seeding import derive_seed

if TYPE_CHECKING:
    from flwr_datasets.partitioner import Partitioner


def partition_indices(
    labels: npt.NDArray[np.int64],
    *,
    num_partitions: int,
    partitioner: str,
    seed: int,
    dirichlet_alpha: float = 0.5,
    classes_per_client: int = 2,
) -> list[npt.NDArray[np.int64]]:
    """Indices of each partition's samples.

    Parameters
    ----------
    labels : numpy.ndarray
        One label per sample of the train split.
    num_partitions : int
        Number of clients.
    partitioner : {"iid", "dirichlet", "pathological"}
        IID shuffle; per-class Dirichlet(``dirichlet_alpha``) proportions
        (Hsu et al., 2019); or ``classes_per_client`` classes per client.
    seed : int
        Seeds the partitioner.

    Returns
    -------
    list of numpy.ndarray
        Sorted, disjoint index arrays, one per partition.
    """
    shards = _partition(
        tuple(int(v) for v in labels), num_partitions, partitioner, seed, dirichlet_alpha, classes_per_client
    )
    return [shard.copy() for shard in shards]  # the memo stays untouched whatever callers do


@dataclass(frozen=True)
class PartitionSpec:
    """What a partitioner needs to know: the sample count, the shard count and its own parameters."""

    num_samples: int
    num_partitions: int
    seed: int
    dirichlet_alpha: float
    classes_per_client: int


# A partitioner of flwr-datasets for a spec, and the row order to hand it (None: as stored).
PartitionerFactory = Callable[[PartitionSpec], "tuple[Partitioner, npt.NDArray[np.int64] | None]"]


def _iid(spec: PartitionSpec) -> tuple[Partitioner, npt.NDArray[np.int64] | None]:
    from flwr_datasets.partitioner import IidPartitioner

    order = np.random.default_rng(spec.seed).permutation(spec.num_samples)
    return IidPartitioner(num_partitions=spec.num_partitions), order


def _dirichlet(spec: PartitionSpec) -> tuple[Partitioner, npt.NDArray[np.int64] | None]:
    from flwr_datasets.partitioner import DirichletPartitioner

    return DirichletPartitioner(
        num_partitions=spec.num_partitions,
        partition_by="label",
        alpha=spec.dirichlet_alpha,
        min_partition_size=minimum_size(spec.num_samples, spec.num_partitions),
        self_balancing=False,
        seed=spec.seed,
    ), None


def _pathological(spec: PartitionSpec) -> tuple[Partitioner, npt.NDArray[np.int64] | None]:
    from flwr_datasets.partitioner import PathologicalPartitioner

    return PathologicalPartitioner(
        num_partitions=spec.num_partitions,
        partition_by="label",
        num_classes_per_partition=spec.classes_per_client,
        class_assignment_mode="first-deterministic",
        seed=spec.seed,
    ), None


# Partitioners by config name; config validation reads the names from here.
PARTITIONERS: dict[str, PartitionerFactory] = {
    "iid": _iid,
    "dirichlet": _dirichlet,
    "pathological": _pathological,
}


@lru_cache(maxsize=8)
def _partition(
    labels: tuple[int, ...],
    num_partitions: int,
    partitioner: str,
    seed: int,
    dirichlet_alpha: float,
    classes_per_client: int,
) -> tuple[npt.NDArray[np.int64], ...]:
    if num_partitions < 1 or num_partitions > len(labels):
        raise ValueError(f"num_partitions={num_partitions} must be in [1, {len(labels)}]")
    from datasets import Dataset

    table = Dataset.from_dict({"label": list(labels), "row": list(range(len(labels)))})
    if partitioner not in PARTITIONERS:
        raise ValueError(f"unknown partitioner {partitioner!r}; choose one of {', '.join(PARTITIONERS)}")
    splitter, order = PARTITIONERS[partitioner](PartitionSpec(len(labels), num_partitions, seed, dirichlet_alpha,
                                                              classes_per_client))
    if order is not None:
        table = table.select(order)
    splitter.dataset = table
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # one per failed Dirichlet attempt
            return tuple(
                np.sort(np.asarray(splitter.load_partition(i)["row"], dtype=np.int64)) for i in range(num_partitions)
            )
    except ValueError as error:
        if partitioner == "dirichlet" and "max number of attempts" in str(error):
            # Too many clients for flwr-datasets' redraws: draw once and top up small shards.
            minimum = minimum_size(len(labels), num_partitions)
            warnings.warn(f"partitioner=dirichlet: flwr-datasets found no split of {len(labels)} samples among "
                          f"{num_partitions} clients with {minimum}+ each in 10 draws; using fedkd's Dirichlet "
                          "split that moves samples to the small shards", RuntimeWarning, stacklevel=2)
            return tuple(dirichlet_shards(np.asarray(labels, dtype=np.int64), num_partitions=num_partitions,
                                          alpha=dirichlet_alpha, seed=seed, min_size=minimum))
        raise ValueError(f"partitioner={partitioner} cannot split {len(labels)} samples among {num_partitions} "
                         f"clients (classes-per-client={classes_per_client}): {error}") from error


def simulated_site(
    train: ArrayDataset,
    *,
    partition_id: int,
    num_partitions: int,
    partitioner: str,
    seed: int,
    dirichlet_alpha: float,
    classes_per_client: int,
    local_test_fraction: float,
    num_classes: int,
) -> SiteData:
    """The site data of simulated client ``partition_id``: its shard, split locally."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(f"partition-id={partition_id} must be in [0, {num_partitions})")
    shards = partition_indices(
        train.y,
        num_partitions=num_partitions,
        partitioner=partitioner,
        seed=seed,
        dirichlet_alpha=dirichlet_alpha,
        classes_per_client=classes_per_client,
    )
    return split_shard(
        train.subset(shards[partition_id]),
        test_fraction=local_test_fraction,
        seed=derive_seed(seed, "local-split", partition_id),
        num_classes=num_classes,
    )
