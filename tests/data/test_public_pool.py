"""Public pools: a held-out Fashion-MNIST pool never reaches a site, is class-balanced, and is the same every run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import clients.site
import fedkd.student
from clients.site import load_site
from fedkd.config import ConfigError, FedKDConfig
from fedkd.data import public_pool
from fedkd.data.arrays import ArrayDataset, DatasetSplits
from fedkd.data.public_pool import HOLDOUT_SEED, federated_splits, held_out_pool, public_samples
from fedkd.node_config import NodeConfig
from fedkd.pretraining import pretrain_recipe

FMNIST = {"dataset": "fashion-mnist", "student": "cnn-small", "teacher": "cnn-large"}


def _splits(per_class: int = 40, classes: int = 10) -> DatasetSplits:
    """A dataset whose every train image is told apart by its first pixel: its index."""
    y = np.repeat(np.arange(classes), per_class).astype(np.int64)
    np.random.default_rng(3).shuffle(y)
    x = np.zeros((len(y), 28, 28), dtype=np.float32)
    x[:, 0, 0] = np.arange(len(y))
    test = ArrayDataset(np.ones((5, 28, 28), dtype=np.float32), np.arange(5, dtype=np.int64))
    return DatasetSplits(name="fashion-mnist", train=ArrayDataset(x, y), test=test, num_classes=classes)


def _ids(data: ArrayDataset) -> set[int]:
    return {int(v) for v in data.x[:, 0, 0]}


def test_the_pool_and_the_federation_are_disjoint_and_together_the_whole_train_split() -> None:
    splits = _splits()

    federation, pool = federated_splits(splits, 100), held_out_pool(splits, 100)

    assert len(pool) == 100 and len(federation.train) == len(splits.train) - 100
    assert _ids(pool).isdisjoint(_ids(federation.train))
    assert _ids(pool) | _ids(federation.train) == _ids(splits.train)
    assert np.bincount(pool.y, minlength=10).tolist() == [10] * 10  # equally many per class
    assert federation.test is splits.test  # the server's test set is untouched


def test_a_smaller_pool_lies_within_a_larger_holdout_so_pretraining_never_sees_a_sites_image() -> None:
    splits = _splits()

    federation = federated_splits(splits, 200)

    assert _ids(held_out_pool(splits, 50)) < _ids(held_out_pool(splits, 200))
    assert _ids(held_out_pool(splits, 50)).isdisjoint(_ids(federation.train))


def test_no_holdout_leaves_the_splits_as_they_are() -> None:
    splits = _splits()

    assert federated_splits(splits, 0) is splits


@pytest.mark.parametrize("samples, words", [(105, "multiple of 10"), (400, "smallest class has 40"),
                                            (0, "positive multiple")])
def test_a_pool_the_train_split_cannot_give_is_refused_naming_the_count(samples: int, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        held_out_pool(_splits(), samples)


def test_the_holdout_is_fixed_by_its_own_seed_not_the_runs() -> None:
    splits = _splits()
    first = held_out_pool(splits, 100)

    np.random.seed(99)
    torch.manual_seed(99)

    assert _ids(held_out_pool(splits, 100)) == _ids(first) and HOLDOUT_SEED == public_pool.pool_seed("fashion-mnist")


def test_config_allows_a_holdout_only_for_a_dataset_whose_pool_is_held_out() -> None:
    with pytest.raises(ConfigError, match="public-pool-holdout=100.*mnist1d"):
        FedKDConfig.from_mapping({"public-pool-holdout": 100})
    with pytest.raises(ConfigError, match="teacher-pretrain-samples=20000.*public-pool-holdout=1000"):
        FedKDConfig.from_mapping({**FMNIST, "public-pool-holdout": 1000})
    with pytest.raises(ConfigError, match="student-pretrain-samples=2000.*at most public-pool-holdout=1000"):
        FedKDConfig.from_mapping({**FMNIST, "public-pool-holdout": 1000, "teacher-pretraining": "none",
                                  "student-pretrain-samples": 2000})


def test_a_fashion_mnist_run_with_a_holdout_pretrains_its_teachers_on_the_pool() -> None:
    config = FedKDConfig.from_mapping({**FMNIST, "public-pool-holdout": 1000, "teacher-pretrain-samples": 1000})

    recipe = pretrain_recipe(config)

    assert recipe is not None and recipe.dataset == "fashion-mnist" and recipe.samples == 1000
    assert recipe.pool_seed == HOLDOUT_SEED
    assert pretrain_recipe(FedKDConfig.from_mapping(FMNIST)) is None  # no holdout: shard-trained teachers, as before


def test_simulated_sites_share_out_only_what_the_holdout_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: the small dataset stands in for Fashion-MNIST's files.
    splits = _splits()
    monkeypatch.setattr(public_pool, "load_dataset", lambda *_, **__: splits)
    public_pool.load_federation.cache_clear()
    clients.site._sites.clear()
    config = FedKDConfig.from_mapping({**FMNIST, "public-pool-holdout": 100, "teacher-pretrain-samples": 100,
                                       "partitioner": "iid"})

    # Execute
    sites = [load_site(config, NodeConfig(partition_id=i, num_partitions=4)) for i in range(4)]

    # Assert: every site's records, train and local test, come from the federation's part only.
    held = [_ids(s.train) | _ids(s.test) for s in sites]
    assert set().union(*held) == _ids(splits.train) - _ids(held_out_pool(splits, 100))
    clients.site._sites.clear()
    public_pool.load_federation.cache_clear()


def test_the_student_pretrains_on_the_held_out_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: record what the student's pretraining trains on.
    splits = _splits()
    monkeypatch.setattr(public_pool, "load_dataset", lambda *_, **__: splits)
    seen: list[ArrayDataset] = []
    monkeypatch.setattr(fedkd.student, "distill", lambda model, data, *_, **__: seen.append(data))
    config = FedKDConfig.from_mapping({**FMNIST, "public-pool-holdout": 100, "teacher-pretraining": "none",
                                       "student-pretrain-samples": 50, "student-pretrain-epochs": 1})

    # Execute
    fedkd.student.initial_student(config, tmp_path)

    # Assert
    assert len(seen) == 1 and _ids(seen[0]) == _ids(public_samples("fashion-mnist", 50, cache_dir=tmp_path))
    assert _ids(seen[0]).isdisjoint(_ids(federated_splits(splits, 100).train))
