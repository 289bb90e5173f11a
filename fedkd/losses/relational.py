"""Relational losses: they compare the samples of a batch with each other.

Each sample's term depends on the others, so they return one scalar per batch and
cannot be used where per-sample gradients must be bounded (DP-SGD, Opacus).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from fedkd.losses.checks import check_batches, check_non_negative


def _distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances divided by their mean over distinct (non-zero) pairs."""
    squared = (embeddings.unsqueeze(0) - embeddings.unsqueeze(1)).pow(2).sum(dim=-1)
    tiny = torch.finfo(squared.dtype).tiny
    distances = torch.where(squared > 0, squared.clamp_min(tiny).sqrt(), torch.zeros_like(squared))
    positive = distances[distances > 0]
    return distances / positive.mean() if positive.numel() else distances


def _angles(embeddings: torch.Tensor) -> torch.Tensor:
    """``cos[i, j, k]``: cosine of the angle at ``e_i`` between ``e_j - e_i`` and ``e_k - e_i``."""
    unit = F.normalize(embeddings.unsqueeze(0) - embeddings.unsqueeze(1), dim=-1)
    return unit @ unit.transpose(1, 2)


def rkd_loss(
    student_embeddings: torch.Tensor, teacher_embeddings: torch.Tensor, *, distance_weight: float = 25.0,
    angle_weight: float = 50.0,
) -> torch.Tensor:
    """Relational KD, ``w_d * smoothL1(psi_D) + w_a * smoothL1(psi_A)`` (Park et al., CVPR 2019).

    ``psi_D(i, j) = ||e_i - e_j|| / mu`` with ``mu`` the mean distance over distinct pairs;
    ``psi_A(i, j, k) = <(e_j - e_i) / ||.||, (e_k - e_i) / ||.||>`` ("Relational Knowledge Distillation",
    Eqs. 5 and 7). As in the authors' code, Huber losses are averaged over all ``B^2`` pairs and ``B^3``
    triplets, degenerate ones (zero on both sides) included; memory grows as ``B^3``. The loss is defined
    over the batch, so it is one scalar, not per sample, and cannot be used under per-sample-gradient DP.

    Parameters
    ----------
    student_embeddings, teacher_embeddings : torch.Tensor
        Shape ``(batch, ...)``, flattened to ``(batch, D)``; ``D`` may differ. No gradient flows into the
        teacher. The distance term needs ``batch >= 2`` and the angle term ``batch >= 3``; below that they are 0.
    distance_weight, angle_weight : float
        ``w_d, w_a >= 0``.

    Raises
    ------
    ValueError
        For a negative weight or differing batch sizes.
    """
    check_non_negative(distance_weight=distance_weight, angle_weight=angle_weight)
    check_batches(student_embeddings, teacher_embeddings)
    batch = student_embeddings.shape[0]
    student = student_embeddings.reshape(batch, -1)
    teacher = teacher_embeddings.detach().reshape(batch, -1)
    loss = student.sum() * 0.0
    if batch >= 2 and distance_weight > 0:
        loss = loss + distance_weight * F.smooth_l1_loss(_distances(student), _distances(teacher))
    if batch >= 3 and angle_weight > 0:
        loss = loss + angle_weight * F.smooth_l1_loss(_angles(student), _angles(teacher))
    return loss


def _similarity(features: torch.Tensor) -> torch.Tensor:
    flat = features.reshape(features.shape[0], -1)
    return F.normalize(flat @ flat.T, dim=1)


def similarity_preserving(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """Similarity-preserving KD, ``||G_s - G_t||_F^2 / B^2`` (Tung & Mori, ICCV 2019).

    ``G = normalise_rows(F F^T)`` for features ``F`` flattened to ``(B, D)``
    ("Similarity-Preserving Knowledge Distillation", Eqs. 2-4). The loss is defined over the batch: one
    scalar, not usable under per-sample-gradient DP. It is unchanged when all features are scaled by one
    constant, but not under different scales per sample.

    Parameters
    ----------
    student_features, teacher_features : torch.Tensor
        Shape ``(batch, ...)``; feature sizes may differ. No gradient flows into the teacher.

    Raises
    ------
    ValueError
        If the batch sizes differ or the batch is empty.
    """
    check_batches(student_features, teacher_features)
    batch = student_features.shape[0]
    if batch == 0:
        raise ValueError("similarity_preserving needs a non-empty batch")
    gap = _similarity(student_features) - _similarity(teacher_features.detach())
    return gap.pow(2).sum() / batch**2


# Relational losses by config name; each maps (student, teacher) embeddings of one batch to a scalar.
RELATIONAL_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "rkd": rkd_loss,
    "similarity": similarity_preserving,
}
