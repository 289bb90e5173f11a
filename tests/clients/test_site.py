"""A site's teacher: a pretrained checkpoint from the run config, overridden by the node config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import clients.site
from clients.site import cache_budget, load_site, load_teacher, site_bytes
from fedkd.bounded_cache import BoundedCache
from fedkd.checkpoint import load_model, save_model
from fedkd.config import FedKDConfig
from fedkd.data.arrays import ArrayDataset
from fedkd.data.site import SiteData
from fedkd.models import build_model
from fedkd.node_config import NodeConfig


def _site() -> SiteData:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 40)).astype(np.float32)
    y = rng.integers(0, 10, 30)
    return SiteData(train=ArrayDataset(x[:20], y[:20]), test=ArrayDataset(x[20:], y[20:]), num_classes=10)


def _checkpoint(path: Path, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("cnn1d", input_shape=(40,), num_classes=10)
    save_model(path, model, architecture="cnn1d", input_shape=(40,), num_classes=10)
    return model


def test_run_config_teacher_checkpoint_is_every_sites_teacher_unless_the_node_names_one(tmp_path: Path) -> None:
    # Prepare: two checkpoints with different weights; the run config names the first.
    site = _site()
    run_wide, node_own = _checkpoint(tmp_path / "a.safetensors", 1), _checkpoint(tmp_path / "b.safetensors", 2)
    config = FedKDConfig.from_mapping({"teacher-checkpoint": str(tmp_path / "a.safetensors"),
                                       "teacher-finetune-epochs": 0, "cache-dir": str(tmp_path / "cache")})

    # Execute
    from_run = load_teacher(config, NodeConfig(partition_id=0, num_partitions=1), site)
    own = NodeConfig.from_mapping({"partition-id": 0, "num-partitions": 1,
                                   "teacher-checkpoint": str(tmp_path / "b.safetensors")})
    from_node = load_teacher(config, own, site)

    # Assert: each teacher's logits are its checkpoint's.
    x = torch.from_numpy(site.train.x)
    with torch.no_grad():
        torch.testing.assert_close(from_run.train_logits, run_wide.eval()(x))
        torch.testing.assert_close(from_node.train_logits, node_own.eval()(x))
    assert from_run.source == from_node.source == "checkpoint"


def test_load_site_cache_over_budget_keeps_only_the_recent_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a budget that holds one MNIST-1D site of ten, not two.
    config = FedKDConfig()
    first = load_site_uncached(config, NodeConfig(partition_id=0, num_partitions=10))
    budget = int(site_bytes(first) * 1.5)
    monkeypatch.setattr(clients.site, "_sites", BoundedCache(budget, site_bytes))

    # Execute
    a = load_site(config, NodeConfig(partition_id=0, num_partitions=10))
    again = load_site(config, NodeConfig(partition_id=0, num_partitions=10))
    load_site(config, NodeConfig(partition_id=1, num_partitions=10))
    reloaded = load_site(config, NodeConfig(partition_id=0, num_partitions=10))

    # Assert: a hit returns the same object; after eviction the site is rebuilt, equal but new.
    assert again is a
    assert reloaded is not a and np.array_equal(reloaded.train.x, a.train.x)
    assert len(clients.site._sites) == 1 and clients.site._sites.bytes <= budget


def load_site_uncached(config: FedKDConfig, node: NodeConfig) -> SiteData:
    clients.site._sites.clear()
    return load_site(config, node)


@pytest.mark.parametrize("raw", ["-1", "lots", "nan"])
def test_cache_budget_bad_environment_value_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(ValueError, match=f"FEDKD_SITE_CACHE_MB={raw!r}"):
        cache_budget({"FEDKD_SITE_CACHE_MB": raw})


def test_cache_budget_megabytes_from_the_environment_default_1024() -> None:
    assert cache_budget({"FEDKD_SITE_CACHE_MB": "0.5"}) == 2**19
    assert cache_budget({}) == 1024 * 2**20


TINY_POOL = {"teacher-pretrain-samples": 200, "teacher-pretrain-epochs": 1, "teacher-finetune-epochs": 1}


def test_default_teacher_is_the_public_pool_teacher_fine_tuned_on_the_shard(tmp_path: Path) -> None:
    # Prepare: the default recipe (a tiny pool) and the shard-only one.
    site, node = _site(), NodeConfig(partition_id=0, num_partitions=1)
    config = FedKDConfig.from_mapping({**TINY_POOL, "cache-dir": str(tmp_path / "cache")})
    shard_only = FedKDConfig.from_mapping({"teacher-pretraining": "none", "teacher-epochs": 1,
                                           "cache-dir": str(tmp_path / "cache-shard")})
    clients.site._teachers.clear()

    # Execute
    tuned = load_teacher(config, node, site)
    trained = load_teacher(shard_only, node, site)

    # Assert: the public-pool teacher was pretrained once into the cache and fine-tuned away from it.
    pretrained = list((tmp_path / "cache" / "pretrained").glob("mnist1d-cnn1d-*.safetensors"))
    assert tuned.source == "fine-tuned" and len(pretrained) == 1 and trained.source == "trained"
    assert not (tmp_path / "cache-shard" / "pretrained").exists()
    start, _ = load_model(pretrained[0])
    assert any(not torch.equal(a, b) for a, b in zip(start.state_dict().values(),
                                                     tuned.model.state_dict().values(), strict=True))


def test_node_teacher_checkpoint_wins_over_the_public_pool_and_nothing_is_pretrained(tmp_path: Path) -> None:
    site = _site()
    _checkpoint(tmp_path / "own.safetensors", 3)
    config = FedKDConfig.from_mapping({**TINY_POOL, "teacher-finetune-epochs": 0, "cache-dir": str(tmp_path / "c")})
    node = NodeConfig.from_mapping({"partition-id": 0, "num-partitions": 1,
                                    "teacher-checkpoint": str(tmp_path / "own.safetensors")})
    clients.site._teachers.clear()

    teacher = load_teacher(config, node, site)

    assert teacher.source == "checkpoint" and not (tmp_path / "c" / "pretrained").exists()


def test_node_checkpoint_fine_tuned_under_teacher_dp_is_refused_naming_the_key(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "own.safetensors", 3)
    config = FedKDConfig.from_mapping({"teacher-dp": True, "teacher-finetune-epochs": 2,
                                       "cache-dir": str(tmp_path / "c")})
    node = NodeConfig.from_mapping({"partition-id": 0, "num-partitions": 1,
                                    "teacher-checkpoint": str(tmp_path / "own.safetensors")})

    with pytest.raises(ValueError, match="teacher-finetune-epochs=2 .* cannot combine with teacher-dp"):
        load_teacher(config, node, _site())
