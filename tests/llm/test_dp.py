"""The per-sequence token KD loss under Opacus: per-sample gradients of the LoRA adapters are per sequence."""

from __future__ import annotations

from typing import Any

import torch

from fedkd.llm.student import make_lora_student, trainable_parameters
from fedkd.llm.text import TokenBlocks
from fedkd.losses.token import token_kd_loss
from tests.optional_data import needs_llm

pytestmark = needs_llm


def test_token_kd_loss_opacus_per_sample_gradients_equal_each_sequence_alone(
    tiny_llama: Any, blocks: TokenBlocks
) -> None:
    # Prepare: a teacher's logits (the base itself, perturbed) and a LoRA student wrapped by Opacus
    from opacus import GradSampleModule

    with torch.no_grad():
        teacher = tiny_llama(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits * 1.5
    student = make_lora_student(tiny_llama, rank=2, alpha=4, seed=0)
    with torch.no_grad():
        for parameter in trainable_parameters(student):
            parameter.add_(0.05 * torch.randn_like(parameter))
    wrapped = GradSampleModule(student, batch_first=True, loss_reduction="sum", strict=False, force_functorch=False)

    # Execute: one backward of the summed per-sequence losses
    logits = wrapped(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits
    token_kd_loss(logits, teacher, blocks.input_ids, blocks.attention_mask, alpha=0.5, temperature=2.0,
                  reduction="none").sum().backward()
    per_sample = {id(p): p.grad_sample.clone() for p in trainable_parameters(student)}

    # Assert: sample i's gradient equals the gradient of sequence i's loss computed on its own
    for index in (0, 2, 5):  # 2 and 5 are padded
        student.zero_grad()
        for parameter in trainable_parameters(student):
            parameter.grad_sample = None
        one = slice(index, index + 1)
        logits = student(input_ids=blocks.input_ids[one], attention_mask=blocks.attention_mask[one]).logits
        token_kd_loss(logits, teacher[one], blocks.input_ids[one], blocks.attention_mask[one], alpha=0.5,
                      temperature=2.0, reduction="sum").backward()
        for parameter in trainable_parameters(student):
            torch.testing.assert_close(per_sample[id(parameter)][index], parameter.grad, rtol=1e-4, atol=1e-6)
