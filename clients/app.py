"""The fedkd ClientApp: unpack the global student, distill it from the private teacher, reply.

Only the student's weights and scalar metrics leave the site. The teacher, its
weights, its logits and the site's data stay here.
"""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import adaptiveclipping_mod, fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

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
from fedkd.privacy import DPSettings, dp_distill, sample_rate, steps_per_epoch
from fedkd.seeding import derive_seed
from fedkd.student import build_student
from fedkd.teacher import Teacher
from fedkd.train import OptimizerSettings, TrainStats, accuracy_of, distill, evaluate

# Error code of a train reply from a site whose privacy budget is spent.
BUDGET_SPENT = 4001

app = ClientApp()


def config_of(msg: Message) -> FedKDConfig:
    """The run config the server sent with this message."""
    record = msg.content.config_records.get("config", ConfigRecord())
    known = set(FedKDConfig.keys())
    return FedKDConfig.from_mapping({k: v for k, v in record.items() if k in known})


def student_of(msg: Message, config: FedKDConfig) -> torch.nn.Module:
    """The global student built from the message's arrays."""
    student = build_student(config)
    if "arrays" not in msg.content.array_records:
        raise ValueError("the message holds no 'arrays' record with the global student")
    student.load_state_dict(msg.content.array_records["arrays"].to_torch_state_dict())
    return student


def client_dp_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Clip this site's update when the server asked for client-side clipping (train only).

    Flower's client-side DP wrappers send a clipping norm in the round's config;
    without one (no client-level DP, or clipping at the server) this does nothing.
    """
    record = msg.content.config_records.get("config", ConfigRecord())
    if KEY_CLIPPING_NORM not in record:
        return call_next(msg, context)
    adaptive = record.get("client-dp") == "client-adaptive"
    return (adaptiveclipping_mod if adaptive else fixedclipping_mod)(msg, context, call_next)


@app.train(mods=[client_dp_mod])
def train(msg: Message, context: Context) -> Message:
    """Distill the received student from this site's teacher and return it."""
    config = config_of(msg)
    site = load_site(config, context.node_config)
    teacher = load_teacher(config, context.node_config, site)
    student = student_of(msg, config)
    server_round = int(msg.content.config_records["config"].get("server-round", 0))
    device = resolve_device(config.student_device)
    soft = teacher.train_logits if config.kd_alpha < 1.0 else None
    settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs)
    seed = derive_seed(config.seed, "train", site_identity(context.node_config), server_round)
    extra: dict[str, object] = {}
    if config.local_dp:
        try:
            stats, extra = _private_round(config, context, site, teacher, student, soft, settings, device, seed)
        except BudgetSpent as spent:
            return Message(error=Error(code=BUDGET_SPENT, reason=str(spent)), reply_to=msg)
    else:
        stats = distill(
            student, site.train, soft, settings=settings, alpha=config.kd_alpha,
            temperature=config.kd_temperature, device=device, seed=seed,
            proximal_mu=config.proximal_mu if config.strategy == "fedprox" else 0.0,
        )
    metrics = MetricRecord(
        {
            "num-examples": stats.num_examples,
            "train-loss": stats.loss,
            "train-ce": stats.ce,
            "train-kd": stats.kd,
            "node-id": context.node_id,
            **({"dp-weight": 1} if config.client_dp != "none" else {}),
            **extra,  # type: ignore[dict-item]
        }
    )
    if len(site.test):
        metrics["teacher-accuracy"] = accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy
    state = {k: v.detach().cpu() for k, v in student.state_dict().items()}
    content = RecordDict({"arrays": ArrayRecord(state), "metrics": metrics})
    return Message(content=content, reply_to=msg)


def _private_round(
    config: FedKDConfig,
    context: Context,
    site: SiteData,
    teacher: Teacher,
    student: torch.nn.Module,
    soft: torch.Tensor | None,
    settings: OptimizerSettings,
    device: torch.device,
    seed: int,
) -> tuple[TrainStats, dict[str, object]]:
    """One round of DP-SGD, accounted in the site's ledger; raises BudgetSpent first if over budget."""
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
    scope = privacy_scope(config, teacher, context.node_config)
    return stats, privacy_metrics(config, ledger, teacher, scope)


@app.evaluate()
def evaluate_student(msg: Message, context: Context) -> Message:
    """Evaluate the global student (and report the teacher) on this site's local test split."""
    config = config_of(msg)
    site = load_site(config, context.node_config)
    teacher = load_teacher(config, context.node_config, site)
    student = student_of(msg, config)
    stats = evaluate(student, site.test, device=resolve_device(config.student_device))
    metrics = MetricRecord({"num-examples": stats.num_examples, "accuracy": stats.accuracy, "loss": stats.loss})
    if config.client_dp != "none":
        metrics["dp-weight"] = 1
    if len(site.test):
        metrics["teacher-accuracy"] = accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
