"""The local training loop on real MNIST-1D data."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

from fedkd.data import ArrayDataset, DatasetSplits
from fedkd.data.site import SiteData, split_shard
from fedkd.distill.objective import CE_ONLY, LogitKnowledge
from fedkd.distill.training import OptimizerSettings, TrainStats, distill
from fedkd.evaluation import evaluate
from fedkd.models import build_model

CPU = torch.device("cpu")


SETTINGS = OptimizerSettings(learning_rate=0.05, momentum=0.9, batch_size=32, epochs=3)


@pytest.fixture(scope="module")
def site(mnist1d: DatasetSplits) -> SiteData:
    """1000 real MNIST-1D samples: 800 to train on, 200 held out locally."""
    return split_shard(mnist1d.train.subset(np.arange(1000)), test_fraction=0.2, seed=0, num_classes=10)


def _student(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", input_shape=(40,), num_classes=10)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _distance(model: nn.Module, start: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(((v - start[k]) ** 2).sum()) for k, v in model.state_dict().items()))


def _identical(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def _train(site: SiteData, *, seed: int = 0, init: int = 0, alpha: float = 1.0,
           teacher_logits: torch.Tensor | None = None, labels: npt.NDArray[np.int64] | None = None,
           settings: OptimizerSettings = SETTINGS, proximal_mu: float = 0.0) -> tuple[nn.Module, TrainStats]:
    student = _student(init)
    data = site.train if labels is None else ArrayDataset(site.train.x, labels)
    stats = distill(student, data, teacher_logits, settings=settings,
                    objective=LogitKnowledge(alpha=alpha, temperature=2.0), device=CPU,
                    seed=seed, proximal_mu=proximal_mu)
    return student, stats


def test_distill_cross_entropy_only_beats_chance_on_held_out_data(site: SiteData, mnist1d: DatasetSplits) -> None:
    # Prepare
    student = _student()
    before = evaluate(student, mnist1d.test, device=CPU).accuracy
    settings = OptimizerSettings(learning_rate=0.05, momentum=0.9, batch_size=32, epochs=10)

    # Execute
    stats = distill(student, site.train, None, settings=settings, objective=CE_ONLY, device=CPU, seed=0)

    # Assert: 10 classes, so chance is 0.1.
    after = evaluate(student, mnist1d.test, device=CPU)
    local = evaluate(student, site.test, device=CPU)
    assert after.num_examples == 1000 and local.num_examples == 200
    assert after.accuracy > 0.25 and local.accuracy > 0.25
    assert after.accuracy > before + 0.15
    assert stats.num_examples == 800 and stats.kd == 0.0 and stats.loss == stats.ce
    assert stats.ce < math.log(10)  # below the loss of a uniform guess


def test_distill_same_seed_twice_gives_bitwise_identical_weights(site: SiteData) -> None:
    first, first_stats = _train(site, seed=5)
    second, second_stats = _train(site, seed=5)
    other, _ = _train(site, seed=6)

    assert _identical(first, second)
    assert first_stats == second_stats
    assert not _identical(first, other)  # the seed sets the batch order


def test_distill_alpha_zero_ignores_labels_and_alpha_one_ignores_teacher_logits(site: SiteData) -> None:
    # Prepare: made-up teacher logits and labels scrambled by a fixed permutation.
    logits = torch.randn(len(site.train), 10, generator=torch.Generator().manual_seed(0))
    scrambled = np.random.default_rng(0).permutation(site.train.y)
    assert (scrambled != site.train.y).any()

    # Execute
    kd_true, kd_stats = _train(site, alpha=0.0, teacher_logits=logits)
    kd_scrambled, _ = _train(site, alpha=0.0, teacher_logits=logits, labels=scrambled)
    ce_none, _ = _train(site, alpha=1.0)
    ce_logits, _ = _train(site, alpha=1.0, teacher_logits=logits)

    # Assert
    assert _identical(kd_true, kd_scrambled)
    assert _identical(ce_none, ce_logits)
    assert kd_stats.loss == pytest.approx(kd_stats.kd, rel=1e-6) and kd_stats.ce > 0


def test_distill_mixed_alpha_reports_loss_as_the_weighted_sum_of_its_parts(site: SiteData) -> None:
    logits = torch.randn(len(site.train), 10, generator=torch.Generator().manual_seed(1))

    _, stats = _train(site, alpha=0.3, teacher_logits=logits)

    assert stats.loss == pytest.approx(0.3 * stats.ce + 0.7 * stats.kd, rel=1e-5)
    assert stats.num_examples == len(site.train)


def test_distill_teacher_logits_for_other_samples_raise_value_error(site: SiteData) -> None:
    with pytest.raises(ValueError, match=f"{len(site.train) - 1} teacher logits for {len(site.train)} samples"):
        _train(site, alpha=0.5, teacher_logits=torch.zeros(len(site.train) - 1, 10))


def test_distill_proximal_term_keeps_weights_closer_to_the_start(site: SiteData) -> None:
    start = _weights(_student())

    distances = [_distance(_train(site, proximal_mu=mu)[0], start) for mu in (0.0, 0.5, 5.0)]

    assert distances[0] > distances[1] > distances[2] > 0
