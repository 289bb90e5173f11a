"""Every name a registry holds runs: what config validation accepts, the code can do."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedkd.data.partitioning import PARTITIONERS, partition_indices
from fedkd.distill.objective import LOGIT_LOSSES, LogitKnowledge, sample_losses
from fedkd.losses.relational import RELATIONAL_LOSSES
from fedkd.models import INPUT_RANKS, MODELS, build_model
from fedkd.privacy.ledger import ACCOUNTANTS, PrivacyLedger


@pytest.mark.parametrize("name", LOGIT_LOSSES)
def test_every_logit_loss_gives_one_finite_non_negative_value_per_sample(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])

    parts = sample_losses(student, teacher, labels, LogitKnowledge(alpha=0.0, temperature=2.0, logit_loss=name))

    assert parts.kd.shape == (6,) and bool(torch.isfinite(parts.kd).all()) and bool((parts.kd >= 0).all())


@pytest.mark.parametrize("name", RELATIONAL_LOSSES)
def test_every_relational_loss_is_zero_for_identical_embeddings_and_positive_otherwise(name: str) -> None:
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(8, 4, generator=generator), torch.randn(8, 4, generator=generator)

    assert RELATIONAL_LOSSES[name](student, student).item() == pytest.approx(0.0, abs=1e-6)
    assert RELATIONAL_LOSSES[name](student, teacher).item() > 0


@pytest.mark.parametrize("name", MODELS)
def test_every_model_builds_and_maps_a_batch_to_class_logits(name: str) -> None:
    shape = {1: (40,), 2: (28, 28)}[max(INPUT_RANKS[name])]

    logits = build_model(name, input_shape=shape, num_classes=10)(torch.zeros(3, *shape))

    assert logits.shape == (3, 10)


@pytest.mark.parametrize("name", PARTITIONERS)
def test_every_partitioner_shares_out_each_sample_at_most_once(name: str) -> None:
    labels = np.repeat(np.arange(10), 40).astype(np.int64)

    shards = partition_indices(labels, num_partitions=5, partitioner=name, seed=0, dirichlet_alpha=0.5,
                               classes_per_client=2)

    together = np.concatenate(shards)
    assert len(shards) == 5 and all(len(s) > 0 for s in shards) and len(together) == len(set(together.tolist()))


@pytest.mark.parametrize("name", ACCOUNTANTS)
def test_every_accountant_turns_a_history_into_a_finite_positive_epsilon(name: str) -> None:
    ledger = PrivacyLedger(name, [[1.0, 0.01, 100]])

    epsilon = ledger.epsilon(1e-5)

    assert 0 < epsilon < math.inf
