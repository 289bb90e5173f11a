"""DP-SGD on the LoRA student (Abadi et al., 2016): Opacus' per-sample gradients of the adapters only.

A record is one sequence: one token block, which is one document (an article's first
``lm-sequence-length`` tokens). Each step samples every block independently with probability
``q = batch_size / n`` (Poisson sampling), takes the per-sequence loss (the token-level KD loss, or
next-token CE, averaged over that sequence's real next-token positions, ``reduction="none"``), clips each
sequence's gradient of the adapters to norm ``C``, sums, adds Gaussian noise of standard deviation
``sigma * C`` and divides by the expected batch size; AdamW then steps on that noisy gradient
(post-processing). The guarantee is per document: it says nothing about a person who appears in many
documents.

Only the LoRA matrices (``nn.Linear`` inside peft's LoRA layers) need gradients; the frozen base (embedding,
RMSNorm, attention, the base linears) needs no grad sampler, so Opacus' validator accepts the model as it
is. The teacher stays outside the module handed to Opacus. No Opacus wrapper remains on the student
afterwards.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer

from fedkd.llm.devices import model_device, teacher_logits
from fedkd.llm.student import trainable_parameters
from fedkd.llm.text import TokenBlocks
from fedkd.llm.training import DistillSettings
from fedkd.losses.token import next_token_loss, token_kd_loss, top_k_teacher, top_k_token_kd_loss
from fedkd.privacy.dp_settings import DPSettings
from fedkd.privacy.ledger import sample_rate
from fedkd.privacy.opacus_logging import drop_opacus_root_handler

drop_opacus_root_handler()

# Ghost clipping runs its own second backward over a reweighted loss; it is not wired for the LM student.
LM_GRAD_SAMPLE_MODES = ("hooks", "functorch")


def sequence_losses(student_logits: torch.Tensor, teacher: Any | None, ids: torch.Tensor, mask: torch.Tensor,
                    settings: DistillSettings) -> torch.Tensor:
    """One loss per sequence: next-token CE (``alpha == 1`` or no teacher), token KD, or top-k token KD."""
    if teacher is None or settings.alpha == 1.0:
        return next_token_loss(student_logits, ids, mask, reduction="none")
    soft = teacher_logits(teacher, ids, mask, device=student_logits.device)
    if settings.top_k:
        cut = top_k_teacher(soft, k=settings.top_k, temperature=settings.temperature)
        return top_k_token_kd_loss(student_logits, cut, ids, mask, alpha=settings.alpha,
                                   temperature=settings.temperature, reduction="none")
    return token_kd_loss(student_logits, soft, ids, mask, alpha=settings.alpha, temperature=settings.temperature,
                         reduction="none")


def dp_distill_lm(student: Any, teacher: Any | None, blocks: TokenBlocks, settings: DistillSettings,
                  dp: DPSettings) -> tuple[list[float], tuple[float, float, int]]:
    """Train the student's adapters with DP-SGD for ``settings.steps`` Poisson-sampled steps.

    An empty batch still takes its step (a zero clipped sum plus noise), as the analysis assumes.

    Returns
    -------
    tuple of (list of float, (noise_multiplier, sample_rate, steps))
        The mean per-sequence loss of each non-empty step, and the history entry to record in the ledger.

    Raises
    ------
    ValueError
        If ``kd-alpha < 1`` without a teacher, or the grad-sample mode is not one the LM student supports.
    """
    if teacher is None and settings.alpha < 1.0:
        raise ValueError(f"kd-alpha {settings.alpha} < 1 needs a teacher")
    if dp.grad_sample_mode not in LM_GRAD_SAMPLE_MODES:
        raise ValueError(f"dp-grad-sample-mode {dp.grad_sample_mode!r} is not offered with task causal-lm; "
                         f"use one of {', '.join(LM_GRAD_SAMPLE_MODES)}")
    device = model_device(student)
    q = sample_rate(settings.batch_size, len(blocks))
    parameters = trainable_parameters(student)
    noise = torch.Generator(device=device).manual_seed(settings.seed + 1)
    optimizer = DPOptimizer(torch.optim.AdamW(parameters, lr=settings.learning_rate),
                            noise_multiplier=dp.noise_multiplier, max_grad_norm=dp.max_grad_norm,
                            expected_batch_size=settings.batch_size, loss_reduction="mean", generator=noise)
    wrapped = GradSampleModule(student, batch_first=True, loss_reduction="mean", strict=True,
                               force_functorch=dp.grad_sample_mode == "functorch")
    sampler = torch.Generator().manual_seed(settings.seed)
    losses: list[float] = []
    student.train()
    try:
        with warnings.catch_warnings():
            # Opacus' hooks fire on the first adapted layer although inputs need no gradient: harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for _ in range(settings.steps):
                chosen = (torch.rand(len(blocks), generator=sampler) < q).nonzero().squeeze(1)
                optimizer.zero_grad(set_to_none=True)
                if len(chosen) == 0:
                    for parameter in parameters:
                        parameter.grad_sample = torch.zeros((0, *parameter.shape), device=device)  # type: ignore[attr-defined]
                else:
                    ids, mask = blocks.input_ids[chosen].to(device), blocks.attention_mask[chosen].to(device)
                    logits = wrapped(input_ids=ids, attention_mask=mask).logits
                    per_sequence = sequence_losses(logits, teacher, ids, mask, settings)
                    (per_sequence.sum() / len(chosen)).backward()  # type: ignore[no-untyped-call]
                    losses.append(float(per_sequence.detach().mean()))
                optimizer.step()
    finally:
        wrapped._close()
        student.eval()
    return losses, (dp.noise_multiplier, q, settings.steps)
