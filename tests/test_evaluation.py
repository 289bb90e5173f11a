"""Evaluation: logits without gradients, loss and accuracy against hand counts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

from fedkd.data import ArrayDataset, DatasetSplits
from fedkd.data.site import SiteData, split_shard
from fedkd.distill.objective import LogitKnowledge
from fedkd.distill.training import OptimizerSettings, TrainStats, distill
from fedkd.evaluation import EVAL_BATCH_SIZE, evaluate
from fedkd.models import build_model

CPU = torch.device("cpu")


SETTINGS = OptimizerSettings(learning_rate=0.05, momentum=0.9, batch_size=32, epochs=3)


@pytest.fixture(scope="module")
def site(mnist1d: DatasetSplits) -> SiteData:
    """1000 real MNIST-1D samples: 800 to train on, 200 held out locally."""
    return split_shard(mnist1d.train.subset(np.arange(1000)), test_fraction=0.2, seed=0, num_classes=10)


def _student(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", input_shape=(40,), num_classes=10)


def _train(site: SiteData, *, seed: int = 0, init: int = 0, alpha: float = 1.0,
           teacher_logits: torch.Tensor | None = None, labels: npt.NDArray[np.int64] | None = None,
           settings: OptimizerSettings = SETTINGS, proximal_mu: float = 0.0) -> tuple[nn.Module, TrainStats]:
    student = _student(init)
    data = site.train if labels is None else ArrayDataset(site.train.x, labels)
    stats = distill(student, data, teacher_logits, settings=settings,
                    objective=LogitKnowledge(alpha=alpha, temperature=2.0), device=CPU,
                    seed=seed, proximal_mu=proximal_mu)
    return student, stats


def test_evaluate_hand_built_logits_gives_hand_counted_accuracy_and_loss() -> None:
    # Prepare: a linear model whose logits are its inputs.
    model = nn.Linear(3, 3)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
        model.bias.zero_()
    x = np.array([[3, 1, 0], [0, 2, 1], [1, 0, 5], [2, 2.5, 0], [0, 0, 1]], dtype=np.float32)
    y = np.array([0, 1, 0, 1, 2])
    # By hand: argmax per row is 0, 1, 2, 1, 2; only row 2 (label 0) is wrong, so 4 of 5 are right.
    # Loss: the mean of log(sum exp(row)) - row[label].
    hand_loss = sum(math.log(sum(math.exp(v) for v in row)) - row[label] for row, label in zip(x, y, strict=True)) / 5

    # Execute
    stats = evaluate(model, ArrayDataset(x, y), device=CPU)

    # Assert
    assert stats.accuracy == pytest.approx(0.8) and stats.num_examples == 5
    assert stats.loss == pytest.approx(hand_loss, rel=1e-6)


def test_evaluate_real_data_over_several_batches_equals_a_numpy_count(site: SiteData, mnist1d: DatasetSplits) -> None:
    # Prepare: a trained student, and every MNIST-1D train sample (more than one evaluation batch).
    student, _ = _train(site)
    data = mnist1d.train
    assert len(data) > 2 * EVAL_BATCH_SIZE
    params = {k: v.double().numpy() for k, v in student.state_dict().items()}
    hidden = np.maximum(data.x.astype(np.float64) @ params["net.1.weight"].T + params["net.1.bias"], 0)
    hidden = np.maximum(hidden @ params["net.3.weight"].T + params["net.3.bias"], 0)
    logits = hidden @ params["net.5.weight"].T + params["net.5.bias"]
    correct = int((logits.argmax(axis=1) == data.y).sum())
    shifted = logits - logits.max(axis=1, keepdims=True)
    loss = float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(data)), data.y]))

    # Execute
    stats = evaluate(student, data, device=CPU)

    # Assert
    assert stats.num_examples == len(data)
    assert stats.accuracy == pytest.approx(correct / len(data), abs=1e-7)
    assert stats.loss == pytest.approx(loss, rel=1e-5)


def test_evaluate_empty_data_gives_zero_examples() -> None:
    empty = ArrayDataset(np.zeros((0, 40), dtype=np.float32), np.zeros(0, dtype=np.int64))

    stats = evaluate(_student(), empty, device=CPU)

    assert (stats.num_examples, stats.accuracy, stats.loss) == (0, 0.0, 0.0)
