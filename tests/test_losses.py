"""The soft-target distillation loss against hand-computed values and its invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fedkd.losses import distillation_loss, soft_target_loss


def _softmax(values: list[float], temperature: float) -> list[float]:
    exps = [math.exp(v / temperature) for v in values]
    return [e / sum(exps) for e in exps]


def test_soft_target_loss_matches_hand_computed_value() -> None:
    # Teacher [3, 2, 1], student [1, 2, 3] at T = 2, by hand:
    # p_t = softmax([1.5, 1, 0.5]) = [4.4817, 2.7183, 1.6487] / 8.8487 = [0.506480, 0.307196, 0.186324];
    # p_s is its reverse, and p_t[0] / p_s[0] = e, so the logs are exactly +1, 0, -1.
    # KL = sum p_t * log(p_t / p_s) = 0.506480*ln(0.506480/0.186324) + 0.307196*0
    #      + 0.186324*ln(0.186324/0.506480) = 0.506480 - 0.186324 = 0.320156
    # times T^2 = 4: 1.280624.
    p_t = _softmax([3.0, 2.0, 1.0], 2.0)
    assert p_t == pytest.approx([0.506480, 0.307196, 0.186324], abs=1e-6)
    student = torch.tensor([[1.0, 2.0, 3.0]])
    teacher = torch.tensor([[3.0, 2.0, 1.0]])

    loss = soft_target_loss(student, teacher, temperature=2.0)

    assert loss.item() == pytest.approx(4 * (0.506480 - 0.186324), abs=1e-5)
    assert loss.item() == pytest.approx(1.280624, abs=1e-5)


def test_soft_target_loss_is_scaled_by_temperature_squared() -> None:
    student, teacher = torch.randn(8, 5, generator=torch.Generator().manual_seed(0)).split(4)

    for temperature in (0.5, 1.0, 3.0, 8.0):
        kl = F.kl_div(F.log_softmax(student / temperature, dim=1), F.softmax(teacher / temperature, dim=1),
                      reduction="batchmean")
        loss = soft_target_loss(student, teacher, temperature=temperature)
        assert loss.item() == pytest.approx(temperature**2 * kl.item(), rel=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_soft_target_loss_of_identical_logits_is_zero(temperature: float) -> None:
    logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(1)) * 5

    loss = soft_target_loss(logits, logits.clone(), temperature=temperature, reduction="none")

    assert torch.allclose(loss, torch.zeros(6), atol=1e-6)


def test_distillation_loss_mixes_ce_and_kd_by_alpha() -> None:
    generator = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(4, 3, generator=generator), torch.randn(4, 3, generator=generator)
    labels = torch.tensor([0, 2, 1, 1])
    ce = F.cross_entropy(student, labels)
    kd = soft_target_loss(student, teacher, temperature=3.0)

    parts = distillation_loss(student, teacher, labels, alpha=0.3, temperature=3.0)

    assert parts.ce.item() == pytest.approx(ce.item(), rel=1e-6)
    assert parts.kd.item() == pytest.approx(kd.item(), rel=1e-6)
    assert parts.total.item() == pytest.approx(0.3 * ce.item() + 0.7 * kd.item(), rel=1e-6)


def test_distillation_loss_alpha_one_is_plain_cross_entropy_without_teacher() -> None:
    student = torch.randn(5, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 2, 3, 0])

    parts = distillation_loss(student, None, labels, alpha=1.0, temperature=4.0)

    assert parts.total.item() == pytest.approx(F.cross_entropy(student, labels).item(), rel=1e-6)
    assert parts.kd.item() == 0.0


def test_distillation_loss_per_sample_values_average_to_the_mean() -> None:
    generator = torch.Generator().manual_seed(4)
    student, teacher = torch.randn(7, 3, generator=generator), torch.randn(7, 3, generator=generator)
    labels = torch.randint(0, 3, (7,), generator=generator)

    per_sample = distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0, reduction="none")
    mean = distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0)

    assert per_sample.total.shape == (7,)
    assert per_sample.total.mean().item() == pytest.approx(mean.total.item(), rel=1e-6)


def test_no_gradient_reaches_the_teacher() -> None:
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)

    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 0]), alpha=0.2, temperature=2.0).total.backward()

    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0.5, "temperature": 0.0}, "temperature must be > 0"),
        ({"alpha": 0.5, "temperature": -1.0}, "temperature must be > 0"),
        ({"alpha": 1.5, "temperature": 1.0}, r"alpha must be in \[0, 1\]"),
        ({"alpha": -0.1, "temperature": 1.0}, r"alpha must be in \[0, 1\]"),
    ],
)
def test_distillation_loss_rejects_bad_hyperparameters(kwargs: dict[str, float], message: str) -> None:
    logits = torch.zeros(2, 3)

    with pytest.raises(ValueError, match=message):
        distillation_loss(logits, logits, torch.tensor([0, 1]), **kwargs)


def test_distillation_loss_needs_teacher_logits_below_alpha_one() -> None:
    with pytest.raises(ValueError, match="teacher_logits are required"):
        distillation_loss(torch.zeros(2, 3), None, torch.tensor([0, 1]), alpha=0.5, temperature=1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        soft_target_loss(torch.zeros(2, 3), torch.zeros(2, 4), temperature=1.0)
