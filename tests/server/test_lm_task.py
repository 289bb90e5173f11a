"""The server's causal-LM pieces: adapter-only initial arrays, held-out scoring of sent adapters, and a tiny
federated run recording perplexity and greedy generations every round."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pytest
import torch
from flwr.app import Context, Message, RecordDict
from safetensors.torch import load_file

from fedkd.config import FedKDConfig
from tests.flower_task import inside_task
from tests.in_process_grid import InProcessGrid
from tests.optional_data import needs_llm

pytestmark = needs_llm


def test_global_lm_initial_adapters_only_and_evaluate_tracks_sent_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    import server.lm_task as lm_task
    from fedkd.llm.student import trainable_parameters
    from tests.llm.tiny import WordTokenizer, tiny_llama_model

    base = tiny_llama_model()
    monkeypatch.setattr(lm_task, "load_base_model", lambda cache: (base, WordTokenizer()))
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

    plain = evaluate_lm(base, token_blocks(WordTokenizer(), bbc_lm_texts(max_test=6).test, length=12))
    assert initial.num_examples == plain.tokens > 0 and math.isclose(initial.loss, plain.loss, rel_tol=1e-6)
    assert after.loss != initial.loss
    saved = load_file(str(tmp_path / "adapters.safetensors"))
    assert set(saved) == names and all(torch.equal(saved[k], changed[k]) for k in names)


class _Sites(InProcessGrid):
    """Five simulated LM sites answered in this process by the fedkd ClientApp (no SuperLink)."""

    def __init__(self, partitions: int = 5) -> None:
        super().__init__(range(1, partitions + 1))
        self.contexts = {node: Context(run_id=1, node_id=node, state=RecordDict(), run_config={},
                                       node_config={"partition-id": node - 1, "num-partitions": partitions})
                         for node in self.node_ids}

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        from clients.app import app

        return [app(message, self.contexts[message.metadata.dst_node_id]) for message in messages]


def test_run_causal_lm_tiny_run_records_perplexity_and_generations_every_round_from_round_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: server and five Dirichlet(0.5) sites on the tiny Llama, two rounds
    import clients.lm_round as lm_round
    import server.lm_task as lm_task
    from fedkd.llm.generations import GENERATION_PROMPTS, read_generations
    from fedkd.results import read_results
    from server.app import run_causal_lm
    from tests.llm.tiny import WordTokenizer, tiny_llama_model

    base = tiny_llama_model()
    monkeypatch.setattr(lm_task, "load_base_model", lambda cache: (base, WordTokenizer()))
    monkeypatch.setattr(lm_round, "base_model", lambda config, node: (base, WordTokenizer()))
    monkeypatch.setattr(lm_round, "_sites", {})
    monkeypatch.setattr(lm_round, "_students", {})
    config = FedKDConfig.from_mapping({
        "task": "causal-lm", "dataset": "bbc-news", "lm-partitioner": "dirichlet", "dirichlet-alpha": 0.5,
        "lm-site-articles": 8, "lm-test-articles": 6, "lm-sequence-length": 12, "lm-local-steps": 2,
        "lm-teacher-steps": 1, "batch-size": 2, "lm-learning-rate": 0.05, "lora-rank": 2, "lora-alpha": 4,
        "lm-generation-tokens": 4, "num-server-rounds": 2, "fraction-evaluate": 0.0,
        "cache-dir": str(tmp_path / "cache"), "student-device": "cpu", "teacher-device": "cpu"})

    # Execute
    with inside_task():
        run_causal_lm(_Sites(), config, tmp_path / "cache", tmp_path / "run")

    # Assert: a record with held-out perplexity and three 4-token continuations for rounds 0 (untrained), 1, 2
    rounds = read_results(tmp_path / "run")["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2] and all(r["global_perplexity"] > 1 for r in rounds)
    assert rounds[1]["clients_trained"] == 5
    generations = read_generations(tmp_path / "run")
    assert [(g.round, g.prompt) for g in generations] == [(r, p) for r in range(3) for p in GENERATION_PROMPTS]
    assert all(len(g.text.split()) == 4 for g in generations)


def test_global_lm_no_generation_tokens_no_generations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.lm_task as lm_task
    from tests.llm.tiny import WordTokenizer, tiny_llama_model

    monkeypatch.setattr(lm_task, "load_base_model", lambda cache: (tiny_llama_model(), WordTokenizer()))
    config = FedKDConfig.from_mapping({"task": "causal-lm", "dataset": "bbc-news", "lm-test-articles": 2,
                                       "lm-sequence-length": 8, "lm-generation-tokens": 0, "student-device": "cpu",
                                       "teacher-device": "cpu"})
    assert lm_task.global_lm(config, tmp_path).generate is None
