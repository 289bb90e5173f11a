"""The global student's start: fresh, or pretrained on the public MNIST-1D pool and cached."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fedkd.checkpoint import CheckpointError, save_model
from fedkd.config import ConfigError, FedKDConfig
from fedkd.data.registry import load_dataset
from fedkd.evaluation import evaluate
from fedkd.models import build_model
from fedkd.student import initial_student, pretrained_student_path


def test_initial_student_without_pretraining_is_the_fresh_build(tmp_path: Path) -> None:
    config = FedKDConfig.from_mapping({"seed": 3})

    student = initial_student(config, tmp_path)

    assert not (tmp_path / "students").exists()
    assert [p.shape for p in student.parameters()] == [p.shape for p in build_model(
        "mlp", input_shape=(40,), num_classes=10).parameters()]


def test_initial_student_pretrained_is_cached_reloaded_and_beats_chance(tmp_path: Path) -> None:
    config = FedKDConfig.from_mapping({"student-pretrain-samples": 1000, "student-pretrain-epochs": 5})

    first = initial_student(config, tmp_path)
    stamp = pretrained_student_path(config, tmp_path).stat().st_mtime_ns
    second = initial_student(config, tmp_path)

    assert pretrained_student_path(config, tmp_path).stat().st_mtime_ns == stamp  # loaded, not retrained
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    test = load_dataset("mnist1d", data_dir=None, cache_dir=tmp_path).test
    assert evaluate(second, test, device=torch.device("cpu")).accuracy > 0.25  # chance is 0.10


def test_initial_student_refuses_a_cached_file_of_other_shapes(tmp_path: Path) -> None:
    config = FedKDConfig.from_mapping({"student-pretrain-samples": 100})
    path = pretrained_student_path(config, tmp_path)
    path.parent.mkdir(parents=True)
    save_model(path, build_model("mlp", input_shape=(40,), num_classes=5), architecture="mlp", input_shape=(40,),
               num_classes=5)

    with pytest.raises(CheckpointError):
        initial_student(config, tmp_path)


def test_student_pretraining_is_refused_without_a_public_pool() -> None:
    with pytest.raises(ConfigError, match="student-pretrain-samples"):
        FedKDConfig.from_mapping({"dataset": "fashion-mnist", "student": "cnn-small", "teacher": "cnn-large",
                                  "student-pretrain-samples": 100})
