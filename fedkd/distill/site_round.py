"""What one site's round is made of, built from the run config: the objective and the feature teacher."""

from __future__ import annotations

import torch
from torch import nn

from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.distill.features import (
    FeatureKnowledge,
    FeatureTeacher,
    build_adapter,
    check_feature_shapes,
    feature_shapes,
    layer_of,
)
from fedkd.distill.objective import LogitKnowledge
from fedkd.distill.schedules import RoundValues
from fedkd.teacher import Teacher


def logit_knowledge(config: FedKDConfig, values: RoundValues) -> LogitKnowledge:
    """The logit objective of a round: the run config's loss and trust settings at the round's scheduled values."""
    return LogitKnowledge(
        alpha=values.kd_alpha,
        temperature=values.kd_temperature,
        logit_loss=config.kd_logit_loss,
        dkd_tckd_weight=config.dkd_tckd_weight,
        dkd_nckd_weight=config.dkd_nckd_weight,
        trust_measure=config.trust_measure,
        trust_threshold=config.trust_threshold,
    )


def feature_knowledge(config: FedKDConfig, teacher_architecture: str) -> FeatureKnowledge:
    """Feature knowledge weights with the hooked layers resolved to module names."""
    return FeatureKnowledge(
        hint_weight=config.hint_weight,
        attention_weight=config.attention_weight,
        relational_weight=config.relational_weight,
        relational_loss=config.relational_loss,
        student_layer=layer_of(config.student, config.feature_student_layer),
        teacher_layer=layer_of(teacher_architecture, config.feature_teacher_layer),
    )


def feature_teacher(
    config: FedKDConfig,
    student: nn.Module,
    teacher: Teacher,
    site: SiteData,
    *,
    adapter_state: dict[str, torch.Tensor] | None,
    seed: int,
) -> FeatureTeacher | None:
    """Everything distillation needs for feature knowledge, or ``None`` when no feature term has a weight.

    The hint adapter is rebuilt from ``adapter_state`` (the site's adapter from its
    previous round) or freshly initialised from ``seed``.
    """
    knowledge = feature_knowledge(config, teacher.architecture)
    if not knowledge.active:
        return None
    student_x = torch.from_numpy(site.train.x)
    teacher_x = torch.from_numpy(site.train.teacher_view().x)
    teacher_device = next(teacher.model.parameters()).device
    student_shape, teacher_shape = feature_shapes(student, teacher.model, knowledge, student_x, teacher_x.to(
        teacher_device))
    check_feature_shapes(knowledge, student_shape, teacher_shape)
    adapter = None
    if knowledge.hint_weight > 0:
        torch.manual_seed(seed)
        adapter = build_adapter(student_shape, teacher_shape)
        if adapter_state is not None:
            adapter.load_state_dict(adapter_state)
    return FeatureTeacher(teacher=teacher.model, teacher_x=teacher_x.to(teacher_device), knowledge=knowledge,
                          adapter=adapter)
