"""Teacher trust: which samples' soft labels to use, by the teacher's confidence."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TRUST_MEASURES = ("max-prob", "entropy")


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
