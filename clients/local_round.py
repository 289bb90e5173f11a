"""One site's local round: distill the student from the site's teacher, with or without DP-SGD.

Message formats are not known here; ``clients.app`` unpacks and packs them.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from flwr.app import ArrayRecord, Context

from clients.privacy import (
    BudgetSpent,
    check_budget,
    ledger_path,
    load_ledger,
    privacy_metrics,
    privacy_scope,
    round_noise,
    store_ledger,
)
from clients.site import cache_dir, load_site, load_teacher, site_identity
from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.device import resolve_device
from fedkd.local_training import feature_teacher, labelled_mask, logit_knowledge, mutual_teacher_step
from fedkd.privacy import DPSettings, dp_distill, sample_rate, steps_per_epoch
from fedkd.seeding import derive_seed
from fedkd.teacher import Teacher, freeze
from fedkd.train import OptimizerSettings, TrainStats, accuracy_of, distill, predict_logits

ADAPTER_KEY = "hint-adapter"
MUTUAL_TEACHER_KEY = "mutual-teacher"

Metrics = dict[str, int | float | list[int] | list[float]]

__all__ = ["BudgetSpent", "train_round"]


def train_round(config: FedKDConfig, context: Context, student: torch.nn.Module, server_round: int) -> Metrics:
    """Train ``student`` in place for this round; return the metrics the site reports.

    Raises
    ------
    BudgetSpent
        Under local DP with a budget, when this round would exceed it.
    """
    site = load_site(config, context.node_config)
    teacher = current_teacher(config, context, site)
    device = resolve_device(config.student_device)
    identity = site_identity(context.node_config)
    extra: Metrics = {}
    if config.teacher_mode == "mutual":
        teacher, teacher_stats = mutual_teacher_step(teacher, student, site, config, device=device,
                                                     seed=derive_seed(config.seed, "mutual", identity, server_round))
        context.state[MUTUAL_TEACHER_KEY] = ArrayRecord({k: v.detach().cpu()
                                                         for k, v in teacher.model.state_dict().items()})
        extra["teacher-train-loss"] = teacher_stats.loss
    knowledge = logit_knowledge(config)
    soft = teacher.train_logits if knowledge.uses_teacher else None
    labelled = labelled_mask(len(site.train), config.unlabeled_fraction, seed=derive_seed(config.seed, "labels",
                                                                                          identity))
    settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs)
    seed = derive_seed(config.seed, "train", identity, server_round)
    if config.local_dp:
        path = ledger_path(cache_dir(config, context.node_config), context.run_id, identity)
        ledger = load_ledger(context, path, config.dp_accountant)
        sigma = round_noise(config, ledger, teacher, site)
        steps = steps_per_epoch(config.batch_size, len(site.train)) * config.local_epochs
        check_budget(config, ledger, teacher, (sigma, sample_rate(config.batch_size, len(site.train)), steps))
        stats, entry = dp_distill(
            student, site.train, soft, settings=settings,
            dp=DPSettings(sigma, config.dp_max_grad_norm, config.dp_grad_sample_mode),
            alpha=config.kd_alpha, temperature=config.kd_temperature, device=device, seed=seed,
            knowledge=knowledge, labelled=labelled,
        )
        ledger.record(*entry)
        store_ledger(context, path, ledger)
        extra |= privacy_metrics(config, ledger, teacher, privacy_scope(config, teacher, context.node_config))
    else:
        adapter = context.state.array_records.get(ADAPTER_KEY)
        features = feature_teacher(config, student, teacher, site,
                                   adapter_state=adapter.to_torch_state_dict() if adapter is not None else None,
                                   seed=derive_seed(config.seed, "adapter", identity))
        stats = distill(
            student, site.train, soft, settings=settings, alpha=config.kd_alpha,
            temperature=config.kd_temperature, device=device, seed=seed,
            proximal_mu=config.proximal_mu if config.strategy == "fedprox" else 0.0,
            knowledge=knowledge, labelled=labelled, features=features,
        )
        if features is not None and features.adapter is not None:
            context.state[ADAPTER_KEY] = ArrayRecord({k: v.detach().cpu()
                                                      for k, v in features.adapter.state_dict().items()})
    return _metrics(stats, config, context, extra) | _teacher_accuracy(site, teacher)


def current_teacher(config: FedKDConfig, context: Context, site: SiteData) -> Teacher:
    """The site's teacher: as obtained, or, in mutual mode, as trained in the site's previous rounds.

    A mutually trained teacher's weights live in the node's state only; they are
    never sent.
    """
    teacher = load_teacher(config, context.node_config, site)
    stored = context.state.array_records.get(MUTUAL_TEACHER_KEY) if config.teacher_mode == "mutual" else None
    if stored is None:
        return teacher
    model = copy.deepcopy(teacher.model)
    model.load_state_dict(stored.to_torch_state_dict())
    freeze(model)
    device = next(model.parameters()).device
    train = predict_logits(model, torch.from_numpy(site.train.teacher_view().x).to(device)).cpu()
    test = predict_logits(model, torch.from_numpy(site.test.teacher_view().x).to(device)).cpu()
    return dataclasses.replace(teacher, model=model, train_logits=train, test_logits=test)


def _metrics(stats: TrainStats, config: FedKDConfig, context: Context, extra: Metrics) -> Metrics:
    metrics: Metrics = {
        "num-examples": stats.num_examples,
        "train-loss": stats.loss,
        "train-ce": stats.ce,
        "train-kd": stats.kd,
        "node-id": context.node_id,
        "kd-temperature": config.kd_temperature,
        "kd-alpha": config.kd_alpha,
    }
    if config.client_dp != "none":
        metrics["dp-weight"] = 1
    return metrics | extra


def _teacher_accuracy(site: SiteData, teacher: Teacher) -> Metrics:
    """The teacher's accuracy on the local test split and that split's size.

    Every reply carries both keys (Flower refuses to aggregate replies whose keys differ);
    a site without a test split reports accuracy 0 over 0 test examples, which the server skips.
    """
    if not len(site.test):
        return {"teacher-accuracy": 0.0, "test-examples": 0}
    accuracy = accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy
    return {"teacher-accuracy": accuracy, "test-examples": len(site.test)}
