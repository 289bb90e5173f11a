"""The local training loop: distill a student from precomputed teacher logits, or train on labels alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from fedkd.data.arrays import ArrayDataset, as_tensors
from fedkd.distill.features import FeatureTeacher, feature_losses, tapped
from fedkd.distill.objective import LogitKnowledge, sample_losses


@dataclass(frozen=True)
class TrainStats:
    """Mean loss parts over every sample seen in one call of :func:`distill`."""

    loss: float
    ce: float
    kd: float
    num_examples: int


@dataclass(frozen=True)
class OptimizerSettings:
    """Plain SGD with momentum, the usual local optimiser in federated learning."""

    learning_rate: float
    momentum: float
    batch_size: int
    epochs: int


def _batches(num: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(num, generator=generator)
    for start in range(0, num, batch_size):
        yield order[start : start + batch_size]


def distill(
    student: nn.Module,
    data: ArrayDataset,
    teacher_logits: torch.Tensor | None,
    *,
    objective: LogitKnowledge,
    settings: OptimizerSettings,
    device: torch.device,
    seed: int,
    proximal_mu: float = 0.0,
    labelled: torch.Tensor | None = None,
    features: FeatureTeacher | None = None,
) -> TrainStats:
    """Train ``student`` in place on ``data`` with the distillation objective.

    Parameters
    ----------
    student : torch.nn.Module
        Its parameters (and a feature adapter's) are the only ones optimised.
    data : ArrayDataset
        The site's train split.
    teacher_logits : torch.Tensor or None
        Precomputed teacher logits, one row per sample of ``data``; moved to
        ``device``. ``None`` is allowed only when the teacher is not used.
    settings : OptimizerSettings
        Learning rate, momentum, batch size and epochs.
    objective : LogitKnowledge
        The per-sample logit objective (:func:`fedkd.distill.objective.sample_losses`);
        :data:`~fedkd.distill.objective.CE_ONLY` trains on the labels alone.
    device : torch.device
        The student's device.
    seed : int
        Seeds the batch order.
    proximal_mu : float
        FedProx term ``mu / 2 * ||w - w_start||^2`` (Li et al., 2020); 0 disables it.
    labelled : torch.Tensor, optional
        Bool mask over ``data``: samples whose label may be used (see :mod:`fedkd.distill.objective`).
    features : FeatureTeacher, optional
        Adds hint, attention or relational knowledge from the teacher's features.

    Returns
    -------
    TrainStats
        Mean loss parts over all samples and epochs.
    """
    student.to(device).train()
    x, y = as_tensors(data, device)
    soft = teacher_logits.to(device) if teacher_logits is not None and objective.uses_teacher else None
    if soft is not None and soft.shape[0] != x.shape[0]:
        raise ValueError(f"{soft.shape[0]} teacher logits for {x.shape[0]} samples")
    mask = labelled.to(device) if labelled is not None else None
    anchor = [p.detach().clone() for p in student.parameters()] if proximal_mu > 0 else []
    adapter = features.adapter.to(device).train() if features is not None and features.adapter is not None else None
    parameters = list(student.parameters()) + (list(adapter.parameters()) if adapter is not None else [])
    optimizer = torch.optim.SGD(parameters, lr=settings.learning_rate, momentum=settings.momentum)
    generator = torch.Generator().manual_seed(seed)
    totals = torch.zeros(3, device=device)
    seen = 0
    for _ in range(settings.epochs):
        for index in _batches(len(data), settings.batch_size, generator):
            index = index.to(device)
            if features is None:
                logits = student(x[index])
            else:
                with tapped(student, features.knowledge.student_layer) as tap:
                    logits = student(x[index])
            parts = sample_losses(logits, soft[index] if soft is not None else None, y[index], objective,
                                  labelled=mask[index] if mask is not None else None)
            loss = parts.total.mean()
            if features is not None:
                per_sample, batch = feature_losses(tap.take(), features.teacher_features(index, device),
                                                   features.knowledge, adapter)
                loss = loss + per_sample.mean() + batch
            if anchor:
                drift = sum(((p - a) ** 2).sum() for p, a in zip(student.parameters(), anchor, strict=True))
                loss = loss + 0.5 * proximal_mu * drift
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            count = len(index)
            totals += torch.stack([loss, parts.ce.mean(), parts.kd.mean()]).detach() * count
            seen += count
    mean = (totals / max(seen, 1)).tolist()
    return TrainStats(loss=mean[0], ce=mean[1], kd=mean[2], num_examples=len(data))
