"""The server's causal-LM pieces: adapter-only initial arrays and held-out scoring of sent adapters."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from fedkd.config import FedKDConfig
from tests.optional_data import needs_llm

pytestmark = needs_llm


class _WordTokenizer:
    pad_token_id = 0

    def __call__(self, texts: list[str], *, max_length: int, **_: Any) -> dict[str, torch.Tensor]:
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        for row, text in enumerate(texts):
            words = [3 + sum(map(ord, word)) % 58 for word in text.split()][:max_length]
            ids[row, : len(words)] = torch.tensor(words)
        return {"input_ids": ids, "attention_mask": (ids > 0).long()}


def test_global_lm_initial_adapters_only_and_evaluate_tracks_sent_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    import server.lm_task as lm_task
    from fedkd.llm.student import trainable_parameters
    from tests.llm.tiny import tiny_llama_model

    base = tiny_llama_model()
    monkeypatch.setattr(lm_task, "load_base_model", lambda cache: (base, _WordTokenizer()))
    config = FedKDConfig.from_mapping({"task": "causal-lm", "dataset": "bbc-news", "lm-test-articles": 6,
                                       "lm-sequence-length": 12, "lora-rank": 2, "lora-alpha": 4,
                                       "student-device": "cpu", "teacher-device": "cpu"})

    # Execute
    lm = lm_task.global_lm(config, tmp_path)
    initial = lm.evaluate(lm.initial)
    changed = {k: v + 0.5 for k, v in lm.initial.to_torch_state_dict().items()}
    from flwr.app import ArrayRecord

    after = lm.evaluate(ArrayRecord(changed))  # type: ignore[arg-type]
    lm.save(tmp_path / "adapters.safetensors", ArrayRecord(changed))  # type: ignore[arg-type]

    # Assert: the initial state is the adapters (B = 0: the base model's scores), and scores follow the arrays
    names = set(lm.initial.to_torch_state_dict())
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    assert sum(p.numel() for p in trainable_parameters(lm.student)) == sum(
        v.numel() for v in lm.initial.to_torch_state_dict().values())
    from fedkd.llm.evaluation import evaluate_lm
    from fedkd.llm.text import bbc_lm_texts, token_blocks

    plain = evaluate_lm(base, token_blocks(_WordTokenizer(), bbc_lm_texts(max_test=6).test, length=12))
    assert initial.num_examples == plain.tokens > 0 and math.isclose(initial.loss, plain.loss, rel_tol=1e-6)
    assert after.loss != initial.loss
    saved = load_file(str(tmp_path / "adapters.safetensors"))
    assert set(saved) == names and all(torch.equal(saved[k], changed[k]) for k in names)
