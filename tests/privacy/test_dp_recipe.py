"""The student's DP-SGD recipe: DP-only optimiser keys, and the ledger entry of the logical batch."""

from __future__ import annotations

import torch

from fedkd.config import FedKDConfig
from fedkd.data.arrays import ArrayDataset
from fedkd.distill.objective import CE_ONLY
from fedkd.models import build_model
from fedkd.privacy.dp_recipe import dp_optimizer_settings, dp_round_entry, dp_settings
from fedkd.privacy.dp_sgd import dp_distill


def test_dp_optimizer_settings_zero_keys_fall_back_to_the_plain_ones() -> None:
    config = FedKDConfig.from_mapping({"batch-size": 16, "learning-rate": 0.03, "local-epochs": 2})

    settings = dp_optimizer_settings(config)

    assert (settings.batch_size, settings.learning_rate, settings.epochs) == (16, 0.03, 2)


def test_dp_optimizer_settings_dp_keys_override_only_under_dp() -> None:
    config = FedKDConfig.from_mapping({"dp-batch-size": 256, "dp-learning-rate": 0.5, "dp-local-epochs": 1})

    settings = dp_optimizer_settings(config)

    assert (settings.batch_size, settings.learning_rate, settings.epochs) == (256, 0.5, 1)
    assert (config.batch_size, config.learning_rate, config.local_epochs) == (32, 0.05, 3)


def test_dp_round_entry_counts_logical_batches_whatever_the_physical_size() -> None:
    # 400 records, logical batch 100: q = 0.25, 4 steps an epoch, 2 epochs; passes of 7 records change nothing.
    config = FedKDConfig.from_mapping({"dp-batch-size": 100, "dp-local-epochs": 2, "dp-physical-batch-size": 7})
    generator = torch.Generator().manual_seed(0)
    data = ArrayDataset(torch.randn(400, 40, generator=generator).numpy(),
                        torch.randint(0, 10, (400,), generator=generator).numpy())
    model = build_model("mlp", input_shape=(40,), num_classes=10)

    planned = dp_round_entry(config, 1.5, len(data))
    _, spent = dp_distill(model, data, None, settings=dp_optimizer_settings(config), dp=dp_settings(config, 1.5),
                          objective=CE_ONLY, device=torch.device("cpu"), seed=0)

    assert planned == spent == (1.5, 0.25, 8)
    assert dp_settings(config, 1.5).physical_batch_size == 7
