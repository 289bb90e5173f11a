"""Local training of the LoRA student: token-level distillation from the site's teacher, or plain next-token CE."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from fedkd.llm.devices import model_device, teacher_logits
from fedkd.llm.student import trainable_parameters
from fedkd.llm.text import TokenBlocks
from fedkd.losses.token import next_token_loss, token_kd_loss, top_k_teacher, top_k_token_kd_loss


def sample_batches(blocks: TokenBlocks, *, steps: int, batch_size: int,
                   seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` batches of ``batch_size`` blocks, reshuffled each pass with a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(blocks), generator=generator)
    cursor = 0
    for _ in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = torch.randperm(len(blocks), generator=generator), 0
        chosen = order[cursor : cursor + batch_size]
        cursor += batch_size
        yield blocks.input_ids[chosen], blocks.attention_mask[chosen]


@dataclass(frozen=True)
class DistillSettings:
    """One site's local round: ``kd-alpha`` weighs the CE (1.0 is CE only, no teacher), ``kd-top-k`` 0 is dense."""

    steps: int
    batch_size: int
    learning_rate: float
    alpha: float
    temperature: float
    top_k: int = 0
    seed: int = 0


def distill(student: Any, teacher: Any | None, blocks: TokenBlocks, settings: DistillSettings) -> list[float]:
    """Train the student's adapters on ``blocks`` for ``settings.steps`` AdamW steps; the per-step losses.

    The teacher (absent when ``alpha == 1``) runs frozen on its own device; its logits, or their top-k
    cut, are moved to the student's device.
    """
    if teacher is None and settings.alpha < 1.0:
        raise ValueError(f"kd-alpha {settings.alpha} < 1 needs a teacher")
    device = model_device(student)
    optimizer = torch.optim.AdamW(trainable_parameters(student), lr=settings.learning_rate)
    student.train()
    losses = []
    for ids, mask in sample_batches(blocks, steps=settings.steps, batch_size=settings.batch_size,
                                    seed=settings.seed):
        ids, mask = ids.to(device), mask.to(device)
        optimizer.zero_grad()
        logits = student(input_ids=ids, attention_mask=mask).logits
        if teacher is None or settings.alpha == 1.0:
            loss = next_token_loss(logits, ids, mask)
        elif settings.top_k:
            cut = top_k_teacher(teacher_logits(teacher, ids, mask, device=device), k=settings.top_k,
                                temperature=settings.temperature)
            loss = top_k_token_kd_loss(logits, cut, ids, mask, alpha=settings.alpha,
                                       temperature=settings.temperature)
        else:
            loss = token_kd_loss(logits, teacher_logits(teacher, ids, mask, device=device), ids, mask,
                                 alpha=settings.alpha, temperature=settings.temperature)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
    student.eval()
    return losses
