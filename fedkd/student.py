"""The shared student, built the same way at the server and at every site."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fedkd.checkpoint import load_model, save_model
from fedkd.config import FedKDConfig
from fedkd.data.public_pool import public_samples
from fedkd.data.registry import DATASETS
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.models import build_model
from fedkd.seeding import derive_seed


def build_student(config: FedKDConfig) -> nn.Module:
    """A fresh student for the run's dataset; DP-compatible (no BatchNorm) under local DP."""
    spec = DATASETS[config.dataset]
    student = build_model(config.student, input_shape=spec.input_shape, num_classes=spec.num_classes)
    if not config.local_dp:
        return student
    # Opacus only where DP-SGD runs: importing it is most of a fresh ClientApp process's start-up.
    from fedkd.privacy.dp_sgd import make_private_module

    return make_private_module(student)


def pretrained_student_path(config: FedKDConfig, cache_dir: Path) -> Path:
    """Where the publicly pretrained student of ``config`` is cached: named by everything that shapes it."""
    name = (f"{config.student}-{config.dataset}-public{config.student_pretrain_samples}-"
            f"e{config.student_pretrain_epochs}-lr{config.learning_rate:g}-m{config.momentum:g}-"
            f"b{config.batch_size}-dp{int(config.local_dp)}-seed{config.seed}.safetensors")
    return cache_dir / "students" / name


def initial_student(config: FedKDConfig, cache_dir: Path) -> nn.Module:
    """The global student of round 0: :func:`build_student`, pretrained on public data when configured.

    With ``student-pretrain-samples`` > 0 the student is trained with cross-entropy
    on that many public samples (:func:`fedkd.data.public_pool.public_samples`: fresh
    MNIST-1D samples from the generator, or the first of Fashion-MNIST's train holdout),
    disjoint from the federation's data, at the student's learning rate, momentum and
    batch size.
    The result is cached under ``cache_dir/students`` and reloaded with its shapes
    checked. No site's record is touched, so no epsilon is spent.
    """
    student = build_student(config)
    if config.student_pretrain_samples == 0:
        return student
    spec = DATASETS[config.dataset]
    path = pretrained_student_path(config, cache_dir)
    if not path.is_file():
        torch.manual_seed(derive_seed(config.seed, "student-pretrain"))
        student = build_student(config)
        settings = OptimizerSettings(config.learning_rate, config.momentum, config.batch_size,
                                     config.student_pretrain_epochs)
        pool = public_samples(config.dataset, config.student_pretrain_samples, cache_dir=cache_dir)
        distill(student, pool, None, objective=CE_ONLY,
                settings=settings, device=torch.device("cpu"), seed=derive_seed(config.seed, "student-pretrain"))
        save_model(path, student.cpu(), architecture=config.student, input_shape=spec.input_shape,
                   num_classes=spec.num_classes)
    pretrained, _ = load_model(path, architecture=config.student, expected=(spec.input_shape, spec.num_classes))
    student.load_state_dict(pretrained.state_dict())
    return student
