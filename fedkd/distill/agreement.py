"""How much of the teacher a student has taken on: agreement and accuracy retention."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fedkd.data.arrays import ArrayDataset
from fedkd.evaluation import predict_logits


@dataclass(frozen=True)
class TransferStats:
    """Student against teacher on one labelled split.

    Attributes
    ----------
    agreement : float
        Share of samples where student and teacher predict the same class.
    student_accuracy, teacher_accuracy : float
        Top-1 accuracies.
    retention : float or None
        ``student_accuracy / teacher_accuracy``; ``None`` when the teacher scores 0.
    """

    agreement: float
    student_accuracy: float
    teacher_accuracy: float
    retention: float | None


def transfer_metrics(student: nn.Module, teacher_logits: torch.Tensor, data: ArrayDataset,
                     device: torch.device) -> TransferStats:
    """Agreement and retention of ``student`` against precomputed ``teacher_logits`` on ``data``.

    Raises
    ------
    ValueError
        For an empty split or logits of another length.
    """
    if len(data) == 0:
        raise ValueError("transfer metrics need a non-empty split")
    if teacher_logits.shape[0] != len(data):
        raise ValueError(f"{teacher_logits.shape[0]} teacher logits for {len(data)} samples")
    student_pred = predict_logits(student.to(device), torch.from_numpy(data.x).to(device)).argmax(dim=1).cpu()
    teacher_pred = teacher_logits.argmax(dim=1).cpu()
    labels = torch.from_numpy(data.y)
    student_accuracy = (student_pred == labels).float().mean().item()
    teacher_accuracy = (teacher_pred == labels).float().mean().item()
    return TransferStats(
        agreement=(student_pred == teacher_pred).float().mean().item(),
        student_accuracy=student_accuracy,
        teacher_accuracy=teacher_accuracy,
        retention=student_accuracy / teacher_accuracy if teacher_accuracy > 0 else None,
    )
