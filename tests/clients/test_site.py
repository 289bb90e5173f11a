"""A site's teacher: a pretrained checkpoint from the run config, overridden by the node config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from clients.site import load_teacher
from fedkd.checkpoint import save_model
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
                                       "cache-dir": str(tmp_path / "cache")})

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
