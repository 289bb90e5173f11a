"""The soft-target distillation loss against hand-computed and NumPy reference values, and its invariants.

Reference values never go through ``torch.nn.functional``'s softmax or KL: they are
worked out by hand or by the small NumPy implementation below, except where the
contract itself is "equals ``F.cross_entropy``".
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import torch
import torch.nn.functional as F

from fedkd.distill.objective import LogitKnowledge, LossParts, sample_losses
from fedkd.losses.logit import soft_target_loss

Array = npt.NDArray[np.float64]


def _log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _kd_reference(student: Array, teacher: Array, temperature: float) -> Array:
    """Per-sample ``T^2 * sum_c p_t * (log p_t - log p_s)`` with ``p = softmax(z / T)``."""
    log_t, log_s = _log_softmax(teacher / temperature), _log_softmax(student / temperature)
    return temperature**2 * (np.exp(log_t) * (log_t - log_s)).sum(axis=-1)


def _ce_reference(student: Array, labels: npt.NDArray[np.int64]) -> Array:
    """Per-sample ``-log softmax(z)[y]``."""
    return -_log_softmax(student)[np.arange(len(labels)), labels]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor, *, alpha: float,
                      temperature: float, reduction: str = "mean") -> LossParts:
    """Hinton's objective through :func:`sample_losses`, reduced as asked."""
    parts = sample_losses(student, teacher, labels, LogitKnowledge(alpha=alpha, temperature=temperature))
    if reduction == "none":
        return parts
    op = torch.sum if reduction == "sum" else torch.mean
    return LossParts(total=op(parts.total), ce=op(parts.ce), kd=op(parts.kd))


def _random_logits(seed: int, shape: tuple[int, int], scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def test_soft_target_loss_hand_worked_example_matches() -> None:
    # Prepare. Student [1, 2, 3], teacher [3, 2, 1], T = 2, by hand:
    #   teacher z/T = [1.5, 1, 0.5]; e^1.5 = 4.4816891, e^1 = 2.7182818, e^0.5 = 1.6487213, sum 8.8486922
    #   p_t = [0.5064804, 0.3071959, 0.1863237]; the student's logits are the teacher's reversed, so p_s = p_t
    #   reversed. Both softmax normalisers are equal, so log(p_t / p_s) = (z_t - z_s) / T = [1, 0, -1].
    #   KL(p_t || p_s) = 0.5064804 * 1 + 0.3071959 * 0 + 0.1863237 * (-1) = 0.3201567
    #   T^2 * KL = 4 * 0.3201567 = 1.2806267
    # In closed form: 4 * (e^1.5 - e^0.5) / (e^1.5 + e^1 + e^0.5).
    closed_form = 4 * (math.exp(1.5) - math.exp(0.5)) / (math.exp(1.5) + math.exp(1.0) + math.exp(0.5))
    student = torch.tensor([[1.0, 2.0, 3.0]])
    teacher = torch.tensor([[3.0, 2.0, 1.0]])

    # Execute
    loss = soft_target_loss(student, teacher, temperature=2.0)

    # Assert
    assert closed_form == pytest.approx(1.2806267, abs=1e-7)
    assert loss.item() == pytest.approx(1.2806267, abs=1e-6)
    assert loss.item() == pytest.approx(closed_form, rel=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0, 10.0])
def test_soft_target_loss_random_batch_matches_numpy_reference(temperature: float) -> None:
    student, teacher = _random_logits(0, (6, 5)), _random_logits(1, (6, 5))
    expected = _kd_reference(student.numpy(), teacher.numpy(), temperature)

    per_sample = soft_target_loss(student, teacher, temperature=temperature, reduction="none")
    mean = soft_target_loss(student, teacher, temperature=temperature)
    total = soft_target_loss(student, teacher, temperature=temperature, reduction="sum")

    np.testing.assert_allclose(per_sample.numpy(), expected, rtol=1e-10)
    assert mean.item() == pytest.approx(expected.mean(), rel=1e-10)
    assert total.item() == pytest.approx(expected.sum(), rel=1e-10)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
def test_soft_target_loss_doubling_temperature_scales_by_four_times_the_kl_ratio(temperature: float) -> None:
    # Prepare: the plain KL divergences (no T^2) at T and 2T, from NumPy.
    student, teacher = _random_logits(2, (5, 4)), _random_logits(3, (5, 4))
    kl_at_t = _kd_reference(student.numpy(), teacher.numpy(), temperature) / temperature**2
    kl_at_2t = _kd_reference(student.numpy(), teacher.numpy(), 2 * temperature) / (2 * temperature) ** 2

    # Execute
    at_t = soft_target_loss(student, teacher, temperature=temperature, reduction="none")
    at_2t = soft_target_loss(student, teacher, temperature=2 * temperature, reduction="none")

    # Assert: loss = T^2 * KL at each temperature, so the ratio carries an explicit factor (2T)^2 / T^2 = 4.
    np.testing.assert_allclose(at_t.numpy(), temperature**2 * kl_at_t, rtol=1e-10)
    np.testing.assert_allclose(at_2t.numpy(), 4 * temperature**2 * kl_at_2t, rtol=1e-10)
    np.testing.assert_allclose((at_2t / at_t).numpy(), 4.0 * kl_at_2t / kl_at_t, rtol=1e-10)


def test_soft_target_loss_at_high_temperature_approaches_half_mean_squared_logit_gap() -> None:
    # Hinton et al. (2015), Sec. 2.1: for T much larger than the logits, T^2 * KL tends to
    # 1/(2C) * sum_c ((z_t - mean z_t) - (z_s - mean z_s))^2, a finite limit only thanks to T^2.
    student, teacher = _random_logits(4, (3, 6), scale=1.0), _random_logits(5, (3, 6), scale=1.0)
    gap = (teacher - teacher.mean(dim=1, keepdim=True)) - (student - student.mean(dim=1, keepdim=True))
    limit = (gap**2).sum(dim=1).numpy() / (2 * 6)

    loss = soft_target_loss(student, teacher, temperature=1000.0, reduction="none")

    np.testing.assert_allclose(loss.numpy(), limit, rtol=1e-2)


@pytest.mark.parametrize("temperature", [0.25, 1.0, 4.0, 20.0])
def test_soft_target_loss_of_identical_logits_is_zero(temperature: float) -> None:
    logits = _random_logits(6, (6, 10), scale=5.0)

    same = soft_target_loss(logits, logits.clone(), temperature=temperature, reduction="none")
    shifted = soft_target_loss(logits, logits + 7.5, temperature=temperature, reduction="none")

    # A constant shift leaves the softmax unchanged, so it is still a perfect match.
    assert torch.allclose(same, torch.zeros(6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(shifted, torch.zeros(6, dtype=torch.float64), atol=1e-10)


def test_soft_target_loss_of_different_logits_is_positive() -> None:
    student, teacher = _random_logits(7, (50, 10)), _random_logits(8, (50, 10))

    loss = soft_target_loss(student, teacher, temperature=2.0, reduction="none")

    assert bool((loss > 0).all())  # Gibbs' inequality: KL > 0 unless the distributions agree


@pytest.mark.parametrize("temperature", [0.5, 2.0, 8.0])
def test_soft_target_loss_gradient_is_temperature_times_probability_gap(temperature: float) -> None:
    # d/dz_s of T^2 * KL(p_t || softmax(z_s / T)) = T^2 * (p_s - p_t) / T = T * (p_s - p_t).
    student = _random_logits(9, (4, 5)).requires_grad_(True)
    teacher = _random_logits(10, (4, 5))
    p_s = np.exp(_log_softmax(student.detach().numpy() / temperature))
    p_t = np.exp(_log_softmax(teacher.numpy() / temperature))

    soft_target_loss(student, teacher, temperature=temperature, reduction="sum").backward()

    assert student.grad is not None
    np.testing.assert_allclose(student.grad.numpy(), temperature * (p_s - p_t), rtol=1e-9, atol=1e-12)


def test_distillation_loss_alpha_one_equals_cross_entropy_without_teacher() -> None:
    student = _random_logits(11, (5, 4))
    labels = torch.tensor([0, 1, 2, 3, 0])

    parts = distillation_loss(student, None, labels, alpha=1.0, temperature=4.0)

    assert parts.total.item() == pytest.approx(F.cross_entropy(student, labels).item(), rel=1e-12)
    assert parts.total.item() == pytest.approx(_ce_reference(student.numpy(), labels.numpy()).mean(), rel=1e-10)
    assert parts.ce.item() == parts.total.item()
    assert parts.kd.item() == 0.0


def test_distillation_loss_alpha_zero_equals_the_soft_target_term() -> None:
    student, teacher = _random_logits(12, (5, 4)), _random_logits(13, (5, 4))
    labels = torch.tensor([3, 1, 2, 0, 0])

    parts = distillation_loss(student, teacher, labels, alpha=0.0, temperature=3.0)

    assert parts.total.item() == pytest.approx(soft_target_loss(student, teacher, temperature=3.0).item(), rel=1e-12)
    assert parts.total.item() == pytest.approx(_kd_reference(student.numpy(), teacher.numpy(), 3.0).mean(), rel=1e-10)
    assert parts.ce.item() == pytest.approx(_ce_reference(student.numpy(), labels.numpy()).mean(), rel=1e-10)


def test_distillation_loss_mixes_ce_and_kd_by_alpha() -> None:
    student, teacher = _random_logits(14, (4, 3)), _random_logits(15, (4, 3))
    labels = torch.tensor([0, 2, 1, 1])
    ce = _ce_reference(student.numpy(), labels.numpy())
    kd = _kd_reference(student.numpy(), teacher.numpy(), 3.0)

    parts = distillation_loss(student, teacher, labels, alpha=0.3, temperature=3.0, reduction="none")

    np.testing.assert_allclose(parts.ce.numpy(), ce, rtol=1e-10)
    np.testing.assert_allclose(parts.kd.numpy(), kd, rtol=1e-10)
    np.testing.assert_allclose(parts.total.numpy(), 0.3 * ce + 0.7 * kd, rtol=1e-10)


def test_distillation_loss_reduction_none_gives_one_value_per_sample_averaging_to_the_mean() -> None:
    student, teacher = _random_logits(16, (7, 3)), _random_logits(17, (7, 3))
    labels = torch.randint(0, 3, (7,), generator=torch.Generator().manual_seed(18))

    per_sample = distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0, reduction="none")
    mean = distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0)
    total = distillation_loss(student, teacher, labels, alpha=0.5, temperature=2.0, reduction="sum")

    for name in ("total", "ce", "kd"):
        values = getattr(per_sample, name)
        assert values.shape == (7,)
        assert values.mean().item() == pytest.approx(getattr(mean, name).item(), rel=1e-12)
        assert values.sum().item() == pytest.approx(getattr(total, name).item(), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.9])
def test_distillation_loss_backward_leaves_teacher_logits_without_gradient(alpha: float) -> None:
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)

    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 0]), alpha=alpha, temperature=2.0).total.backward()

    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


@pytest.mark.parametrize("temperature", [0.0, -1.0, -1e-9])
def test_losses_non_positive_temperature_raise_value_error(temperature: float) -> None:
    logits = torch.zeros(2, 3)

    with pytest.raises(ValueError, match="temperature must be > 0"):
        soft_target_loss(logits, logits, temperature=temperature)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        distillation_loss(logits, logits, torch.tensor([0, 1]), alpha=0.5, temperature=temperature)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        distillation_loss(logits, None, torch.tensor([0, 1]), alpha=1.0, temperature=temperature)


@pytest.mark.parametrize("alpha", [-0.1, 1.0001, 2.0])
def test_distillation_loss_alpha_outside_unit_interval_raises_value_error(alpha: float) -> None:
    logits = torch.zeros(2, 3)

    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        distillation_loss(logits, logits, torch.tensor([0, 1]), alpha=alpha, temperature=1.0)


def test_losses_shape_mismatch_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\).*differ in shape"):
        soft_target_loss(torch.zeros(2, 3), torch.zeros(2, 4), temperature=1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(3, 3), torch.tensor([0, 1]), alpha=0.5, temperature=1.0)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.999])
def test_distillation_loss_missing_teacher_below_alpha_one_raises_value_error(alpha: float) -> None:
    with pytest.raises(ValueError, match=f"teacher logits are required with alpha={alpha}"):
        distillation_loss(torch.zeros(2, 3), None, torch.tensor([0, 1]), alpha=alpha, temperature=1.0)


def test_losses_unknown_reduction_raises_value_error() -> None:
    with pytest.raises(ValueError, match="reduction must be"):
        soft_target_loss(torch.zeros(2, 3), torch.zeros(2, 3), temperature=1.0, reduction="max")  # type: ignore[arg-type]
