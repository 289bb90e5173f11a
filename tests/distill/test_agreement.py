"""Transfer metrics: agreement and retention against a hand count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedkd.data.arrays import ArrayDataset
from fedkd.distill.agreement import transfer_metrics


class _Fixed(torch.nn.Module):
    """Returns preset logits whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: x.shape[0]]


def test_transfer_metrics_match_a_hand_count() -> None:
    labels = np.array([0, 1, 2, 0])
    student = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 3).float()  # right on 2 of 4
    teacher = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 2]), 3).float()  # right on 3 of 4
    data = ArrayDataset(np.zeros((4, 2), dtype=np.float32), labels)
    stats = transfer_metrics(_Fixed(student), teacher, data, torch.device("cpu"))
    assert stats.agreement == pytest.approx(0.75)
    assert stats.student_accuracy == pytest.approx(0.5) and stats.teacher_accuracy == pytest.approx(0.75)
    assert stats.retention == pytest.approx(0.5 / 0.75)


def test_transfer_metrics_refuse_mismatched_logits() -> None:
    data = ArrayDataset(np.zeros((4, 2), dtype=np.float32), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="3 teacher logits for 4 samples"):
        transfer_metrics(_Fixed(torch.zeros(4, 3)), torch.zeros(3, 3), data, torch.device("cpu"))
