"""Mutual teachers (FedKD, Wu et al. 2022): the site's private teacher also learns from the global student."""

from __future__ import annotations

import copy

import torch
from torch import nn

from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.distill.objective import LogitKnowledge
from fedkd.distill.schedules import RoundValues
from fedkd.distill.training import OptimizerSettings, TrainStats, distill
from fedkd.evaluation import predict_logits
from fedkd.teacher import Teacher, freeze, with_model


def mutual_teacher_step(
    teacher: Teacher,
    student: nn.Module,
    site: SiteData,
    config: FedKDConfig,
    values: RoundValues,
    *,
    device: torch.device,
    seed: int,
) -> tuple[Teacher, TrainStats]:
    """FedKD's mentor update (Wu et al. 2022): the private teacher learns from the global student.

    The teacher trains for ``local-epochs`` on the site's train split with
    ``alpha * CE + (1 - alpha) * KD(student -> teacher)`` at ``teacher-learning-rate``, with the
    round's scheduled ``values``,
    then its logits are recomputed. Returns a new frozen :class:`~fedkd.teacher.Teacher`
    (the input is not modified) and the teacher's training statistics.
    """
    student_x = torch.from_numpy(site.train.x).to(device)
    student_logits = predict_logits(student.to(device), student_x)
    model = copy.deepcopy(teacher.model).requires_grad_(True)
    view = site.train.teacher_view()
    settings = OptimizerSettings(config.teacher_learning_rate, config.momentum, config.batch_size, config.local_epochs)
    objective = LogitKnowledge(alpha=values.kd_alpha, temperature=values.kd_temperature)
    stats = distill(model, view, student_logits, objective=objective, settings=settings, device=device, seed=seed)
    freeze(model)
    return with_model(teacher, model, site, device), stats
