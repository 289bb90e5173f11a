"""Decoupled KD and not-true KD against independent references (NumPy, by hand)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import torch

from fedkd.losses.logit import decoupled_kd, dkd_parts, not_true_kd, soft_target_loss

Array = npt.NDArray[np.float64]


LossFn = Callable[..., torch.Tensor]


def _randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def _labels(seed: int, batch: int, classes: int) -> torch.Tensor:
    return torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed))


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _kl(p: Array, q: Array) -> float:
    return float((p * (np.log(p) - np.log(q))).sum())


def _dkd_reference(student: Array, teacher: Array, labels: Array, t: float) -> tuple[Array, Array]:
    """Per-sample (TCKD, NCKD) times ``T^2``: binary probabilities, then the label column deleted."""
    tckd, nckd = [], []
    for s, te, y in zip(student, teacher, labels, strict=True):
        ps, pt = _softmax(s / t), _softmax(te / t)
        tckd.append(_kl(np.array([pt[y], 1 - pt[y]]), np.array([ps[y], 1 - ps[y]])))
        nckd.append(_kl(_softmax(np.delete(te, y) / t), _softmax(np.delete(s, y) / t)))
    return t**2 * np.array(tckd), t**2 * np.array(nckd)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0])
def test_dkd_parts_random_batch_matches_numpy_reference(temperature: float) -> None:
    # Prepare
    student, teacher, labels = _randn(0, 6, 5, scale=3.0), _randn(1, 6, 5, scale=3.0), _labels(2, 6, 5)

    # Execute
    tckd, nckd = dkd_parts(student, teacher, labels, temperature=temperature)

    # Assert
    ref_tckd, ref_nckd = _dkd_reference(student.numpy(), teacher.numpy(), labels.numpy(), temperature)
    np.testing.assert_allclose(tckd.numpy(), ref_tckd, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nckd.numpy(), ref_nckd, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 2.0, 4.0, 10.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dkd_parts_reweighted_by_teacher_non_target_mass_reproduce_soft_target_loss(
    temperature: float, dtype: torch.dtype
) -> None:
    # Prepare: KD = TCKD + (1 - p_y^t) * NCKD (Zhao et al. 2022, Eq. 7).
    student, teacher = _randn(3, 8, 10, scale=3.0).to(dtype), _randn(4, 8, 10, scale=3.0).to(dtype)
    labels = _labels(5, 8, 10)
    p_target = torch.softmax(teacher.double() / temperature, dim=-1)[torch.arange(8), labels]

    # Execute
    tckd, nckd = dkd_parts(student, teacher, labels, temperature=temperature)
    kd = soft_target_loss(student, teacher, temperature=temperature, reduction="none")

    # Assert
    recombined = tckd.double() + (1 - p_target) * nckd.double()
    # float32 rounding, scaled by T^2, reaches a few 1e-5 at T = 10 (it depends on the CPU's kernels).
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    np.testing.assert_allclose(recombined.numpy(), kd.double().numpy(), atol=tolerance, rtol=tolerance)


def test_decoupled_kd_weights_combine_the_numpy_parts() -> None:
    # Prepare
    student, teacher, labels = _randn(6, 5, 4, scale=2.0), _randn(7, 5, 4, scale=2.0), _labels(8, 5, 4)
    ref_tckd, ref_nckd = _dkd_reference(student.numpy(), teacher.numpy(), labels.numpy(), 3.0)

    # Execute
    loss = decoupled_kd(student, teacher, labels, temperature=3.0, tckd_weight=0.5, nckd_weight=2.0,
                        reduction="none")

    # Assert
    np.testing.assert_allclose(loss.numpy(), 0.5 * ref_tckd + 2.0 * ref_nckd, rtol=1e-9)


def test_decoupled_kd_two_classes_reduces_to_soft_target_loss_hand_worked() -> None:
    # Prepare. With two classes the non-target distribution is a single point, so NCKD = 0 and TCKD is the
    # whole KD. Student [0, 0] -> b_s = [1/2, 1/2]; teacher [log 3, 0] at T = 1 -> b_t = [3/4, 1/4];
    # KL = 3/4 log(3/2) + 1/4 log(1/2) = 3/4 log 3 - log 2 = 0.1308120.
    student = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    teacher = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    labels = torch.tensor([0])

    # Execute
    loss = decoupled_kd(student, teacher, labels, temperature=1.0, tckd_weight=1.0, nckd_weight=8.0)

    # Assert
    assert loss.item() == pytest.approx(0.75 * math.log(3) - math.log(2), abs=1e-12)
    assert loss.item() == pytest.approx(0.1308120, abs=1e-7)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_not_true_kd_random_batch_matches_numpy_with_label_column_deleted(temperature: float) -> None:
    # Prepare
    student, teacher, labels = _randn(9, 7, 6, scale=3.0), _randn(10, 7, 6, scale=3.0), _labels(11, 7, 6)
    expected = [
        temperature**2 * _kl(_softmax(np.delete(t, y) / temperature), _softmax(np.delete(s, y) / temperature))
        for s, t, y in zip(student.numpy(), teacher.numpy(), labels.numpy(), strict=True)
    ]

    # Execute
    loss = not_true_kd(student, teacher, labels, temperature=temperature, reduction="none")

    # Assert
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_not_true_kd_teacher_differing_only_in_true_logit_gives_zero() -> None:
    # Prepare
    student, labels = _randn(12, 4, 5), torch.tensor([0, 3, 4, 1])
    teacher = student.clone()
    teacher[torch.arange(4), labels] += torch.tensor([5.0, -7.0, 2.0, 10.0], dtype=torch.float64)

    # Execute
    ntd = not_true_kd(student, teacher, labels, temperature=2.0, reduction="none")
    kd = soft_target_loss(student, teacher, temperature=2.0, reduction="none")

    # Assert
    np.testing.assert_allclose(ntd.numpy(), 0.0, atol=1e-12)
    assert (kd > 1e-3).all()


def test_not_true_kd_equals_the_nckd_part_of_dkd() -> None:
    student, teacher, labels = _randn(13, 5, 7), _randn(14, 5, 7), _labels(15, 5, 7)
    _, nckd = dkd_parts(student, teacher, labels, temperature=2.0)
    torch.testing.assert_close(not_true_kd(student, teacher, labels, temperature=2.0, reduction="none"), nckd)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
@pytest.mark.parametrize("fn", [decoupled_kd, not_true_kd, dkd_parts])
def test_logit_losses_non_positive_temperature_raises_value_error(fn: LossFn, temperature: float) -> None:
    with pytest.raises(ValueError, match=f"temperature must be > 0, got {temperature}"):
        fn(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), temperature=temperature)


@pytest.mark.parametrize("weight", ["tckd_weight", "nckd_weight"])
def test_decoupled_kd_negative_weight_raises_value_error_naming_it(weight: str) -> None:
    with pytest.raises(ValueError, match=f"{weight} must be >= 0, got -0.5"):
        decoupled_kd(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), temperature=1.0, **{weight: -0.5})


@pytest.mark.parametrize("fn", [decoupled_kd, not_true_kd])
@pytest.mark.parametrize(("student_shape", "teacher_shape", "labels", "match"), [
    ((2, 3), (2, 4), [0, 1], r"\(2, 3\).*\(2, 4\)"),
    ((2, 3), (2, 3), [0, 1, 2], r"labels must be integers of shape \(2,\)"),
    ((2, 3), (2, 3), [0, 3], r"labels must lie in \[0, 3\)"),
    ((2, 1), (2, 1), [0, 0], r"classes >= 2"),
])
def test_logit_losses_bad_shapes_or_labels_raise_value_error(
    fn: LossFn, student_shape: tuple[int, ...], teacher_shape: tuple[int, ...], labels: list[int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fn(torch.zeros(student_shape), torch.zeros(teacher_shape), torch.tensor(labels), temperature=1.0)
