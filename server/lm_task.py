"""The server's side of the causal-LM task: the initial adapters and held-out perplexity every round.

The server builds the same LoRA student as every site (same base model, same seed), so the global state is
the adapter tensors alone. Each round it loads the aggregated adapters and scores the student on the
held-out BBC News articles (every topic): the recorder's ``global_loss`` is the token-mean cross-entropy,
``global_accuracy`` the next-token accuracy, and ``global_perplexity`` their ``exp``. With
``lm-generation-tokens > 0`` it also continues the fixed prompts of :mod:`fedkd.llm.generations` greedily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord
from safetensors.torch import save_file

from fedkd.config import FedKDConfig
from fedkd.evaluation import EvalStats
from fedkd.io import atomic_path
from fedkd.llm.base_model import load_base_model
from fedkd.llm.devices import plan_devices
from fedkd.llm.evaluation import evaluate_lm
from fedkd.llm.generations import Generation, round_generations
from fedkd.llm.student import adapter_state, load_adapter_state, make_lora_student
from fedkd.llm.text import bbc_lm_texts, token_blocks


@dataclass
class GlobalLM:
    """The server's student, its held-out evaluation and its greedy generations (None: turned off)."""

    student: Any
    initial: ArrayRecord
    evaluate: Callable[[ArrayRecord], EvalStats]
    generate: Callable[[int, ArrayRecord], list[Generation]] | None = None

    def save(self, path: Path, arrays: ArrayRecord) -> None:
        """Write the adapters of ``arrays`` (safetensors, atomically)."""
        load_adapter_state(self.student, arrays.to_torch_state_dict())
        with atomic_path(path) as temporary:
            save_file({k: v.contiguous() for k, v in adapter_state(self.student).items()}, str(temporary))


def global_lm(config: FedKDConfig, cache: Path) -> GlobalLM:
    """The initial adapters, the per-round held-out evaluation and generations of ``config``'s LoRA student."""
    base, tokenizer = load_base_model(cache)
    targets = tuple(name.strip() for name in config.lora_targets.split(","))
    student = make_lora_student(base, rank=config.lora_rank, alpha=config.lora_alpha, targets=targets,
                                layers=config.student_layers, seed=config.seed)
    student.to(plan_devices(config.student_device, config.teacher_device).student)
    del base
    test = token_blocks(tokenizer, bbc_lm_texts(max_test=config.lm_test_articles).test,
                        length=config.lm_sequence_length)

    def evaluate(arrays: ArrayRecord) -> EvalStats:
        load_adapter_state(student, arrays.to_torch_state_dict())
        scores = evaluate_lm(student, test)
        return EvalStats(loss=scores.loss, accuracy=scores.accuracy, num_examples=scores.tokens)

    def generate(server_round: int, arrays: ArrayRecord) -> list[Generation]:
        load_adapter_state(student, arrays.to_torch_state_dict())
        return round_generations(student, tokenizer, server_round, max_new_tokens=config.lm_generation_tokens)

    return GlobalLM(student, ArrayRecord(adapter_state(student)), evaluate,  # type: ignore[arg-type]
                    generate if config.lm_generation_tokens else None)
