"""Predict and score a model: logits in eval mode without gradients, loss and accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fedkd.data.arrays import ArrayDataset, as_tensors

EVAL_BATCH_SIZE = 1024


@dataclass(frozen=True)
class EvalStats:
    """Mean cross-entropy and accuracy of a model on a dataset."""

    loss: float
    accuracy: float
    num_examples: int


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, batch by batch, without gradients."""
    model.eval()
    if x.shape[0] == 0:
        empty: torch.Tensor = model(x)  # an empty split: logits of shape (0, num_classes)
        return empty
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def evaluate(model: nn.Module, data: ArrayDataset, *, device: torch.device) -> EvalStats:
    """Mean cross-entropy and top-1 accuracy of ``model`` on ``data``."""
    if len(data) == 0:
        return EvalStats(loss=0.0, accuracy=0.0, num_examples=0)
    model.to(device)
    x, y = as_tensors(data, device)
    logits = predict_logits(model, x)
    return accuracy_of(logits, y)


def accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> EvalStats:
    """Cross-entropy and accuracy of given logits."""
    labels = labels.to(logits.device)
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    return EvalStats(loss=loss, accuracy=accuracy, num_examples=int(labels.shape[0]))


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``[true, predicted]``: row ``i`` holds the predictions for the samples labelled ``i``."""
    index = labels.to(torch.int64).cpu() * num_classes + predicted.to(torch.int64).cpu()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
