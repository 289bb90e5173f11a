"""DP-SGD of the LoRA student: clipping per sequence, noise off equals the plain gradient, empty batches step."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from fedkd.llm.dp_training import dp_distill_lm, sequence_losses
from fedkd.llm.student import adapter_state, make_lora_student, trainable_parameters
from fedkd.llm.text import TokenBlocks
from fedkd.llm.training import DistillSettings
from fedkd.privacy.dp_settings import DPSettings
from tests.optional_data import needs_llm

pytestmark = needs_llm


def _settings(seed: int, **overrides: Any) -> DistillSettings:
    values: dict[str, Any] = {"steps": 1, "batch_size": 4, "learning_rate": 0.01, "alpha": 0.5, "temperature": 2.0,
                              "seed": seed}
    return DistillSettings(**(values | overrides))


def _chosen(blocks: TokenBlocks, settings: DistillSettings) -> torch.Tensor:
    """The first Poisson batch dp_distill_lm draws (the same seeded generator)."""
    q = settings.batch_size / len(blocks)
    return (torch.rand(len(blocks), generator=torch.Generator().manual_seed(settings.seed)) < q).nonzero().squeeze(1)


def _seed_with_batch(blocks: TokenBlocks, settings: DistillSettings, *, empty: bool) -> int:
    """The first seed whose first Poisson batch (at ``settings``' batch size) is empty, or not."""
    size = settings.batch_size
    return next(seed for seed in range(200) if (len(_chosen(blocks, _settings(seed, batch_size=size))) == 0) == empty)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_dp_distill_lm_noise_off_huge_clip_gradient_equals_plain_mean_gradient(
    tiny_llama: Any, blocks: TokenBlocks, alpha: float
) -> None:
    # Prepare: a teacher (the base, sharpened) and two identical students
    teacher = copy.deepcopy(tiny_llama)
    with torch.no_grad():
        teacher.lm_head.weight.mul_(1.5)
    seed = _seed_with_batch(blocks, _settings(0), empty=False)
    settings = _settings(seed, alpha=alpha)
    private = make_lora_student(tiny_llama, rank=2, alpha=4, seed=0)
    with torch.no_grad():
        for parameter in trainable_parameters(private):
            parameter.add_(0.05 * torch.randn_like(parameter))
    plain = copy.deepcopy(private)

    # Execute: one DP step without noise and with a clip no gradient reaches; the same loss by plain autograd
    dp_distill_lm(private, teacher if alpha < 1 else None, blocks, settings, DPSettings(0.0, 1e6))
    chosen = _chosen(blocks, settings)
    ids, mask = blocks.input_ids[chosen], blocks.attention_mask[chosen]
    losses = sequence_losses(plain(input_ids=ids, attention_mask=mask).logits, teacher if alpha < 1 else None, ids,
                             mask, settings)
    (losses.sum() / settings.batch_size).backward()  # DP-SGD divides by the expected batch size

    # Assert
    for mine, reference in zip(trainable_parameters(private), trainable_parameters(plain), strict=True):
        assert mine.grad is not None and reference.grad is not None
        torch.testing.assert_close(mine.grad, reference.grad, rtol=1e-4, atol=1e-7)


def test_dp_distill_lm_small_clip_bounds_each_sequence(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Prepare
    seed = _seed_with_batch(blocks, _settings(0), empty=False)
    settings = _settings(seed, alpha=1.0)
    student = make_lora_student(tiny_llama, rank=2, alpha=4, seed=0)
    clip = 1e-4

    # Execute
    dp_distill_lm(student, None, blocks, settings, DPSettings(0.0, clip))

    # Assert: the summed gradient is at most (sequences in the batch) * C / (expected batch size), and nonzero
    norm = torch.cat([p.grad.flatten() for p in trainable_parameters(student) if p.grad is not None]).norm()
    assert 0 < float(norm) <= len(_chosen(blocks, settings)) * clip / settings.batch_size * (1 + 1e-4)


def test_dp_distill_lm_empty_batch_steps_with_noise_only(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Prepare: a seed whose first Poisson batch is empty (q = 1/8)
    seed = _seed_with_batch(blocks, _settings(0, batch_size=1), empty=True)
    settings = _settings(seed, batch_size=1, alpha=1.0)
    student = make_lora_student(tiny_llama, rank=2, alpha=4, seed=0)
    before = adapter_state(student)

    # Execute
    losses, entry = dp_distill_lm(student, None, blocks, settings, DPSettings(1.0, 1.0))

    # Assert: no loss was computed, the noise moved the adapters, the entry records the step
    assert _chosen(blocks, _settings(seed, batch_size=1)).numel() == 0
    assert losses == [] and entry == (1.0, 1 / 8, 1)
    assert any(not torch.equal(before[k], v) for k, v in adapter_state(student).items())
    assert not any(hasattr(p, "grad_sample") and p.grad_sample is not None for p in trainable_parameters(student))


def test_dp_distill_lm_ghost_mode_raises_naming_it(tiny_llama: Any, blocks: TokenBlocks) -> None:
    student = make_lora_student(tiny_llama, rank=2, alpha=4, seed=0)
    with pytest.raises(ValueError, match="ghost"):
        dp_distill_lm(student, None, blocks, _settings(0, alpha=1.0), DPSettings(1.0, 1.0, "ghost"))
