"""The shared student, built the same way at the server and at every site."""

from __future__ import annotations

from torch import nn

from fedkd.config import FedKDConfig
from fedkd.data.registry import DATASETS
from fedkd.models import build_model
from fedkd.privacy.dp_sgd import make_private_module


def build_student(config: FedKDConfig) -> nn.Module:
    """A fresh student for the run's dataset; DP-compatible (no BatchNorm) under local DP."""
    spec = DATASETS[config.dataset]
    student = build_model(config.student, input_shape=spec.input_shape, num_classes=spec.num_classes)
    return make_private_module(student) if config.local_dp else student
