"""End to end through Flower: a robust strategy and sites without a local test split, on real MNIST-1D."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from simulations.flower_run import run_simulation

pytestmark = pytest.mark.e2e


def test_simulation_krum_without_local_test_splits_trains_and_evaluates_zero_examples(tmp_path: Path) -> None:
    # Prepare: local-test-fraction 0 used to crash every client (torch.cat of no tensors).
    overrides = {"experiment": "mnist1d-iid.yaml", "num-server-rounds": 2, "teacher-epochs": 5,
                 "teacher-pretraining": "none",
                 "local-test-fraction": 0.0, "strategy": "krum", "num-malicious-nodes": 0,
                 "output-dir": str(tmp_path / "results"), "run-name": "krum", "cache-dir": str(tmp_path / "cache")}

    # Execute
    folder = run_simulation(num_supernodes=3, run_config=overrides, echo=False, timeout=600)

    # Assert: every site was evaluated over 0 examples; nothing failed or was left out. Krum adopts one
    # site's student a round, so the train statistics are that site's.
    rounds = json.loads((folder / "results.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    final = rounds[-1]
    assert final["clients_trained"] == 1 and final["clients_evaluated"] == 3
    assert final["client_accuracy_mean"] is None  # no site had a test example
    assert final["failures"] == {} and final["replies_dropped"] == 0 and final["error_replies"] == 0
    assert final["global_accuracy"] > 0.2  # ten classes: chance is 0.1


def test_simulation_with_a_nan_teacher_checkpoint_records_every_site_failure_and_keeps_the_student(
    tmp_path: Path,
) -> None:
    # Prepare: the server names a teacher checkpoint holding one NaN weight (the student's architecture and shape).
    from fedkd.checkpoint import save_model
    from fedkd.models import build_model

    model = build_model("mlp", input_shape=(40,), num_classes=10)
    with torch.no_grad():
        next(model.parameters())[0, 0] = math.nan
    checkpoint = tmp_path / "poisoned.safetensors"
    save_model(checkpoint, model, architecture="mlp", input_shape=(40,), num_classes=10)
    overrides = {"num-server-rounds": 1, "teacher-checkpoint": str(checkpoint), "output-dir": str(tmp_path),
                 "run-name": "nan-teacher", "cache-dir": str(tmp_path / "cache")}

    # Execute
    folder = run_simulation(num_supernodes=2, run_config=overrides, echo=False, timeout=600)

    # Assert: every site refused the teacher, by name; the global student is the initial one.
    first, last = json.loads((folder / "results.json").read_text())["rounds"]
    assert last["error_replies"] == 4  # two sites, train and evaluate
    assert len(last["failures"]) == 2 and last["replies_dropped"] == 0
    for reason in last["failures"].values():
        assert "train: error reply (code 4003): CheckpointError: teacher checkpoint " in reason
        assert "evaluate: error reply (code 4003)" in reason and "Traceback" not in reason
        assert "net.1.weight holds 1 non-finite value(s) of 4000 (first: nan at index (0, 0))" in reason
    assert last["global_accuracy"] == first["global_accuracy"] and last["global_loss"] == first["global_loss"]
