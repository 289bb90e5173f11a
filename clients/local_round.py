"""One site's local round: distill the student from the site's teacher, with or without DP-SGD.

Message formats are not known here; ``clients.app`` unpacks and packs them.
"""

from __future__ import annotations

import copy

import torch
from flwr.app import ArrayRecord, Context

from clients.privacy import (
    BudgetSpent,
    check_budget,
    ledger_lock,
    ledger_path,
    load_ledger,
    privacy_metrics,
    privacy_scope,
    round_noise,
    store_ledger,
)
from clients.site import cache_dir, load_site, load_teacher
from clients.site_policy import SiteRefusal, check_delta, check_noise, check_request
from fedkd.config import FedKDConfig
from fedkd.data.site import SiteData
from fedkd.device import resolve_device
from fedkd.distill.hidden_labels import labelled_mask
from fedkd.distill.mutual import mutual_teacher_step
from fedkd.distill.schedules import RoundValues
from fedkd.distill.site_round import feature_teacher, logit_knowledge
from fedkd.distill.training import OptimizerSettings, TrainStats, distill
from fedkd.evaluation import accuracy_of
from fedkd.node_config import NodeConfig
from fedkd.privacy.dp_recipe import dp_optimizer_settings, dp_round_entry, dp_settings
from fedkd.seeding import derive_seed
from fedkd.teacher import Teacher, freeze, with_model

ADAPTER_KEY = "hint-adapter"
MUTUAL_TEACHER_KEY = "mutual-teacher"

Metrics = dict[str, int | float | list[int] | list[float]]

__all__ = ["BudgetSpent", "SiteRefusal", "train_round"]


def train_round(config: FedKDConfig, context: Context, student: torch.nn.Module, server_round: int,
                values: RoundValues) -> Metrics:
    """Train ``student`` in place for this round at its scheduled ``values``; return the metrics the site reports.

    Raises
    ------
    BudgetSpent
        Under local DP with a budget, when this round would exceed it.
    SiteRefusal
        When the round breaks a bound of the site's node config.
    """
    node = NodeConfig.from_mapping(context.node_config)
    check_request(config, node)
    site = load_site(config, node)
    teacher = current_teacher(config, context, site)
    device = resolve_device(config.student_device)
    identity = node.identity
    extra: Metrics = {}
    if config.teacher_mode == "mutual":
        teacher, teacher_stats = mutual_teacher_step(teacher, student, site, config, values, device=device,
                                                     seed=derive_seed(config.seed, "mutual", identity, server_round))
        context.state[MUTUAL_TEACHER_KEY] = ArrayRecord(teacher.model.state_dict())
        extra["teacher-train-loss"] = teacher_stats.loss
    objective = logit_knowledge(config, values)
    soft = teacher.train_logits if objective.uses_teacher else None
    labelled = labelled_mask(len(site.train), config.unlabeled_fraction, seed=derive_seed(config.seed, "labels",
                                                                                          identity))
    settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs)
    seed = derive_seed(config.seed, "train", identity, server_round)
    if config.local_dp:
        # Opacus is imported only by rounds that use it: it is most of a ClientApp process's start-up,
        # which a deployment pays for every message.
        from fedkd.privacy.dp_sgd import dp_distill

        check_delta(config, len(site.train))
        path = ledger_path(cache_dir(config, node), site, context.run_id if config.dp_ledger == "run" else None)
        with ledger_lock(path):
            ledger = load_ledger(context, path, config.dp_accountant)
            sigma = round_noise(config, ledger, teacher, site, context.run_id)
            check_noise(node, sigma)
            check_budget(config, node, ledger, teacher, dp_round_entry(config, sigma, len(site.train)))
            stats, entry = dp_distill(
                student, site.train, soft, settings=dp_optimizer_settings(config), dp=dp_settings(config, sigma),
                objective=objective, device=device, seed=seed, labelled=labelled,
            )
            ledger.record(*entry)
            store_ledger(context, path, ledger)
        extra |= privacy_metrics(config, ledger, teacher, privacy_scope(config, teacher, node), site)
    else:
        adapter = context.state.array_records.get(ADAPTER_KEY)
        features = feature_teacher(config, student, teacher, site,
                                   adapter_state=adapter.to_torch_state_dict() if adapter is not None else None,
                                   seed=derive_seed(config.seed, "adapter", identity))
        stats = distill(
            student, site.train, soft, objective=objective, settings=settings, device=device, seed=seed,
            proximal_mu=config.proximal_mu if config.strategy == "fedprox" else 0.0,
            labelled=labelled, features=features,
        )
        if features is not None and features.adapter is not None:
            context.state[ADAPTER_KEY] = ArrayRecord(features.adapter.state_dict())
    return _metrics(stats, config, values, context, extra) | teacher_accuracy(site, teacher)


def current_teacher(config: FedKDConfig, context: Context, site: SiteData) -> Teacher:
    """The site's teacher: as obtained, or, in mutual mode, as trained in the site's previous rounds.

    A mutually trained teacher's weights live in the node's state only; they are
    never sent.
    """
    teacher = load_teacher(config, NodeConfig.from_mapping(context.node_config), site)
    stored = context.state.array_records.get(MUTUAL_TEACHER_KEY) if config.teacher_mode == "mutual" else None
    if stored is None:
        return teacher
    model = copy.deepcopy(teacher.model)
    model.load_state_dict(stored.to_torch_state_dict())
    freeze(model)
    return with_model(teacher, model, site, next(model.parameters()).device)


def _metrics(stats: TrainStats, config: FedKDConfig, values: RoundValues, context: Context, extra: Metrics) -> Metrics:
    metrics: Metrics = {
        "num-examples": stats.num_examples,
        "train-loss": stats.loss,
        "train-ce": stats.ce,
        "train-kd": stats.kd,
        "node-id": context.node_id,
        "kd-temperature": values.kd_temperature,
        "kd-alpha": values.kd_alpha,
        "simulated-site": int(NodeConfig.from_mapping(context.node_config).simulated),
    }
    if config.client_dp != "none":
        metrics["dp-weight"] = 1
    return metrics | extra


def teacher_accuracy(site: SiteData, teacher: Teacher) -> Metrics:
    """The teacher's accuracy on the local test split and that split's size.

    Every reply carries both keys (Flower refuses to aggregate replies whose keys differ);
    a site without a test split reports accuracy 0 over 0 test examples, which the server skips.
    """
    if not len(site.test):
        return {"teacher-accuracy": 0.0, "test-examples": 0}
    accuracy = accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy
    return {"teacher-accuracy": accuracy, "test-examples": len(site.test)}
