"""Logit losses, pure functions of student and teacher logits.

Each takes keyword-only hyperparameters and returns one value per sample with
``reduction="none"``, so it works under per-sample-gradient DP. Teacher logits are detached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedkd.losses.checks import (
    Reduction,
    check_logits,
    check_non_negative,
    check_temperature,
    kl_divergence,
    reduce_loss,
)


def soft_target_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    temperature: float,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Hinton et al. (2015) soft-target loss, ``T^2 * KL(p_t^T || p_s^T)``.

    ``p^T = softmax(logits / T)``. The KL divergence is summed over classes and
    multiplied by ``T**2`` so that its gradient magnitude does not shrink as the
    temperature grows ("Distilling the Knowledge in a Neural Network", Sec. 2).

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor
        Shape ``(batch, classes)``. No gradient flows into ``teacher_logits``.
    temperature : float
        Softening temperature ``T > 0``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample.

    Returns
    -------
    torch.Tensor
        The loss, reduced as asked.
    """
    check_temperature(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )
    teacher_log_p = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    student_log_p = F.log_softmax(student_logits / temperature, dim=-1)
    per_sample = (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(dim=-1)
    return reduce_loss(per_sample * temperature**2, reduction)



def _drop_true_class(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` logits without each row's label column, ``(B, C - 1)``, order kept."""
    keep = torch.ones_like(logits, dtype=torch.bool).scatter_(1, labels.unsqueeze(1), False)
    return logits[keep].view(logits.shape[0], logits.shape[1] - 1)


def _nckd(student_scaled: torch.Tensor, teacher_scaled: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample KL over the non-target classes of logits already divided by ``T``."""
    teacher_rest = F.log_softmax(_drop_true_class(teacher_scaled, labels), dim=-1)
    return kl_divergence(teacher_rest, F.log_softmax(_drop_true_class(student_scaled, labels), dim=-1))


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
    check_temperature(temperature)
    check_logits(student_logits, teacher_logits, labels)
    labels = labels.long()
    student, teacher = student_logits / temperature, teacher_logits.detach() / temperature
    tckd = kl_divergence(_binary_log_p(teacher, labels), _binary_log_p(student, labels))
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
    check_non_negative(tckd_weight=tckd_weight, nckd_weight=nckd_weight)
    tckd, nckd = dkd_parts(student_logits, teacher_logits, labels, temperature=temperature)
    return reduce_loss(tckd_weight * tckd + nckd_weight * nckd, reduction)


def not_true_kd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *, temperature: float,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Not-true distillation of FedNTD, ``T^2 * KL(q_t || q_s)`` (Lee et al., NeurIPS 2022).

    ``q = softmax(z_{-y} / T)`` over the ``C - 1`` logits left once the true class ``y`` is removed
    ("Preservation of the Global Knowledge by Not-True Distillation in Federated Learning", Eq. 3);
    this equals DKD's NCKD term. Arguments and errors as in :func:`decoupled_kd`.
    """
    check_temperature(temperature)
    check_logits(student_logits, teacher_logits, labels)
    labels = labels.long()
    per_sample = _nckd(student_logits / temperature, teacher_logits.detach() / temperature, labels)
    return reduce_loss(per_sample * temperature**2, reduction)
