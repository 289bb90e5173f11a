"""A site never sends a student holding nan or inf, and says why; a site without a test split still answers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

import clients.site
from clients.app import NON_FINITE, SITE_REFUSED, app
from fedkd.config import FedKDConfig
from fedkd.distill.schedules import round_values
from fedkd.student import build_student
from tests.flower_task import inside_task

NODE_CONFIG = {"partition-id": 1, "num-partitions": 3}


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    clients.site._sites.clear()
    clients.site._teachers.clear()
    try:
        with inside_task():
            yield
    finally:
        clients.site._sites.clear()
        clients.site._teachers.clear()


def _ask(config: FedKDConfig, kind: str, student: torch.nn.Module,
         node_config: dict[str, object] | None = None) -> Message:
    content = RecordDict({
        "arrays": ArrayRecord({k: v.detach().clone() for k, v in student.state_dict().items()}),
        "config": ConfigRecord({**config.to_dict(), "server-round": 1, **round_values(config, 1).to_record()}),
    })
    context = Context(run_id=1, node_id=1, node_config=dict(node_config or NODE_CONFIG), state=RecordDict(),
                      run_config={})
    return app(Message(content=content, dst_node_id=1, message_type=kind), context)


def test_client_train_received_nan_student_replies_an_error_naming_the_weight(cache_root: Path) -> None:
    config = FedKDConfig.from_mapping({"cache-dir": str(cache_root)})
    student = build_student(config)
    with torch.no_grad():
        next(student.parameters())[4, 2] = math.nan

    reply = _ask(config, "train", student)

    assert reply.has_error() and reply.error.code == NON_FINITE
    assert "the global student received is not finite" in reply.error.reason
    assert "holds 1 non-finite value(s)" in reply.error.reason and "(first: nan at index (4, 2))" in reply.error.reason


def test_client_train_that_diverges_refuses_to_send_its_student(cache_root: Path) -> None:
    # Prepare: a finite but absurd learning rate makes the student's weights overflow.
    config = FedKDConfig.from_mapping({"cache-dir": str(cache_root), "teacher-epochs": 1,
                                       "teacher-pretraining": "none", "local-epochs": 1,
                                       "learning-rate": 1e30, "momentum": 0.0})
    torch.manual_seed(0)

    # Execute
    reply = _ask(config, "train", build_student(config))

    # Assert: an error reply, not the weights.
    assert reply.has_error() and reply.error.code == NON_FINITE
    assert "this site's student is not finite after training, not sent" in reply.error.reason


def test_client_without_a_local_test_split_trains_and_evaluates_zero_examples(cache_root: Path) -> None:
    config = FedKDConfig.from_mapping({"cache-dir": str(cache_root), "teacher-epochs": 1,
                                       "teacher-pretraining": "none", "local-epochs": 1,
                                       "local-test-fraction": 0.0})
    student = build_student(config)

    trained, evaluated = _ask(config, "train", student), _ask(config, "evaluate", student)

    assert not trained.has_error() and trained.content["metrics"]["test-examples"] == 0
    assert not evaluated.has_error() and evaluated.content["metrics"]["num-examples"] == 0


@pytest.mark.parametrize("kind", ["train", "evaluate"])
def test_client_site_data_with_one_nan_replies_an_error_naming_it_not_a_traceback(tmp_path: Path, kind: str) -> None:
    # Prepare: a real site whose train split holds one NaN among 19,200 values.
    x = np.random.default_rng(0).normal(size=(480, 40)).astype(np.float32)
    x[17, 3] = np.nan
    np.savez(tmp_path / "train.npz", x=x, y=np.arange(480) % 10)
    np.savez(tmp_path / "test.npz", x=x[:10] * 0, y=np.arange(10))
    config = FedKDConfig()

    # Execute: the site names its own cache (a real site refuses one the server names).
    reply = _ask(config, kind, build_student(config), {"data-dir": str(tmp_path), "cache-dir": str(tmp_path / "cache")})

    # Assert
    assert reply.has_error() and reply.error.code == SITE_REFUSED
    assert reply.error.reason == (f"NonFiniteError: {tmp_path / 'train.npz'}: x holds 1 non-finite value(s) of 19200 "
                                  "(first: nan at index (17, 3))")
    assert not (tmp_path / "cache").exists()
