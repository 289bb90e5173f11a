"""Distillation losses for knowledge beyond soft targets: logit parts, features, relations and teacher trust.

Per-sample losses (``decoupled_kd``, ``not_true_kd``, ``hint_loss``, ``attention_transfer``) take a
``reduction`` and return one value per sample with ``reduction="none"``, so they work under
per-sample-gradient differential privacy. Relational losses (``rkd_loss``, ``similarity_preserving``)
compare the samples of a batch with each other: each sample's term depends on the others, so they return
one scalar per batch and cannot be used where per-sample gradients must be bounded (DP-SGD, Opacus).
Teacher inputs are always detached.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fedkd.losses import Reduction, _check_temperature, _reduce

TRUST_MEASURES = ("max-prob", "entropy")


def _check_non_negative(**weights: float) -> None:
    for name, value in weights.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2 or student_logits.shape[1] < 2:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must share one (batch, classes >= 2) shape")
    batch, classes = student_logits.shape
    if labels.shape != (batch,) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers of shape ({batch},), got {labels.dtype} {tuple(labels.shape)}")
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got [{int(labels.min())}, {int(labels.max())}]")


def _check_batches(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.dim() < 1 or teacher.dim() < 1 or student.shape[0] != teacher.shape[0]:
        raise ValueError(f"student features {tuple(student.shape)} and teacher features {tuple(teacher.shape)} "
                         "differ in batch size")


def _kl(teacher_log_p: torch.Tensor, student_log_p: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(p_t || p_s)`` over the last dimension, from log-probabilities."""
    return (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(dim=-1)


def _drop_true_class(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` logits without each row's label column, ``(B, C - 1)``, order kept."""
    keep = torch.ones_like(logits, dtype=torch.bool).scatter_(1, labels.unsqueeze(1), False)
    return logits[keep].view(logits.shape[0], logits.shape[1] - 1)


def _nckd(student_scaled: torch.Tensor, teacher_scaled: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample KL over the non-target classes of logits already divided by ``T``."""
    teacher_rest = F.log_softmax(_drop_true_class(teacher_scaled, labels), dim=-1)
    return _kl(teacher_rest, F.log_softmax(_drop_true_class(student_scaled, labels), dim=-1))


def _binary_log_p(scaled: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(B, 2)`` log-probabilities of target and of all non-target classes together."""
    norm = scaled.logsumexp(dim=-1)
    target = scaled.gather(1, labels.unsqueeze(1)).squeeze(1)
    rest = _drop_true_class(scaled, labels).logsumexp(dim=-1)
    return torch.stack([target - norm, rest - norm], dim=-1)


def dkd_parts(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(TCKD, NCKD)`` of Zhao et al. (2022), each of shape ``(batch,)`` and already times ``T**2``.

    ``TCKD = KL(b_t || b_s)`` with ``b = [p_y, 1 - p_y]`` and ``p = softmax(z / T)``;
    ``NCKD = KL(q_t || q_s)`` with ``q = softmax`` of the ``C - 1`` non-target logits over ``T``.
    The classic soft-target loss splits as ``KD = TCKD + (1 - p_y^t) * NCKD`` ("Decoupled Knowledge
    Distillation", CVPR 2022, Eq. 7). Arguments and errors as in :func:`decoupled_kd`.
    """
    _check_temperature(temperature)
    _check_logits(student_logits, teacher_logits, labels)
    labels = labels.long()
    student, teacher = student_logits / temperature, teacher_logits.detach() / temperature
    tckd = _kl(_binary_log_p(teacher, labels), _binary_log_p(student, labels))
    return tckd * temperature**2, _nckd(student, teacher, labels) * temperature**2


def decoupled_kd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *, temperature: float,
    tckd_weight: float = 1.0, nckd_weight: float = 8.0, reduction: Reduction = "mean",
) -> torch.Tensor:
    """Decoupled knowledge distillation, ``T^2 * (alpha * TCKD + beta * NCKD)`` (Zhao et al., CVPR 2022).

    Unlike the soft-target loss, the non-target term is not damped by the teacher's confidence
    ``1 - p_y^t``; see :func:`dkd_parts` for the two terms. The authors' warm-up of the weights is left
    to the caller.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor
        Shape ``(batch, classes)``, ``classes >= 2``. No gradient flows into ``teacher_logits``.
    labels : torch.Tensor
        Integer true classes, shape ``(batch,)``.
    temperature : float
        Softening temperature ``T > 0``.
    tckd_weight, nckd_weight : float
        ``alpha`` and ``beta``, both ``>= 0``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample.

    Raises
    ------
    ValueError
        For ``T <= 0``, a negative weight, mismatched shapes or labels out of range.
    """
    _check_non_negative(tckd_weight=tckd_weight, nckd_weight=nckd_weight)
    tckd, nckd = dkd_parts(student_logits, teacher_logits, labels, temperature=temperature)
    return _reduce(tckd_weight * tckd + nckd_weight * nckd, reduction)


def not_true_kd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *, temperature: float,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Not-true distillation of FedNTD, ``T^2 * KL(q_t || q_s)`` (Lee et al., NeurIPS 2022).

    ``q = softmax(z_{-y} / T)`` over the ``C - 1`` logits left once the true class ``y`` is removed
    ("Preservation of the Global Knowledge by Not-True Distillation in Federated Learning", Eq. 3);
    this equals DKD's NCKD term. Arguments and errors as in :func:`decoupled_kd`.
    """
    _check_temperature(temperature)
    _check_logits(student_logits, teacher_logits, labels)
    labels = labels.long()
    per_sample = _nckd(student_logits / temperature, teacher_logits.detach() / temperature, labels)
    return _reduce(per_sample * temperature**2, reduction)


def hint_loss(
    student_features: torch.Tensor, teacher_features: torch.Tensor, *, reduction: Reduction = "mean"
) -> torch.Tensor:
    """FitNets hint loss, per-sample ``mean_j (s_j - t_j)^2`` over flattened features (Romero et al., ICLR 2015).

    The student's features must already be mapped to the teacher's shape (the paper's regressor).

    Parameters
    ----------
    student_features, teacher_features : torch.Tensor
        The same shape ``(batch, ...)``. No gradient flows into ``teacher_features``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample.

    Raises
    ------
    ValueError
        If the shapes differ or have no feature dimension.
    """
    if student_features.shape != teacher_features.shape or student_features.dim() < 2:
        raise ValueError(f"student features {tuple(student_features.shape)} and teacher features "
                         f"{tuple(teacher_features.shape)} must share one (batch, ...) shape")
    diff = (student_features - teacher_features.detach()).flatten(1)
    return _reduce(diff.pow(2).mean(dim=1), reduction)


def _attention_map(features: torch.Tensor, p: float) -> torch.Tensor:
    return F.normalize(features.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_transfer(
    student_features: torch.Tensor, teacher_features: torch.Tensor, *, p: float = 2.0, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Attention transfer, per-sample ``||Q_s / ||Q_s|| - Q_t / ||Q_t|| ||_2^2`` (Zagoruyko & Komodakis, ICLR 2017).

    ``Q = mean_c |A_c|^p``, flattened over the spatial positions ("Paying More Attention to Attention",
    Eq. 2). The squared distance is summed over positions, so it lies in ``[0, 2]`` whatever the
    resolution; the authors' code averages it instead, which equals this divided by the number of positions.

    Parameters
    ----------
    student_features, teacher_features : torch.Tensor
        Shape ``(batch, channels, *spatial)``, e.g. ``(B, C, L)`` or ``(B, C, H, W)``. Channel counts may
        differ; batch and spatial sizes must match. No gradient flows into ``teacher_features``.
    p : float
        Exponent ``p > 0``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample.

    Raises
    ------
    ValueError
        For ``p <= 0``, or maps without spatial dimensions or differing in batch or spatial size.
    """
    if not p > 0:
        raise ValueError(f"p must be > 0, got {p}")
    s_shape, t_shape = student_features.shape, teacher_features.shape
    if len(s_shape) < 3 or len(t_shape) < 3 or s_shape[0] != t_shape[0] or s_shape[2:] != t_shape[2:]:
        raise ValueError(f"student features {tuple(s_shape)} and teacher features {tuple(t_shape)} must be "
                         "(batch, channels, *spatial) with equal batch and spatial sizes")
    gap = _attention_map(student_features, p) - _attention_map(teacher_features.detach(), p)
    return _reduce(gap.pow(2).sum(dim=1), reduction)


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
    _check_non_negative(distance_weight=distance_weight, angle_weight=angle_weight)
    _check_batches(student_embeddings, teacher_embeddings)
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
    _check_batches(student_features, teacher_features)
    batch = student_features.shape[0]
    if batch == 0:
        raise ValueError("similarity_preserving needs a non-empty batch")
    gap = _similarity(student_features) - _similarity(teacher_features.detach())
    return gap.pow(2).sum() / batch**2


def confidence_mask(teacher_logits: torch.Tensor, *, threshold: float, measure: str = "max-prob") -> torch.Tensor:
    """Teacher trust gating: a float mask ``(batch,)``, without gradient, 1.0 where trusted and 0.0 elsewhere.

    ``"max-prob"`` trusts a sample iff ``max_c p_c >= threshold``; ``"entropy"`` iff
    ``H(p) / log C <= threshold``, with ``p = softmax(teacher_logits)`` and ``H`` in nats.

    Parameters
    ----------
    teacher_logits : torch.Tensor
        Shape ``(batch, classes)``, ``classes >= 2``.
    threshold : float
        In ``[0, 1]``.
    measure : {"max-prob", "entropy"}
        See :data:`TRUST_MEASURES`.

    Raises
    ------
    ValueError
        For an unknown measure, a threshold outside ``[0, 1]`` or logits not ``(batch, classes >= 2)``.
    """
    if measure not in TRUST_MEASURES:
        raise ValueError(f"measure must be one of {TRUST_MEASURES}, got {measure!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if teacher_logits.dim() != 2 or teacher_logits.shape[1] < 2:
        raise ValueError(f"teacher logits must have shape (batch, classes >= 2), got {tuple(teacher_logits.shape)}")
    probs = F.softmax(teacher_logits.detach(), dim=-1)
    if measure == "max-prob":
        trusted = probs.max(dim=-1).values >= threshold
    else:
        entropy = torch.special.entr(probs).sum(dim=-1) / math.log(probs.shape[1])
        trusted = entropy.clamp(0.0, 1.0) <= threshold
    return trusted.to(probs.dtype)
