"""The fedkd ClientApp: unpack the global student, distill it from the private teacher, reply.

Only the student's weights and scalar metrics leave the site. The teacher, its
weights, its logits and the site's data stay here.
"""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from clients.site import load_site, load_teacher, site_identity
from fedkd.config import FedKDConfig
from fedkd.data.registry import DATASETS
from fedkd.device import resolve_device
from fedkd.models import build_model
from fedkd.seeding import derive_seed
from fedkd.train import OptimizerSettings, accuracy_of, distill, evaluate

app = ClientApp()


def config_of(msg: Message) -> FedKDConfig:
    """The run config the server sent with this message."""
    record = msg.content.config_records.get("config", ConfigRecord())
    known = set(FedKDConfig.keys())
    return FedKDConfig.from_mapping({k: v for k, v in record.items() if k in known})


def student_of(msg: Message, config: FedKDConfig) -> torch.nn.Module:
    """The global student built from the message's arrays."""
    spec = DATASETS[config.dataset]
    student = build_model(config.student, input_shape=spec.input_shape, num_classes=spec.num_classes)
    if "arrays" not in msg.content.array_records:
        raise ValueError("the message holds no 'arrays' record with the global student")
    student.load_state_dict(msg.content.array_records["arrays"].to_torch_state_dict())
    return student


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Distill the received student from this site's teacher and return it."""
    config = config_of(msg)
    site = load_site(config, context.node_config)
    teacher = load_teacher(config, context.node_config, site)
    student = student_of(msg, config)
    server_round = int(msg.content.config_records["config"].get("server-round", 0))
    device = resolve_device(config.student_device)
    uses_teacher = config.kd_alpha < 1.0
    stats = distill(
        student,
        site.train,
        teacher.train_logits if uses_teacher else None,
        settings=OptimizerSettings(config.learning_rate, config.momentum, config.batch_size, config.local_epochs),
        alpha=config.kd_alpha,
        temperature=config.kd_temperature,
        device=device,
        seed=derive_seed(config.seed, "train", site_identity(context.node_config), server_round),
        proximal_mu=config.proximal_mu if config.strategy == "fedprox" else 0.0,
    )
    metrics = MetricRecord(
        {
            "num-examples": stats.num_examples,
            "train-loss": stats.loss,
            "train-ce": stats.ce,
            "train-kd": stats.kd,
        }
    )
    if len(site.test):
        metrics["teacher-accuracy"] = accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy
    state = {k: v.detach().cpu() for k, v in student.state_dict().items()}
    content = RecordDict({"arrays": ArrayRecord(state), "metrics": metrics})
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate_student(msg: Message, context: Context) -> Message:
    """Evaluate the global student (and report the teacher) on this site's local test split."""
    config = config_of(msg)
    site = load_site(config, context.node_config)
    teacher = load_teacher(config, context.node_config, site)
    student = student_of(msg, config)
    stats = evaluate(student, site.test, device=resolve_device(config.student_device))
    metrics = MetricRecord({"num-examples": stats.num_examples, "accuracy": stats.accuracy, "loss": stats.loss})
    if len(site.test):
        metrics["teacher-accuracy"] = accuracy_of(teacher.test_logits, torch.from_numpy(site.test.y)).accuracy
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
