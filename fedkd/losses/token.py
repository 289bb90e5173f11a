"""Token-level distillation of causal language models, one loss value per sequence.

At every position ``t`` where both token ``t`` and token ``t + 1`` are real (attention mask 1), the
student's logits predict token ``t + 1``; the loss there is

``alpha * CE(s_t, x_{t+1}) + (1 - alpha) * T^2 * KL(softmax(u_t / T) || softmax(s_t / T))``

with ``u`` the teacher's logits (Hinton et al., 2015, applied per token as in word-level KD of
Kim and Rush, "Sequence-Level Knowledge Distillation", EMNLP 2016, Eq. 4). A sequence's loss is the
mean over its counted positions (0 for a sequence with none), so ``reduction="none"`` returns one value
per sequence and per-sample clipping under DP-SGD clips whole sequences.

Storing a teacher's logits over a 49k-token vocabulary costs ~200 kB per token; :func:`top_k_teacher`
keeps only the ``k`` most probable tokens at a fixed temperature plus ONE tail bucket holding the
remaining probability mass, and :func:`top_k_token_kd_loss` computes the KL between the two
distributions coarsened to those ``k + 1`` buckets. That KL is exact for the coarsened distributions,
is never larger than the full KL (coarsening cannot increase a KL divergence), and equals it when
``k`` is the whole vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fedkd.losses.checks import Reduction, check_alpha, check_temperature, reduce_loss


def _check_shapes(student_logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if student_logits.dim() != 3:
        raise ValueError(f"student logits must be (batch, length, vocabulary), got {tuple(student_logits.shape)}")
    if input_ids.shape != student_logits.shape[:2] or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"input ids {tuple(input_ids.shape)} and attention mask {tuple(attention_mask.shape)} must both be "
            f"(batch, length) = {tuple(student_logits.shape[:2])}"
        )


def next_token_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``(batch, length - 1)`` booleans: position ``t`` counts when tokens ``t`` and ``t + 1`` are both real."""
    real = attention_mask.bool()
    return real[:, :-1] & real[:, 1:]


def per_sequence_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``(batch, positions)`` over each row's ``mask``ed positions; 0 where a row has none."""
    weights = mask.to(values.dtype)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _next_token_ce(student_logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``(batch, length - 1)`` cross-entropy of each position's logits against the next token."""
    logits = student_logits[:, :-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1), reduction="none").view(
        logits.shape[:2]
    )


def next_token_loss(
    student_logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Next-token cross-entropy, the mean over each sequence's counted positions (:func:`token_kd_loss` at
    ``alpha = 1``, without a teacher)."""
    _check_shapes(student_logits, input_ids, attention_mask)
    ce = _next_token_ce(student_logits, input_ids)
    return reduce_loss(per_sequence_mean(ce, next_token_mask(attention_mask)), reduction)


def _combine(
    ce: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, alpha: float, temperature: float, reduction: Reduction
) -> torch.Tensor:
    per_position = alpha * ce + (1.0 - alpha) * temperature**2 * kl
    return reduce_loss(per_sequence_mean(per_position, mask), reduction)


def token_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Per-token soft-target distillation with next-token cross-entropy, averaged over each sequence.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor
        ``(batch, length, vocabulary)``; the logits at ``t`` predict token ``t + 1``. No gradient flows
        into ``teacher_logits``.
    input_ids : torch.Tensor
        ``(batch, length)`` integer tokens (the targets, shifted by one inside).
    attention_mask : torch.Tensor
        ``(batch, length)``, 1 for real tokens and 0 for padding.
    alpha : float
        Weight in ``[0, 1]`` of the cross-entropy; ``1 - alpha`` weighs the ``T^2``-scaled KL.
    temperature : float
        Softening temperature ``T > 0``.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns one value per sequence.

    Raises
    ------
    ValueError
        For a temperature ``<= 0``, ``alpha`` outside ``[0, 1]`` or mismatched shapes.
    """
    check_temperature(temperature)
    check_alpha(alpha)
    _check_shapes(student_logits, input_ids, attention_mask)
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"teacher logits {tuple(teacher_logits.shape)} and student logits {tuple(student_logits.shape)} "
            "differ in shape (do the two models share a vocabulary?)"
        )
    mask = next_token_mask(attention_mask)
    student_log_p = F.log_softmax(student_logits[:, :-1] / temperature, dim=-1)
    teacher_log_p = F.log_softmax(teacher_logits[:, :-1].detach().to(student_logits.dtype) / temperature, dim=-1)
    kl = (teacher_log_p.exp() * (teacher_log_p - student_log_p)).sum(dim=-1)
    return _combine(_next_token_ce(student_logits, input_ids), kl, mask, alpha, temperature, reduction)


@dataclass(frozen=True)
class TopKTeacher:
    """A teacher's next-token distributions cut to their ``k`` most probable tokens plus one tail bucket.

    Attributes
    ----------
    log_probs : torch.Tensor
        ``(batch, length, k)`` log-probabilities at ``temperature`` of the top-``k`` tokens, normalised over the
        FULL vocabulary (so their sum is below 1 and the rest is the tail's mass).
    indices : torch.Tensor
        ``(batch, length, k)`` int64 token ids of those tokens.
    temperature : float
        The temperature the probabilities were computed at; the loss refuses another one.
    """

    log_probs: torch.Tensor
    indices: torch.Tensor
    temperature: float

    def to(self, device: torch.device) -> TopKTeacher:
        """The same cache on ``device``."""
        return TopKTeacher(self.log_probs.to(device), self.indices.to(device), self.temperature)


def top_k_teacher(teacher_logits: torch.Tensor, *, k: int, temperature: float) -> TopKTeacher:
    """Keep each position's ``k`` most probable teacher tokens at ``temperature`` (the rest becomes one bucket).

    Raises
    ------
    ValueError
        If ``k`` is not in ``[1, vocabulary]`` or the temperature is ``<= 0``.
    """
    check_temperature(temperature)
    vocabulary = teacher_logits.shape[-1]
    if not 1 <= k <= vocabulary:
        raise ValueError(f"kd-top-k must be in [1, {vocabulary}] (the vocabulary), got {k}")
    logits = teacher_logits.detach()
    log_p = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature, dim=-1)
    values, indices = log_p.topk(k, dim=-1)
    return TopKTeacher(values, indices.long(), float(temperature))


def _tail_kl(teacher_kept: torch.Tensor, student_log_p: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``q_t * (log q_t - log q_s)`` of the tail bucket, ``q`` being each model's mass outside ``indices``."""
    if indices.shape[-1] == student_log_p.shape[-1]:  # k is the whole vocabulary: no tail
        return torch.zeros(student_log_p.shape[:-1], dtype=student_log_p.dtype, device=student_log_p.device)
    teacher_mass = -torch.expm1(teacher_kept.logsumexp(dim=-1).clamp(max=0.0))
    outside = torch.ones_like(student_log_p, dtype=torch.bool).scatter(-1, indices, False)
    student_tail = student_log_p.masked_fill(~outside, float("-inf")).logsumexp(dim=-1)
    return torch.xlogy(teacher_mass, teacher_mass) - teacher_mass * student_tail


def top_k_token_kd_loss(
    student_logits: torch.Tensor,
    teacher: TopKTeacher,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """:func:`token_kd_loss` against a :class:`TopKTeacher`: the KL over the ``k`` kept tokens and the tail bucket.

    The student's tail probability is its mass outside the teacher's top-``k`` tokens. Arguments and
    errors as in :func:`token_kd_loss`; ``temperature`` must equal the cache's.
    """
    check_temperature(temperature)
    check_alpha(alpha)
    _check_shapes(student_logits, input_ids, attention_mask)
    if temperature != teacher.temperature:
        raise ValueError(f"the top-k teacher cache was made at temperature {teacher.temperature}, not {temperature}")
    if teacher.log_probs.shape[:2] != student_logits.shape[:2] or teacher.indices.shape != teacher.log_probs.shape:
        raise ValueError(
            f"top-k teacher {tuple(teacher.log_probs.shape)} does not match student logits "
            f"{tuple(student_logits.shape)}"
        )
    student_log_p = F.log_softmax(student_logits[:, :-1] / temperature, dim=-1)
    indices = teacher.indices[:, :-1]
    teacher_kept = teacher.log_probs[:, :-1].to(student_logits.dtype)
    kl_kept = (teacher_kept.exp() * (teacher_kept - student_log_p.gather(-1, indices))).sum(dim=-1)
    kl = kl_kept + _tail_kl(teacher_kept, student_log_p, indices)
    return _combine(_next_token_ce(student_logits, input_ids), kl, next_token_mask(attention_mask), alpha,
                    temperature, reduction)
