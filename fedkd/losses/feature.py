"""Feature losses: FitNets hints and attention transfer, one value per sample.

Teacher features are detached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedkd.losses.checks import Reduction, reduce_loss


def hint_loss(
    student_features: torch.Tensor, teacher_features: torch.Tensor, *, reduction: Reduction = "mean"
) -> torch.Tensor:
    """FitNets hint loss, per-sample ``mean_j (s_j - t_j)^2`` over flattened features (Romero et al., ICLR 2015).

    The student's features must already be mapped to the teacher's shape (the paper's regressor).

    Parameters
    ----------
    student_features, teacher_features : torch.Tensor
        The same shape ``(batch, ...)``. No gradient flows into ``teacher_features``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample.

    Raises
    ------
    ValueError
        If the shapes differ or have no feature dimension.
    """
    if student_features.shape != teacher_features.shape or student_features.dim() < 2:
        raise ValueError(f"student features {tuple(student_features.shape)} and teacher features "
                         f"{tuple(teacher_features.shape)} must share one (batch, ...) shape")
    diff = (student_features - teacher_features.detach()).flatten(1)
    return reduce_loss(diff.pow(2).mean(dim=1), reduction)


def _attention_map(features: torch.Tensor, p: float) -> torch.Tensor:
    return F.normalize(features.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_transfer(
    student_features: torch.Tensor, teacher_features: torch.Tensor, *, p: float = 2.0, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Attention transfer, per-sample ``||Q_s / ||Q_s|| - Q_t / ||Q_t|| ||_2^2`` (Zagoruyko & Komodakis, ICLR 2017).

    ``Q = mean_c |A_c|^p``, flattened over the spatial positions ("Paying More Attention to Attention",
    Eq. 2). The squared distance is summed over positions, so it lies in ``[0, 2]`` whatever the
    resolution; the authors' code averages it instead, which equals this divided by the number of positions.

    Parameters
    ----------
    student_features, teacher_features : torch.Tensor
        Shape ``(batch, channels, *spatial)``, e.g. ``(B, C, L)`` or ``(B, C, H, W)``. Channel counts may
        differ; batch and spatial sizes must match. No gradient flows into ``teacher_features``.
    p : float
        Exponent ``p > 0``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sample.

    Raises
    ------
    ValueError
        For ``p <= 0``, or maps without spatial dimensions or differing in batch or spatial size.
    """
    if not p > 0:
        raise ValueError(f"p must be > 0, got {p}")
    s_shape, t_shape = student_features.shape, teacher_features.shape
    if len(s_shape) < 3 or len(t_shape) < 3 or s_shape[0] != t_shape[0] or s_shape[2:] != t_shape[2:]:
        raise ValueError(f"student features {tuple(s_shape)} and teacher features {tuple(t_shape)} must be "
                         "(batch, channels, *spatial) with equal batch and spatial sizes")
    gap = _attention_map(student_features, p) - _attention_map(teacher_features.detach(), p)
    return reduce_loss(gap.pow(2).sum(dim=1), reduction)
