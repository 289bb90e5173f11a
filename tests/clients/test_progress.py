"""A real site says what it does each round in a few lines; a simulated site stays silent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.common.logger import FLOWER_LOGGER

import clients.site
from clients.app import app
from clients.privacy import site_id
from clients.progress import SiteProgress, site_label, teacher_summary, train_summary
from fedkd.config import FedKDConfig
from fedkd.data.registry import load_dataset
from fedkd.distill.schedules import round_values
from fedkd.node_config import NodeConfig
from fedkd.student import build_student
from tests.flower_task import inside_task


class Lines(logging.Handler):
    """Collects the formatted messages Flower's logger emits."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    handler = Lines()
    FLOWER_LOGGER.addHandler(handler)
    clients.site._sites.clear()
    clients.site._teachers.clear()
    try:
        with inside_task():
            yield handler.lines
    finally:
        FLOWER_LOGGER.removeHandler(handler)
        clients.site._sites.clear()
        clients.site._teachers.clear()


def _ask(config: FedKDConfig, kind: str, node_config: dict[str, object], server_round: int = 3) -> Message:
    torch.manual_seed(0)
    student = build_student(config)
    content = RecordDict({
        "arrays": ArrayRecord(student.state_dict()),
        "config": ConfigRecord({**config.to_dict(), "server-round": server_round,
                                **round_values(config, server_round).to_record()}),
    })
    context = Context(run_id=1, node_id=1, node_config=dict(node_config), state=RecordDict(), run_config={})
    reply = app(Message(content=content, dst_node_id=1, message_type=kind), context)
    assert not reply.has_error(), reply.error
    return reply


def _real_site(folder: Path, cache_root: Path) -> dict[str, object]:
    splits = load_dataset("mnist1d", data_dir=None, cache_dir=cache_root)
    np.savez(folder / "train.npz", x=splits.train.x[:200], y=splits.train.y[:200])
    np.savez(folder / "test.npz", x=splits.test.x[:50], y=splits.test.y[:50])
    return {"data-dir": str(folder), "cache-dir": str(folder / "cache")}


def test_real_site_train_and_evaluate_log_teacher_round_work_and_accuracy_lines(
        tmp_path: Path, cache_root: Path, lines: list[str]) -> None:
    # Prepare: a real site (a data-dir) whose teacher trains at first use, under local DP.
    node = _real_site(tmp_path, cache_root)
    config = FedKDConfig.from_mapping({"teacher-pretraining": "none", "teacher-epochs": 1, "local-epochs": 1,
                                       "local-dp": True, "dp-noise-multiplier": 1.0, "dp-delta": 1e-3})

    # Execute
    trained = _ask(config, "train", node)
    evaluated = _ask(config, "evaluate", node)

    # Assert: four lines, named by the site's stable id, with the reply's own numbers in them.
    metrics, accuracy = trained.content["metrics"], evaluated.content["metrics"]["accuracy"]
    site = f"[fedkd site {site_label(site_id(clients.site.load_site(config, NodeConfig.from_mapping(node))))}]"
    assert lines[0] == "[fedkd site] round 3 train: loading the site's data and teacher"
    assert lines[1].startswith(f"{site} round 3 train: teacher cnn1d (trained here), "
                               f"{metrics['teacher-accuracy']:.1%} on the local test split (50), ready in ")
    assert lines[2].startswith(f"{site} round 3 train: distilled 200 samples in ")
    assert f"loss {metrics['train-loss']:.3f}, epsilon {metrics['epsilon']:.3g} for this site's data" in lines[2]
    assert lines[3].startswith(f"{site} round 3 evaluate: global student {100 * accuracy:.1f}% on the local test "
                               "split (50) in ")
    assert len(lines) == 4


def test_simulated_site_logs_nothing(cache_root: Path, lines: list[str]) -> None:
    # Prepare
    config = FedKDConfig.from_mapping({"teacher-pretraining": "none", "teacher-epochs": 1, "local-epochs": 1,
                                       "cache-dir": str(cache_root)})

    # Execute
    _ask(config, "train", {"partition-id": 0, "num-partitions": 3})

    # Assert
    assert not [line for line in lines if line.startswith("[fedkd site")]


def test_train_summary_without_dp_has_no_epsilon_and_teacher_summary_names_its_source() -> None:
    # Execute
    plain = train_summary({"num-examples": 320, "train-loss": 0.5321}, 1.04, 1e-5)
    tuned = teacher_summary("mlp", "fine-tuned", 0.612, 80, 12.34)
    unscored = teacher_summary("mlp", "checkpoint", 0.0, 0, 0.01)

    # Assert
    assert plain == "distilled 320 samples in 1.0 s, loss 0.532"
    assert tuned == ("teacher mlp (the site's checkpoint, fine-tuned here), 61.2% on the local test split (80), "
                     "ready in 12.3 s")
    assert unscored == "teacher mlp (from the site's checkpoint), no local test split to score it, ready in 0.0 s"


def test_site_progress_enabled_only_for_a_real_site() -> None:
    assert SiteProgress(NodeConfig(data_dir="/data"), 1, "train").enabled
    assert not SiteProgress(NodeConfig(partition_id=0, num_partitions=2), 1, "train").enabled
