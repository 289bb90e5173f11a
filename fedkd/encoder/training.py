"""Training and scoring an encoder classifier: cross-entropy fine-tuning, logit distillation, accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fedkd.encoder.text import EncodedTexts
from fedkd.evaluation import EvalStats
from fedkd.losses.logit import soft_target_loss


def batch_indices(size: int, *, steps: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """``steps`` batches of row indices of ``size`` rows, reshuffled each pass by a seeded generator.

    Raises
    ------
    ValueError
        If there are no rows (with steps to take) or ``batch_size < 1``.
    """
    if batch_size < 1 or (steps > 0 and size < 1):
        raise ValueError(f"batches need rows and a batch size >= 1, got {size} rows and batch size {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(size, generator=generator), 0
    for _ in range(steps):
        if cursor >= size:
            order, cursor = torch.randperm(size, generator=generator), 0
        yield order[cursor : cursor + batch_size]
        cursor += batch_size


@dataclass(frozen=True)
class StepSettings:
    """A run of AdamW steps on the trainable tensors; ``alpha`` weighs CE against KD (1.0: CE only)."""

    steps: int
    batch_size: int
    learning_rate: float
    alpha: float = 1.0
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or not self.learning_rate > 0 or not 0 <= self.alpha <= 1:
            raise ValueError(f"steps >= 0, batch size >= 1, learning rate > 0 and alpha in [0, 1] needed, got {self}")
        if not self.temperature > 0:
            raise ValueError(f"kd temperature must be > 0, got {self.temperature}")


def train_steps(model: torch.nn.Module, data: EncodedTexts, settings: StepSettings,
                teacher_logits: torch.Tensor | None = None) -> list[float]:
    """Train ``model``'s trainable tensors; the per-step losses.

    The loss is ``alpha * CE + (1 - alpha) * T^2 * KL(softmax(t/T) || softmax(s/T))`` with the teacher's
    logits ``t`` of the same rows (:func:`fedkd.losses.logit.soft_target_loss`); CE alone when ``alpha`` is 1.

    Raises
    ------
    ValueError
        If ``alpha < 1`` without teacher logits, or the logits do not cover the rows.
    """
    if settings.alpha < 1 and (teacher_logits is None or teacher_logits.shape[0] != len(data)):
        raise ValueError(f"kd-alpha {settings.alpha} < 1 needs the teacher's logits of all {len(data)} rows")
    device = next(model.parameters()).device
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate)
    model.train()
    losses = []
    for rows in batch_indices(len(data), steps=settings.steps, batch_size=settings.batch_size, seed=settings.seed):
        optimizer.zero_grad()
        logits = model(data.input_ids[rows].to(device), data.attention_mask[rows].to(device))
        loss = F.cross_entropy(logits, data.labels[rows].to(device))
        if settings.alpha < 1:
            soft = soft_target_loss(logits, teacher_logits[rows].to(device),  # type: ignore[index]
                                    temperature=settings.temperature)
            loss = settings.alpha * loss + (1 - settings.alpha) * soft
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def predict_logits(model: torch.nn.Module, data: EncodedTexts, *, batch_size: int = 64) -> torch.Tensor:
    """``model``'s logits of every row (CPU float32), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    chunks = [model(data.input_ids[start : start + batch_size].to(device),
                    data.attention_mask[start : start + batch_size].to(device)).float().cpu()
              for start in range(0, len(data), batch_size)]
    return torch.cat(chunks) if chunks else torch.zeros(0, 0)


def score(logits: torch.Tensor, labels: torch.Tensor) -> EvalStats:
    """Mean cross-entropy and accuracy of ``logits`` against ``labels`` (zeros for no rows)."""
    if not len(labels):
        return EvalStats(loss=0.0, accuracy=0.0, num_examples=0)
    return EvalStats(loss=float(F.cross_entropy(logits, labels)),
                     accuracy=float((logits.argmax(dim=1) == labels).float().mean()), num_examples=len(labels))
