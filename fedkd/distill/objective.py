"""The per-sample distillation objective of one local step: which logit knowledge, whom to trust, which labels.

Every sample's loss is one of three forms:

- labelled and the teacher trusted: ``alpha * CE(s, y) + (1 - alpha) * K(s, t)``;
- labelled and the teacher not trusted (:func:`fedkd.losses.trust.confidence_mask`):
  ``CE(s, y)``, the hard label alone;
- unlabelled (its label hidden from training): ``K(s, t)`` when the teacher is
  trusted, else nothing; with ``alpha == 1`` (CE only) unlabelled samples add nothing.

``K`` is the logit knowledge term: Hinton soft targets, decoupled KD or not-true KD.
All values are per sample, so the objective works under per-sample-gradient DP.
Feature and relational knowledge are added on top by :mod:`fedkd.distill.features`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fedkd.losses.logit import decoupled_kd, not_true_kd, soft_target_loss
from fedkd.losses.trust import TRUST_MEASURES, confidence_mask

LogitLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "LogitKnowledge"], torch.Tensor]


def _soft_target(s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, k: LogitKnowledge) -> torch.Tensor:
    return soft_target_loss(s, t, temperature=k.temperature, reduction="none")


def _decoupled(s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, k: LogitKnowledge) -> torch.Tensor:
    return decoupled_kd(s, t, labels, temperature=k.temperature, tckd_weight=k.dkd_tckd_weight,
                        nckd_weight=k.dkd_nckd_weight, reduction="none")


def _not_true(s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, k: LogitKnowledge) -> torch.Tensor:
    return not_true_kd(s, t, labels, temperature=k.temperature, reduction="none")


# Logit knowledge by config name: (student logits, teacher logits, labels, settings) -> one value per sample.
LOGIT_LOSSES: dict[str, LogitLoss] = {
    "soft-target": _soft_target,
    "dkd": _decoupled,
    "not-true": _not_true,
}


@dataclass(frozen=True)
class LossParts:
    """One batch's per-sample objective and the two terms it is made of.

    Attributes
    ----------
    total : torch.Tensor
        The objective per sample: ``alpha * ce + (1 - alpha) * kd`` for a labelled sample whose
        teacher is trusted, ``ce`` alone where the teacher is not trusted, ``kd`` alone for an
        unlabelled sample (see :func:`sample_losses`).
    ce : torch.Tensor
        Cross-entropy of the student against the hard labels.
    kd : torch.Tensor
        The logit knowledge term of :attr:`LogitKnowledge.logit_loss` (soft targets, DKD or
        not-true KD), temperature-scaled by ``T**2``; zero when the teacher is not used.
    """

    total: torch.Tensor
    ce: torch.Tensor
    kd: torch.Tensor


@dataclass(frozen=True)
class LogitKnowledge:
    """Settings of the logit-level objective.

    Attributes
    ----------
    alpha : float
        Weight of the hard-label CE term in ``[0, 1]``; 1 trains with CE only.
    temperature : float
        Softening temperature ``T > 0``.
    logit_loss : str
        ``soft-target`` (Hinton et al. 2015), ``dkd`` (Zhao et al. 2022) or
        ``not-true`` (FedNTD, Lee et al. 2022).
    dkd_tckd_weight, dkd_nckd_weight : float
        DKD's weights of its target-class and non-target-class terms.
    trust_measure : str
        ``none`` trusts the teacher everywhere; ``max-prob`` or ``entropy`` gate
        each sample by the teacher's confidence.
    trust_threshold : float
        Threshold of the trust measure, in ``[0, 1]``.
    """

    alpha: float
    temperature: float
    logit_loss: str = "soft-target"
    dkd_tckd_weight: float = 1.0
    dkd_nckd_weight: float = 8.0
    trust_measure: str = "none"
    trust_threshold: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.logit_loss not in LOGIT_LOSSES:
            raise ValueError(f"logit_loss={self.logit_loss!r}; choose one of {', '.join(LOGIT_LOSSES)}")
        if self.trust_measure not in ("none", *TRUST_MEASURES):
            raise ValueError(f"trust_measure={self.trust_measure!r}; choose none or one of {', '.join(TRUST_MEASURES)}")

    @property
    def uses_teacher(self) -> bool:
        """Whether the teacher enters the loss at all."""
        return self.alpha < 1.0


def knowledge_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                   knowledge: LogitKnowledge) -> torch.Tensor:
    """The per-sample logit knowledge term ``K(s, t)`` chosen by ``knowledge.logit_loss``."""
    return LOGIT_LOSSES[knowledge.logit_loss](student_logits, teacher_logits, labels, knowledge)


def sample_losses(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    knowledge: LogitKnowledge,
    *,
    labelled: torch.Tensor | None = None,
) -> LossParts:
    """Per-sample loss parts of one batch (``reduction="none"``).

    Parameters
    ----------
    student_logits : torch.Tensor
        ``(batch, classes)``.
    teacher_logits : torch.Tensor or None
        ``(batch, classes)``; required when ``knowledge.uses_teacher``.
    labels : torch.Tensor
        ``(batch,)`` class labels; values of unlabelled samples are ignored.
    knowledge : LogitKnowledge
        Which terms and weights.
    labelled : torch.Tensor, optional
        ``(batch,)`` bool mask of samples whose label may be used; all by default.

    Returns
    -------
    LossParts
        ``total`` per sample; ``ce`` and ``kd`` are the unweighted terms per sample
        (``kd`` zero where the teacher is not used).
    """
    ce = F.cross_entropy(student_logits, labels, reduction="none")
    has_label = torch.ones_like(ce) if labelled is None else labelled.to(ce.dtype)
    if not knowledge.uses_teacher:
        return LossParts(total=has_label * ce, ce=ce, kd=torch.zeros_like(ce))
    if teacher_logits is None:
        raise ValueError(f"teacher logits are required with alpha={knowledge.alpha} < 1")
    # DKD and not-true KD need a class to single out; for an unlabelled sample it is the teacher's guess.
    known = labels if labelled is None else torch.where(labelled, labels, teacher_logits.argmax(dim=1))
    kd = knowledge_term(student_logits, teacher_logits, known, knowledge)
    if knowledge.trust_measure == "none":
        trusted = torch.ones_like(ce)
    else:
        trusted = confidence_mask(teacher_logits, threshold=knowledge.trust_threshold,
                                  measure=knowledge.trust_measure).to(ce.dtype)
    alpha = knowledge.alpha
    labelled_total = trusted * (alpha * ce + (1.0 - alpha) * kd) + (1.0 - trusted) * ce
    total = has_label * labelled_total + (1.0 - has_label) * trusted * kd
    return LossParts(total=total, ce=ce, kd=kd)


# Plain cross-entropy on the labels, the objective of teacher training and of the CE-only baseline.
CE_ONLY = LogitKnowledge(alpha=1.0, temperature=1.0)
