"""Invariants every loss shares: zero for identical inputs, non-negative, per-sample values, no teacher gradient."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from fedkd.losses.feature import attention_transfer, hint_loss
from fedkd.losses.logit import decoupled_kd, not_true_kd
from fedkd.losses.relational import rkd_loss, similarity_preserving


def _randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def _labels(seed: int, batch: int, classes: int) -> torch.Tensor:
    return torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed))


PER_SAMPLE: dict[str, tuple[tuple[int, ...], Callable[..., torch.Tensor]]] = {
    "decoupled_kd": ((6, 5), lambda s, t, y, **kw: decoupled_kd(s, t, y, temperature=2.0, **kw)),
    "not_true_kd": ((6, 5), lambda s, t, y, **kw: not_true_kd(s, t, y, temperature=2.0, **kw)),
    "hint_loss": ((6, 3, 4), lambda s, t, y, **kw: hint_loss(s, t, **kw)),
    "attention_transfer": ((6, 3, 2, 4), lambda s, t, y, **kw: attention_transfer(s, t, **kw)),
}


BATCH_LEVEL: dict[str, tuple[tuple[int, ...], Callable[..., torch.Tensor]]] = {
    "rkd_loss": ((6, 2, 3), lambda s, t, y: rkd_loss(s, t)),
    "similarity_preserving": ((6, 2, 3), lambda s, t, y: similarity_preserving(s, t)),
}


ALL_LOSSES = {**PER_SAMPLE, **BATCH_LEVEL}


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_losses_identical_student_and_teacher_give_zero(name: str) -> None:
    shape, fn = ALL_LOSSES[name]
    inputs = _randn(33, *shape, scale=2.0)
    assert fn(inputs, inputs.clone(), _labels(34, shape[0], 5)).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", ALL_LOSSES)
def test_losses_random_inputs_are_non_negative(name: str, seed: int) -> None:
    shape, fn = ALL_LOSSES[name]
    student, teacher = _randn(seed, *shape, scale=3.0), _randn(seed + 100, *shape, scale=3.0)
    assert fn(student, teacher, _labels(seed, shape[0], 5)).item() >= 0.0


@pytest.mark.parametrize("name", PER_SAMPLE)
def test_losses_reduction_none_gives_one_value_per_sample_averaging_to_the_mean(name: str) -> None:
    # Prepare
    shape, fn = PER_SAMPLE[name]
    student, teacher, labels = _randn(35, *shape), _randn(36, *shape), _labels(37, shape[0], 5)

    # Execute
    per_sample = fn(student, teacher, labels, reduction="none")

    # Assert
    assert per_sample.shape == (shape[0],)
    assert fn(student, teacher, labels, reduction="mean").item() == pytest.approx(per_sample.mean().item(), rel=1e-12)
    assert fn(student, teacher, labels, reduction="sum").item() == pytest.approx(per_sample.sum().item(), rel=1e-12)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_losses_backward_reaches_student_and_leaves_teacher_without_gradient(name: str) -> None:
    # Prepare
    shape, fn = ALL_LOSSES[name]
    student = _randn(38, *shape).requires_grad_(True)
    teacher = _randn(39, *shape).requires_grad_(True)

    # Execute
    fn(student, teacher, _labels(40, shape[0], 5)).backward()

    # Assert
    assert student.grad is not None and torch.isfinite(student.grad).all() and student.grad.abs().sum() > 0
    assert teacher.grad is None
