"""Dirichlet label skew for many clients: every client gets at least a minimum number of samples.

flwr-datasets' ``DirichletPartitioner`` redraws the proportions until every
partition reaches ``min_partition_size`` and gives up after 10 attempts, which is
the usual outcome once clients hold a handful of samples each (300+ clients on
MNIST-1D's 4,000 training samples). This split draws once and then repairs: it
moves samples from the largest partitions to those below the minimum, so it
always succeeds when the data can give every client the minimum.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def minimum_size(num_samples: int, num_partitions: int) -> int:
    """The least samples per client: 10, or half of an even share when that is smaller, and at least 1."""
    return max(1, min(10, num_samples // (2 * num_partitions)))


def dirichlet_shards(labels: npt.NDArray[np.int64], *, num_partitions: int, alpha: float, seed: int,
                     min_size: int) -> list[npt.NDArray[np.int64]]:
    """Split sample indices by per-class Dirichlet(``alpha``) proportions (Hsu et al., 2019), then top up.

    Each class's samples are shuffled and cut among the clients in proportions drawn
    from Dirichlet(``alpha``); then, while a client holds fewer than ``min_size``
    samples, one random sample of the currently largest client moves to it.

    Returns
    -------
    list of numpy.ndarray
        Sorted, disjoint index arrays covering every sample, one per client, each of
        at least ``min_size`` samples.

    Raises
    ------
    ValueError
        If ``num_partitions * min_size`` exceeds the number of samples.
    """
    if num_partitions * min_size > len(labels):
        raise ValueError(f"{len(labels)} samples cannot give {num_partitions} clients {min_size} samples each")
    if alpha <= 0:
        raise ValueError(f"dirichlet alpha={alpha} must be > 0")
    rng = np.random.default_rng(seed)
    shards: list[list[int]] = [[] for _ in range(num_partitions)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        proportions = rng.dirichlet(np.full(num_partitions, alpha))
        cuts = (np.cumsum(proportions)[:-1] * len(members)).astype(np.int64)
        for shard, part in zip(shards, np.split(members, cuts), strict=True):
            shard.extend(int(i) for i in part)
    sizes = np.array([len(s) for s in shards])
    for client in np.flatnonzero(sizes < min_size):
        while sizes[client] < min_size:
            donor = int(np.argmax(sizes))
            taken = shards[donor].pop(int(rng.integers(len(shards[donor]))))
            shards[client].append(taken)
            sizes[donor] -= 1
            sizes[client] += 1
    return [np.sort(np.asarray(s, dtype=np.int64)) for s in shards]
