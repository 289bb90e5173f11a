"""Message inspection: every reply a client sends holds the student and scalars, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

import clients.site
from clients.app import app
from clients.site import load_site, load_teacher
from fedkd.config import FedKDConfig
from fedkd.student import build_student

NODE = {"partition-id": 1, "num-partitions": 3}
TRAIN_METRICS = {"num-examples", "train-loss", "train-ce", "train-kd", "teacher-accuracy", "node-id"}
EVALUATE_METRICS = {"num-examples", "accuracy", "loss", "teacher-accuracy"}


@pytest.fixture(autouse=True)
def task_identity() -> Iterator[None]:
    # A Message can only be built inside a task; give this process one for the test.
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 3, 2, 1
    clients.site._sites.clear()
    clients.site._teachers.clear()
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


@pytest.fixture
def config(tmp_path: Path) -> FedKDConfig:
    # A teacher architecture (cnn1d) with parameter names and shapes the student (mlp) lacks.
    return FedKDConfig.from_mapping({"teacher-epochs": 3, "local-epochs": 1, "cache-dir": str(tmp_path)})


def _ask(config: FedKDConfig, kind: str, student: torch.nn.Module) -> Message:
    content = RecordDict({
        "arrays": ArrayRecord({k: v.clone() for k, v in student.state_dict().items()}),
        "config": ConfigRecord({**config.to_dict(), "server-round": 1}),
    })
    reply = app(Message(content=content, dst_node_id=2, message_type=kind),
                Context(run_id=3, node_id=2, node_config=dict(NODE), state=RecordDict(), run_config={}))
    assert not reply.has_error(), reply.error
    return reply


def _arrays(reply: Message) -> list[np.ndarray]:
    return [a.numpy() for record in reply.content.array_records.values() for a in record.values()]


def test_train_and_evaluate_replies_carry_only_the_student_and_scalar_metrics(config: FedKDConfig) -> None:
    torch.manual_seed(0)
    student = build_student(config)

    train = _ask(config, "train", student)
    evaluate = _ask(config, "evaluate", student)

    site = load_site(config, NODE)
    teacher = load_teacher(config, NODE, site)
    # The train reply: exactly one ArrayRecord, keyed and shaped like the student.
    assert list(train.content.array_records) == ["arrays"]
    returned = train.content.array_records["arrays"]
    assert {k: tuple(v.shape) for k, v in returned.items()} == {
        k: tuple(v.shape) for k, v in student.state_dict().items()}
    teacher_only = {k for k in teacher.model.state_dict()} - set(student.state_dict())
    assert teacher_only and not teacher_only & set(returned)
    # No array anywhere equals a teacher weight, the teacher's logits, or the site's data.
    private = [t.numpy() for t in teacher.model.state_dict().values()]
    private += [teacher.train_logits.numpy(), teacher.test_logits.numpy(), site.train.x, site.train.y,
                site.test.x, site.test.y]
    for sent in _arrays(train) + _arrays(evaluate):
        for secret in private:
            assert not (sent.shape == secret.shape and np.allclose(sent, secret))
    assert _arrays(evaluate) == []
    # Metrics are scalar numbers with the documented keys; no config comes back.
    for reply, keys in ((train, TRAIN_METRICS), (evaluate, EVALUATE_METRICS)):
        assert not reply.content.config_records
        (metrics,) = reply.content.metric_records.values()
        assert set(metrics) == keys
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values())


def test_train_reply_is_a_trained_student_and_deterministic(config: FedKDConfig) -> None:
    torch.manual_seed(0)
    student = build_student(config)

    first = _ask(config, "train", student).content.array_records["arrays"]
    second = _ask(config, "train", student).content.array_records["arrays"]

    sent = student.state_dict()
    assert any(not np.array_equal(first[k].numpy(), sent[k].numpy()) for k in sent)
    assert all(np.array_equal(first[k].numpy(), second[k].numpy()) for k in sent)
