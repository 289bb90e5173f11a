"""Argument checks and reductions shared by every distillation loss."""

from __future__ import annotations

from typing import Literal

import torch

Reduction = Literal["mean", "sum", "none"]


def check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def reduce_loss(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")



def check_non_negative(**weights: float) -> None:
    for name, value in weights.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2 or student_logits.shape[1] < 2:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must share one (batch, classes >= 2) shape")
    batch, classes = student_logits.shape
    if labels.shape != (batch,) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers of shape ({batch},), got {labels.dtype} {tuple(labels.shape)}")
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got [{int(labels.min())}, {int(labels.max())}]")


def check_batches(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.dim() < 1 or teacher.dim() < 1 or student.shape[0] != teacher.shape[0]:
        raise ValueError(f"student features {tuple(student.shape)} and teacher features {tuple(teacher.shape)} "
                         "differ in batch size")


def kl_divergence(teacher_log_p: torch.Tensor, student_log_p: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(p_t || p_s)`` over the last dimension, from log-probabilities."""
    return (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(dim=-1)
