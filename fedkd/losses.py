"""Distillation losses as pure functions of logits.

Every loss takes keyword-only hyperparameters, validates them, and can return one
value per sample (``reduction="none"``) so that it works under per-sample-gradient
differential privacy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Reduction = Literal["mean", "sum", "none"]


@dataclass(frozen=True)
class LossParts:
    """The total distillation loss and the two terms it is made of.

    Attributes
    ----------
    total : torch.Tensor
        ``alpha * ce + (1 - alpha) * kd``.
    ce : torch.Tensor
        Cross-entropy of the student against the hard labels.
    kd : torch.Tensor
        Temperature-scaled soft-target term, already multiplied by ``T**2``
        (zero when ``alpha == 1``).
    """

    total: torch.Tensor
    ce: torch.Tensor
    kd: torch.Tensor


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def _reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


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
    _check_temperature(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )
    teacher_log_p = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    student_log_p = F.log_softmax(student_logits / temperature, dim=-1)
    per_sample = (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(dim=-1)
    return _reduce(per_sample * temperature**2, reduction)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
    reduction: Reduction = "mean",
) -> LossParts:
    """``alpha * CE(s, y) + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))``.

    With ``alpha == 1`` this is plain cross-entropy (the no-distillation baseline)
    and ``teacher_logits`` may be ``None``.

    Parameters
    ----------
    student_logits : torch.Tensor
        Shape ``(batch, classes)``.
    teacher_logits : torch.Tensor or None
        Shape ``(batch, classes)``; required unless ``alpha == 1``.
    labels : torch.Tensor
        Integer class labels, shape ``(batch,)``.
    alpha : float
        Weight of the hard-label term, in ``[0, 1]``.
    temperature : float
        Softening temperature ``T > 0``.
    reduction : {"mean", "sum", "none"}
        Applied to every part.

    Returns
    -------
    LossParts
        The total and its CE and KD terms.
    """
    _check_alpha(alpha)
    _check_temperature(temperature)
    ce = F.cross_entropy(student_logits, labels, reduction="none")
    if alpha == 1.0:
        kd = torch.zeros_like(ce)
    else:
        if teacher_logits is None:
            raise ValueError(f"teacher_logits are required when alpha={alpha} < 1")
        kd = soft_target_loss(
            student_logits, teacher_logits, temperature=temperature, reduction="none"
        )
    total = alpha * ce + (1.0 - alpha) * kd
    return LossParts(
        total=_reduce(total, reduction),
        ce=_reduce(ce, reduction),
        kd=_reduce(kd, reduction),
    )
