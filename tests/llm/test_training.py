"""Local distillation of the LoRA student, perplexity and generation, on a tiny Llama."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from fedkd.llm.devices import teacher_logits
from fedkd.llm.evaluation import evaluate_lm, greedy_generate
from fedkd.llm.student import adapter_state, make_lora_student
from fedkd.llm.teacher import freeze
from fedkd.llm.text import TokenBlocks
from fedkd.llm.training import DistillSettings, distill, sample_batches
from fedkd.losses.token import token_kd_loss
from tests.optional_data import needs_llm

pytestmark = needs_llm


def _teacher(base: Any) -> Any:
    """A teacher that differs from the base: its attention projections perturbed."""
    import copy

    teacher = copy.deepcopy(base)
    with torch.no_grad():
        for name, parameter in teacher.named_parameters():
            if "proj" in name:
                parameter.add_(0.2 * torch.randn_like(parameter, generator=None))
    return freeze(teacher)


def _kd(student: Any, teacher: Any, blocks: TokenBlocks) -> float:
    with torch.no_grad():
        logits = student(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits
    target = teacher_logits(teacher, blocks.input_ids, blocks.attention_mask, device=torch.device("cpu"))
    return float(token_kd_loss(logits, target, blocks.input_ids, blocks.attention_mask, alpha=0.0, temperature=2.0))


def test_distill_two_steps_lower_kd_loss_on_batch(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Prepare
    torch.manual_seed(0)
    teacher = _teacher(tiny_llama)
    student = make_lora_student(tiny_llama, rank=4, alpha=8, targets=("q_proj", "v_proj", "o_proj"))
    before = _kd(student, teacher, blocks)
    frozen_base = {n: t.clone() for n, t in student.named_parameters() if not t.requires_grad}

    # Execute: the whole batch each step
    losses = distill(student, teacher, blocks, DistillSettings(steps=2, batch_size=len(blocks), learning_rate=0.02,
                                                               alpha=0.0, temperature=2.0))

    # Assert
    after = _kd(student, teacher, blocks)
    assert len(losses) == 2 and math.isclose(losses[0], before, rel_tol=1e-5)
    assert after < before
    assert all(torch.equal(t, frozen_base[n]) for n, t in student.named_parameters() if not t.requires_grad)


def test_distill_top_k_lowers_kd_loss_and_changes_only_adapters(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Prepare
    torch.manual_seed(1)
    teacher = _teacher(tiny_llama)
    student = make_lora_student(tiny_llama, rank=4, alpha=8, targets=("q_proj", "v_proj", "o_proj"))
    before_state, before = adapter_state(student), _kd(student, teacher, blocks)

    # Execute
    distill(student, teacher, blocks, DistillSettings(steps=3, batch_size=len(blocks), learning_rate=0.02,
                                                      alpha=0.0, temperature=2.0, top_k=8))

    # Assert
    assert _kd(student, teacher, blocks) < before
    assert any(not torch.equal(t, before_state[n]) for n, t in adapter_state(student).items())


def test_distill_without_teacher_and_alpha_below_one_raises(tiny_llama: Any, blocks: TokenBlocks) -> None:
    student = make_lora_student(tiny_llama, rank=2, alpha=4)
    with pytest.raises(ValueError, match="needs a teacher"):
        distill(student, None, blocks, DistillSettings(steps=1, batch_size=2, learning_rate=0.01, alpha=0.5,
                                                       temperature=1.0))


def test_sample_batches_cover_every_block_once_per_pass(blocks: TokenBlocks) -> None:
    seen = torch.cat([ids for ids, _ in sample_batches(blocks, steps=4, batch_size=2, seed=0)])
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, blocks.input_ids.tolist()))


def test_evaluate_lm_matches_token_weighted_cross_entropy(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Execute
    scores = evaluate_lm(tiny_llama, blocks, batch_size=3)

    # Assert: recomputed over all real next-token pairs at once
    with torch.no_grad():
        logits = tiny_llama(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits[:, :-1]
    keep = (blocks.attention_mask[:, :-1] * blocks.attention_mask[:, 1:]).bool()
    targets = blocks.input_ids[:, 1:][keep]
    ce = torch.nn.functional.cross_entropy(logits[keep], targets)
    assert scores.tokens == int(keep.sum()) == 8 * 11 - 3 - 6
    assert math.isclose(scores.perplexity, math.exp(float(ce)), rel_tol=1e-5)
    assert math.isclose(scores.accuracy, float((logits[keep].argmax(-1) == targets).float().mean()), rel_tol=1e-6)


class _CharTokenizer:
    """Characters as tokens (3 + ord % 58), enough for greedy generation through ``generate``."""

    pad_token_id = 0

    def __call__(self, text: str, return_tensors: str) -> Any:
        from transformers import BatchEncoding

        ids = torch.tensor([[3 + ord(c) % 58 for c in text]])
        return BatchEncoding({"input_ids": ids, "attention_mask": torch.ones_like(ids)})

    def decode(self, ids: torch.Tensor, skip_special_tokens: bool) -> str:
        return ",".join(str(int(i)) for i in ids)


def test_greedy_generate_fixed_prompts_deterministic_and_new_tokens_only(tiny_llama: Any) -> None:
    first = greedy_generate(tiny_llama, _CharTokenizer(), ["abc", "hello"], max_new_tokens=4)
    second = greedy_generate(tiny_llama, _CharTokenizer(), ["abc", "hello"], max_new_tokens=4)
    assert first == second
    assert [len(text.split(",")) for text in first] == [4, 4]
