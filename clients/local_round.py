"""One site's local round: distill the student from the site's teacher, with or without DP-SGD.

Message formats are not known here; ``clients.app`` unpacks and packs them.
"""

from __future__ import annotations

import torch
from flwr.app import Context

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
from fedkd.device import resolve_device
from fedkd.privacy import DPSettings, dp_distill, sample_rate, steps_per_epoch
from fedkd.seeding import derive_seed
from fedkd.train import OptimizerSettings, TrainStats, accuracy_of, distill

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
    teacher = load_teacher(config, context.node_config, site)
    device = resolve_device(config.student_device)
    soft = teacher.train_logits if config.kd_alpha < 1.0 else None
    settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs)
    seed = derive_seed(config.seed, "train", site_identity(context.node_config), server_round)
    extra: Metrics = {}
    if config.local_dp:
        path = ledger_path(cache_dir(config, context.node_config), context.run_id, site_identity(context.node_config))
        ledger = load_ledger(context, path, config.dp_accountant)
        sigma = round_noise(config, ledger, teacher, site)
        steps = steps_per_epoch(config.batch_size, len(site.train)) * config.local_epochs
        check_budget(config, ledger, teacher, (sigma, sample_rate(config.batch_size, len(site.train)), steps))
        stats, entry = dp_distill(
            student, site.train, soft, settings=settings,
            dp=DPSettings(sigma, config.dp_max_grad_norm, config.dp_grad_sample_mode),
            alpha=config.kd_alpha, temperature=config.kd_temperature, device=device, seed=seed,
        )
        ledger.record(*entry)
        store_ledger(context, path, ledger)
        extra = privacy_metrics(config, ledger, teacher, privacy_scope(config, teacher, context.node_config))
    else:
        stats = distill(
            student, site.train, soft, settings=settings, alpha=config.kd_alpha,
            temperature=config.kd_temperature, device=device, seed=seed,
            proximal_mu=config.proximal_mu if config.strategy == "fedprox" else 0.0,
        )
    return _metrics(stats, config, context, extra) | _teacher_accuracy(config, context)


def _metrics(stats: TrainStats, config: FedKDConfig, context: Context, extra: Metrics) -> Metrics:
    metrics: Metrics = {
        "num-examples": stats.num_examples,
        "train-loss": stats.loss,
        "train-ce": stats.ce,
        "train-kd": stats.kd,
        "node-id": context.node_id,
    }
    if config.client_dp != "none":
        metrics["dp-weight"] = 1
    return metrics | extra


def _teacher_accuracy(config: FedKDConfig, context: Context) -> Metrics:
    """The teacher's accuracy on the local test split, when the site has one."""
    site = load_site(config, context.node_config)
    if not len(site.test):
        return {}
    teacher = load_teacher(config, context.node_config, site)
    return {"teacher-accuracy": accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy}
