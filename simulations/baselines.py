"""Baselines run on the same data as a federated run, with fedkd's own functions.

- local teachers: the exact teachers the simulated clients used (same recipe, same
  cache), each evaluated on the server's test set (the dataset's, or ``server-test-data``);
- centralized student: the student trained with CE on the whole train split for
  ``num-server-rounds * local-epochs`` epochs with the clients' optimiser settings;
- centralized teacher: the teacher architecture trained on the whole train split
  with the teacher recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from clients.site import load_site, load_teacher
from fedkd.config import FedKDConfig
from fedkd.data.public_pool import load_federation
from fedkd.device import resolve_device
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.evaluation import evaluate
from fedkd.io import resolve_cache_dir
from fedkd.models import build_model
from fedkd.node_config import NodeConfig
from server.held_out import held_out_set


@dataclass(frozen=True)
class TeacherAccuracies:
    """Global-test accuracy of each site's teacher."""

    per_site: list[float]

    @property
    def mean(self) -> float:
        """Mean over sites."""
        return sum(self.per_site) / len(self.per_site)

    @property
    def best(self) -> float:
        """Best site."""
        return max(self.per_site)


def local_teachers(config: FedKDConfig, num_clients: int) -> TeacherAccuracies:
    """The simulated clients' teachers on the server's test set (reused from their cache)."""
    test = held_out_set(config, resolve_cache_dir(config.cache_dir))
    device = resolve_device(config.teacher_device)
    accuracies = []
    for partition in range(num_clients):
        node = NodeConfig(partition_id=partition, num_partitions=num_clients)
        teacher = load_teacher(config, node, load_site(config, node))
        accuracies.append(evaluate(teacher.model, test.teacher_view(), device=device).accuracy)
    return TeacherAccuracies(accuracies)


def centralized(config: FedKDConfig, *, architecture: str, epochs: int, learning_rate: float,
                teacher_view: bool = False) -> float:
    """Global-test accuracy of ``architecture`` trained with CE on the whole train split
    (the teacher's inputs with ``teacher_view``)."""
    splits = load_federation(config.dataset, holdout=config.public_pool_holdout, data_dir=None,
                             cache_dir=Path(config.cache_dir))
    train, test = (splits.train.teacher_view(), splits.test.teacher_view()) if teacher_view else (splits.train,
                                                                                                   splits.test)
    torch.manual_seed(config.seed)
    model = build_model(architecture, input_shape=tuple(train.x.shape[1:]), num_classes=splits.num_classes)
    device = resolve_device(config.student_device)
    settings = OptimizerSettings(learning_rate, config.momentum, config.batch_size, epochs)
    distill(model, train, None, settings=settings, objective=CE_ONLY, device=device, seed=config.seed)
    return evaluate(model, test, device=device).accuracy


def centralized_student(config: FedKDConfig) -> float:
    """The student trained centrally for as many epochs as each site trains it in the run."""
    return centralized(config, architecture=config.student, epochs=config.num_server_rounds * config.local_epochs,
                       learning_rate=config.learning_rate)


def centralized_teacher(config: FedKDConfig) -> float:
    """The teacher architecture trained centrally with the teacher recipe."""
    return centralized(config, architecture=config.teacher, epochs=config.teacher_epochs,
                       learning_rate=config.teacher_learning_rate, teacher_view=True)
