"""What one site's local round is made of, built from the run config: objective, label mask, features, mutual step.

Plain torch; the ClientApp (``clients.local_round``) calls these and keeps their
state (the hint adapter, the mutually trained teacher) in the node's state.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from torch import nn

from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.feature_knowledge import (
    FeatureKnowledge,
    FeatureTeacher,
    build_adapter,
    check_feature_shapes,
    feature_shapes,
    layer_of,
)
from fedkd.objective import LogitKnowledge
from fedkd.teacher import Teacher, freeze
from fedkd.train import OptimizerSettings, TrainStats, distill, predict_logits


def logit_knowledge(config: FedKDConfig) -> LogitKnowledge:
    """The logit objective of this round (``kd-alpha`` and ``kd-temperature`` already scheduled by the server)."""
    return LogitKnowledge(
        alpha=config.kd_alpha,
        temperature=config.kd_temperature,
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


def labelled_mask(num_samples: int, unlabeled_fraction: float, *, seed: int) -> torch.Tensor | None:
    """Bool mask of the samples whose labels a site may use; ``None`` when all are labelled.

    A fixed seeded choice per site, the same every round: ``round(fraction * n)``
    samples have their labels hidden, at least one stays labelled.
    """
    if unlabeled_fraction <= 0:
        return None
    hidden = min(int(round(unlabeled_fraction * num_samples)), num_samples - 1)
    order = np.random.default_rng(seed).permutation(num_samples)
    mask = np.ones(num_samples, dtype=bool)
    mask[order[:hidden]] = False
    return torch.from_numpy(mask)


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


def mutual_teacher_step(
    teacher: Teacher,
    student: nn.Module,
    site: SiteData,
    config: FedKDConfig,
    *,
    device: torch.device,
    seed: int,
) -> tuple[Teacher, TrainStats]:
    """FedKD's mentor update (Wu et al. 2022): the private teacher learns from the global student.

    The teacher trains for ``local-epochs`` on the site's train split with
    ``kd-alpha * CE + (1 - kd-alpha) * KD(student -> teacher)`` at ``teacher-learning-rate``,
    then its logits are recomputed. Returns a new frozen :class:`~fedkd.teacher.Teacher`
    (the input is not modified) and the teacher's training statistics.
    """
    student_x = torch.from_numpy(site.train.x).to(device)
    student_logits = predict_logits(student.to(device), student_x)
    model = copy.deepcopy(teacher.model).requires_grad_(True)
    view = site.train.teacher_view()
    settings = OptimizerSettings(config.teacher_learning_rate, config.momentum, config.batch_size, config.local_epochs)
    stats = distill(model, view, student_logits, settings=settings, alpha=config.kd_alpha,
                    temperature=config.kd_temperature, device=device, seed=seed)
    freeze(model)
    train = predict_logits(model, torch.from_numpy(view.x).to(device)).cpu()
    test = predict_logits(model, torch.from_numpy(site.test.teacher_view().x).to(device)).cpu()
    return dataclasses.replace(teacher, model=model, train_logits=train, test_logits=test), stats
