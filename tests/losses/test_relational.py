"""Relational losses (RKD, similarity-preserving) against independent references (NumPy, by hand)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import torch

from fedkd.losses.relational import rkd_loss, similarity_preserving

Array = npt.NDArray[np.float64]


def _randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def _smooth_l1(x: Array, y: Array) -> float:
    d = np.abs(x - y)
    return float(np.where(d < 1, 0.5 * d**2, d - 0.5).mean())


def _rkd_reference(s: Array, t: Array, wd: float, wa: float) -> float:
    """Loops over every ordered pair and triplet, as in the authors' code."""
    def distances(e: Array) -> Array:
        n = len(e)
        d = np.array([[np.linalg.norm(e[i] - e[j]) for j in range(n)] for i in range(n)])
        return d / d[d > 0].mean()

    def angles(e: Array) -> Array:
        n, out = len(e), []
        for i, j, k in itertools.product(range(n), repeat=3):
            u, v = e[j] - e[i], e[k] - e[i]
            nu, nv = np.linalg.norm(u), np.linalg.norm(v)
            out.append(0.0 if nu == 0 or nv == 0 else u @ v / (nu * nv))
        return np.array(out)

    return wd * _smooth_l1(distances(s), distances(t)) + wa * _smooth_l1(angles(s), angles(t))


def _sp_reference(s: Array, t: Array) -> float:
    def gram(f: Array) -> Array:
        g = f.reshape(len(f), -1) @ f.reshape(len(f), -1).T
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    return float(((gram(s) - gram(t)) ** 2).sum() / len(s) ** 2)


@pytest.mark.parametrize(("distance_weight", "angle_weight"), [(25.0, 50.0), (1.0, 0.0), (0.0, 1.0)])
def test_rkd_loss_random_embeddings_match_looped_numpy_reference(distance_weight: float, angle_weight: float) -> None:
    # Prepare. Student and teacher live in different dimensions; the student has a duplicate row.
    student, teacher = _randn(20, 5, 4), _randn(21, 5, 6, scale=3.0)
    student[4] = student[1]

    # Execute
    loss = rkd_loss(student, teacher, distance_weight=distance_weight, angle_weight=angle_weight)

    # Assert
    expected = _rkd_reference(student.numpy(), teacher.numpy(), distance_weight, angle_weight)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_rkd_loss_uniform_scaling_and_translation_of_embeddings_leave_it_unchanged() -> None:
    student, teacher = _randn(22, 6, 4), _randn(23, 6, 5)
    base = rkd_loss(student, teacher)
    moved = rkd_loss(2.5 * student + 1.0, 0.3 * teacher - 4.0)
    assert base.item() > 0
    assert moved.item() == pytest.approx(base.item(), rel=1e-9)


@pytest.mark.parametrize("batch", [1, 2])
def test_rkd_loss_batch_too_small_for_angles_is_zero_or_distance_only_without_nan(batch: int) -> None:
    # Prepare
    student = _randn(24, batch, 3).requires_grad_(True)
    teacher = _randn(25, batch, 3)

    # Execute
    loss = rkd_loss(student, teacher)
    loss.backward()

    # Assert. Two points: both normalised distance matrices are [[0, 1], [1, 0]], so the loss is 0 too.
    assert loss.item() == 0.0
    assert student.grad is not None and torch.isfinite(student.grad).all()


def test_rkd_loss_identical_teacher_embeddings_give_finite_loss_and_gradient() -> None:
    student = _randn(26, 4, 3).requires_grad_(True)
    loss = rkd_loss(student, torch.ones(4, 3, dtype=torch.float64))
    loss.backward()
    assert torch.isfinite(loss) and student.grad is not None and torch.isfinite(student.grad).all()


def test_similarity_preserving_random_features_match_numpy_reference() -> None:
    student, teacher = _randn(27, 5, 2, 3), _randn(28, 5, 7)
    loss = similarity_preserving(student, teacher)
    assert loss.item() == pytest.approx(_sp_reference(student.numpy(), teacher.numpy()), rel=1e-9)


def test_similarity_preserving_hand_worked_example_matches() -> None:
    # Student rows e1, e2 -> F F^T = I, rows already unit. Teacher rows (1, 0), (1, 1) -> F F^T = [[1, 1], [1, 2]]
    # -> rows [1, 1] / sqrt 2 and [1, 2] / sqrt 5. Squared gap: (1 - 1/sqrt2)^2 + 1/2 + 1/5 + (1 - 2/sqrt5)^2,
    # divided by B^2 = 4.
    student = torch.eye(2, dtype=torch.float64)
    teacher = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    expected = ((1 - 1 / math.sqrt(2)) ** 2 + 0.5 + 0.2 + (1 - 2 / math.sqrt(5)) ** 2) / 4
    assert similarity_preserving(student, teacher).item() == pytest.approx(expected, abs=1e-12)


def test_similarity_preserving_uniform_scaling_of_features_leaves_it_unchanged() -> None:
    student, teacher = _randn(29, 6, 4), _randn(30, 6, 8)
    base = similarity_preserving(student, teacher)
    assert similarity_preserving(7.0 * student, 0.01 * teacher).item() == pytest.approx(base.item(), rel=1e-9)


def test_similarity_preserving_per_sample_scaling_changes_it() -> None:
    # Row normalisation of F F^T removes a sample's own scale but not its neighbours' (G_ij ~ c_j), so SP is
    # invariant to one global scale only. Pinned so that nobody relies on a per-sample invariance.
    student, teacher = _randn(31, 6, 4), _randn(32, 6, 8)
    scales = torch.tensor([1.0, 2.0, 3.0, 0.5, 4.0, 1.5], dtype=torch.float64).unsqueeze(1)
    base = similarity_preserving(student, teacher)
    assert similarity_preserving(scales * student, teacher).item() != pytest.approx(base.item(), rel=1e-3)


@pytest.mark.parametrize("weight", ["distance_weight", "angle_weight"])
def test_rkd_loss_negative_weight_raises_value_error_naming_it(weight: str) -> None:
    with pytest.raises(ValueError, match=f"{weight} must be >= 0, got -1.0"):
        rkd_loss(torch.zeros(3, 2), torch.zeros(3, 2), **{weight: -1.0})


@pytest.mark.parametrize("fn", [rkd_loss, similarity_preserving])
def test_batch_level_losses_different_batch_sizes_raise_value_error(fn: Callable[..., torch.Tensor]) -> None:
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4, 2\).*batch size"):
        fn(torch.zeros(3, 2), torch.zeros(4, 2))
