"""Hint and attention-transfer losses against independent references (NumPy, by hand)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import torch

from fedkd.losses.feature import attention_transfer, hint_loss

Array = npt.NDArray[np.float64]


def _randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def _attention_reference(a: Array, p: float) -> Array:
    q = (np.abs(a) ** p).mean(axis=1).reshape(len(a), -1)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_hint_loss_matches_numpy_per_sample_mean_squared_error() -> None:
    # Prepare
    student, teacher = _randn(16, 3, 4, 5), _randn(17, 3, 4, 5)

    # Execute
    loss = hint_loss(student, teacher, reduction="none")

    # Assert
    expected = ((student.numpy() - teacher.numpy()) ** 2).reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_hint_loss_hand_worked_example_matches() -> None:
    # (1 - 0)^2, (2 - 4)^2 -> mean (1 + 4) / 2 = 2.5
    assert hint_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])).item() == pytest.approx(2.5)


def test_hint_loss_shape_mismatch_raises_value_error_naming_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        hint_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_attention_transfer_hand_worked_example_matches() -> None:
    # Prepare. Student, one channel [sqrt 3, 2] -> |A|^2 = [3, 4] -> Q_s = [0.6, 0.8].
    # Teacher, two channels [[2, 0], [0, 2]] -> mean |A|^2 = [2, 2] -> Q_t = [1, 1] / sqrt 2.
    # For unit vectors ||a - b||^2 = 2 - 2 a.b = 2 - 2 * 1.4 / sqrt 2 = 2 - 1.4 sqrt 2 = 0.0201010.
    student = torch.tensor([[[math.sqrt(3.0), 2.0]]], dtype=torch.float64)
    teacher = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)

    # Execute
    loss = attention_transfer(student, teacher)

    # Assert
    assert loss.item() == pytest.approx(2 - 1.4 * math.sqrt(2), abs=1e-12)
    assert loss.item() == pytest.approx(0.0201010, abs=1e-7)


@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("spatial", [(9,), (3, 4)])
def test_attention_transfer_random_maps_with_different_channels_match_numpy(p: float, spatial: tuple[int, ...]) -> None:
    # Prepare
    student, teacher = _randn(18, 4, 3, *spatial), _randn(19, 4, 8, *spatial)

    # Execute
    loss = attention_transfer(student, teacher, p=p, reduction="none")

    # Assert
    gap = _attention_reference(student.numpy(), p) - _attention_reference(teacher.numpy(), p)
    np.testing.assert_allclose(loss.numpy(), (gap**2).sum(axis=1), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize(("student_shape", "teacher_shape"), [
    ((2, 3, 5), (2, 3, 6)), ((2, 3, 4, 4), (2, 3, 4, 5)), ((2, 3, 5), (3, 3, 5)), ((2, 3), (2, 3)),
    ((2, 3, 16), (2, 3, 4, 4)),
])
def test_attention_transfer_mismatched_spatial_or_batch_raises_value_error(
    student_shape: tuple[int, ...], teacher_shape: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match="spatial"):
        attention_transfer(torch.zeros(student_shape), torch.zeros(teacher_shape))


@pytest.mark.parametrize("p", [0.0, -1.0])
def test_attention_transfer_non_positive_p_raises_value_error(p: float) -> None:
    with pytest.raises(ValueError, match=f"p must be > 0, got {p}"):
        attention_transfer(torch.ones(1, 2, 3), torch.ones(1, 2, 3), p=p)
