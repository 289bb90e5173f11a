"""Knowledge-type losses against NumPy re-implementations and hand-worked examples, and their invariants.

Reference values never go through ``fedkd.knowledge``: the NumPy versions below delete columns, loop over
pairs and triplets, and normalise by hand.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import torch

from fedkd.knowledge import (
    TRUST_MEASURES,
    attention_transfer,
    confidence_mask,
    decoupled_kd,
    dkd_parts,
    hint_loss,
    not_true_kd,
    rkd_loss,
    similarity_preserving,
)
from fedkd.losses import soft_target_loss

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


def _attention_reference(a: Array, p: float) -> Array:
    q = (np.abs(a) ** p).mean(axis=1).reshape(len(a), -1)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


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


# ---- decoupled_kd / dkd_parts -------------------------------------------------------------------------------

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


# ---- not_true_kd ------------------------------------------------------------------------------------------

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


# ---- hint_loss --------------------------------------------------------------------------------------------

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


# ---- attention_transfer -----------------------------------------------------------------------------------

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


# ---- rkd_loss ---------------------------------------------------------------------------------------------

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


# ---- similarity_preserving --------------------------------------------------------------------------------

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


# ---- confidence_mask ---------------------------------------------------------------------------------------

def test_confidence_mask_max_prob_hand_worked_example_matches() -> None:
    # Prepare: probabilities [0.7, 0.2, 0.1] and [0.4, 0.35, 0.25].
    logits = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]], dtype=torch.float64).log()

    # Execute / Assert
    assert confidence_mask(logits, threshold=0.69).tolist() == [1.0, 0.0]
    assert confidence_mask(logits, threshold=0.39).tolist() == [1.0, 1.0]
    assert confidence_mask(logits, threshold=0.71).tolist() == [0.0, 0.0]
    assert confidence_mask(logits, threshold=0.0).tolist() == [1.0, 1.0]


def test_confidence_mask_entropy_hand_worked_example_matches() -> None:
    # Prepare. Row 0: two of four classes at 1/2 -> H = log 2, / log 4 = 0.5. Row 1: uniform -> 1.
    # Row 2: one class at 1 -> 0.
    logits = torch.tensor([[0.0, 0.0, -1e4, -1e4], [1.0, 1.0, 1.0, 1.0], [1e4, 0.0, 0.0, 0.0]], dtype=torch.float64)

    # Execute / Assert
    assert confidence_mask(logits, threshold=0.49, measure="entropy").tolist() == [0.0, 0.0, 1.0]
    assert confidence_mask(logits, threshold=0.51, measure="entropy").tolist() == [1.0, 0.0, 1.0]
    assert confidence_mask(logits, threshold=1.0, measure="entropy").tolist() == [1.0, 1.0, 1.0]
    assert confidence_mask(logits, threshold=0.0, measure="entropy").tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("measure", TRUST_MEASURES)
def test_confidence_mask_returns_float_mask_of_batch_shape_without_gradient(measure: str) -> None:
    logits = torch.randn(5, 3, requires_grad=True)
    mask = confidence_mask(logits, threshold=0.5, measure=measure)
    assert mask.shape == (5,) and mask.dtype == torch.float32 and not mask.requires_grad
    assert set(mask.tolist()) <= {0.0, 1.0}


def test_confidence_mask_unknown_measure_raises_value_error_listing_allowed() -> None:
    with pytest.raises(ValueError, match=r"max-prob.*entropy.*'margin'"):
        confidence_mask(torch.zeros(2, 3), threshold=0.5, measure="margin")


@pytest.mark.parametrize("threshold", [-0.1, 1.01, math.nan])
def test_confidence_mask_threshold_outside_unit_interval_raises_value_error(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        confidence_mask(torch.zeros(2, 3), threshold=threshold)


# ---- shared contracts --------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("temperature", [0.0, -1.0])
@pytest.mark.parametrize("fn", [decoupled_kd, not_true_kd, dkd_parts])
def test_logit_losses_non_positive_temperature_raises_value_error(fn: LossFn, temperature: float) -> None:
    with pytest.raises(ValueError, match=f"temperature must be > 0, got {temperature}"):
        fn(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), temperature=temperature)


@pytest.mark.parametrize("weight", ["tckd_weight", "nckd_weight"])
def test_decoupled_kd_negative_weight_raises_value_error_naming_it(weight: str) -> None:
    with pytest.raises(ValueError, match=f"{weight} must be >= 0, got -0.5"):
        decoupled_kd(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]), temperature=1.0, **{weight: -0.5})


@pytest.mark.parametrize("weight", ["distance_weight", "angle_weight"])
def test_rkd_loss_negative_weight_raises_value_error_naming_it(weight: str) -> None:
    with pytest.raises(ValueError, match=f"{weight} must be >= 0, got -1.0"):
        rkd_loss(torch.zeros(3, 2), torch.zeros(3, 2), **{weight: -1.0})


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


@pytest.mark.parametrize("fn", [rkd_loss, similarity_preserving])
def test_batch_level_losses_different_batch_sizes_raise_value_error(fn: Callable[..., torch.Tensor]) -> None:
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4, 2\).*batch size"):
        fn(torch.zeros(3, 2), torch.zeros(4, 2))
