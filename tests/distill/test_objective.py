"""The per-sample objective: labelled, untrusted and unlabelled samples take their documented forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fedkd.distill.objective import LogitKnowledge, sample_losses
from fedkd.losses.logit import decoupled_kd, not_true_kd, soft_target_loss


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(6, 5, generator=generator)
    teacher = torch.randn(6, 5, generator=generator) * 3
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    return student, teacher, labels


def test_sample_losses_default_equals_hinton_distillation_loss() -> None:
    student, teacher, labels = _batch()
    parts = sample_losses(student, teacher, labels, LogitKnowledge(alpha=0.3, temperature=2.0))
    ce = F.cross_entropy(student, labels, reduction="none")
    kd = soft_target_loss(student, teacher, temperature=2.0, reduction="none")
    torch.testing.assert_close(parts.total, 0.3 * ce + 0.7 * kd)


@pytest.mark.parametrize("name", ["dkd", "not-true"])
def test_sample_losses_logit_loss_selects_the_named_term(name: str) -> None:
    student, teacher, labels = _batch()
    knowledge = LogitKnowledge(alpha=0.5, temperature=3.0, logit_loss=name, dkd_nckd_weight=2.0)
    parts = sample_losses(student, teacher, labels, knowledge)
    if name == "dkd":
        term = decoupled_kd(student, teacher, labels, temperature=3.0, nckd_weight=2.0, reduction="none")
    else:
        term = not_true_kd(student, teacher, labels, temperature=3.0, reduction="none")
    ce = F.cross_entropy(student, labels, reduction="none")
    torch.testing.assert_close(parts.total, 0.5 * ce + 0.5 * term)


def test_sample_losses_untrusted_samples_fall_back_to_the_hard_label() -> None:
    student, _, labels = _batch()
    teacher = torch.zeros(6, 5)
    teacher[:3, 0] = 20.0  # confident on the first three samples, uniform on the rest
    knowledge = LogitKnowledge(alpha=0.2, temperature=2.0, trust_measure="max-prob", trust_threshold=0.9)
    parts = sample_losses(student, teacher, labels, knowledge)
    ce = F.cross_entropy(student, labels, reduction="none")
    kd = soft_target_loss(student, teacher, temperature=2.0, reduction="none")
    torch.testing.assert_close(parts.total[:3], 0.2 * ce[:3] + 0.8 * kd[:3])
    torch.testing.assert_close(parts.total[3:], ce[3:])


def test_sample_losses_unlabelled_samples_use_only_the_teacher() -> None:
    student, teacher, labels = _batch()
    labelled = torch.tensor([True, True, True, False, False, False])
    parts = sample_losses(student, teacher, labels, LogitKnowledge(alpha=0.5, temperature=2.0), labelled=labelled)
    kd = soft_target_loss(student, teacher, temperature=2.0, reduction="none")
    torch.testing.assert_close(parts.total[3:], kd[3:])
    # Changing a hidden label changes nothing.
    other = labels.clone()
    other[3:] = (labels[3:] + 1) % 5
    again = sample_losses(student, teacher, other, LogitKnowledge(alpha=0.5, temperature=2.0), labelled=labelled)
    torch.testing.assert_close(again.total, parts.total)


def test_sample_losses_ce_only_ignores_unlabelled_samples_and_needs_no_teacher() -> None:
    student, _, labels = _batch()
    labelled = torch.tensor([True, False, True, False, True, False])
    parts = sample_losses(student, None, labels, LogitKnowledge(alpha=1.0, temperature=2.0), labelled=labelled)
    ce = F.cross_entropy(student, labels, reduction="none")
    torch.testing.assert_close(parts.total, ce * labelled.float())


def test_sample_losses_without_teacher_logits_when_needed_raises() -> None:
    student, _, labels = _batch()
    with pytest.raises(ValueError, match="teacher logits are required"):
        sample_losses(student, None, labels, LogitKnowledge(alpha=0.5, temperature=2.0))


@pytest.mark.parametrize(("field", "value"), [("alpha", 1.5), ("temperature", 0.0), ("logit_loss", "fitnet"),
                                              ("trust_measure", "margin")])
def test_logit_knowledge_bad_value_raises_naming_it(field: str, value: object) -> None:
    values: dict[str, object] = {"alpha": 0.5, "temperature": 2.0, field: value}
    with pytest.raises(ValueError, match=str(value)):
        LogitKnowledge(**values)  # type: ignore[arg-type]
