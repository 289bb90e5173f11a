"""Held-out perplexity, next-token accuracy and greedy generation of a causal LM."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fedkd.llm.devices import model_device
from fedkd.llm.text import TokenBlocks
from fedkd.losses.token import next_token_mask


@dataclass(frozen=True)
class LMScores:
    """Token-weighted scores over every real next-token pair of the held-out blocks."""

    perplexity: float
    accuracy: float
    loss: float
    tokens: int


def evaluate_lm(model: Any, blocks: TokenBlocks, *, batch_size: int = 8) -> LMScores:
    """Perplexity ``exp(mean CE)`` and top-1 next-token accuracy, both averaged over tokens, not sequences."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(blocks), batch_size):
            ids = blocks.input_ids[start : start + batch_size].to(device)
            mask = blocks.attention_mask[start : start + batch_size].to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            keep = next_token_mask(mask)
            targets = ids[:, 1:]
            ce = torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum")
            total_loss += float(ce)
            correct += int((logits[keep].argmax(dim=-1) == targets[keep]).sum())
            count += int(keep.sum())
    model.train(was_training)
    if count == 0:
        raise ValueError("the held-out blocks hold no next-token pair to score")
    mean = total_loss / count
    return LMScores(perplexity=math.exp(min(mean, 700.0)), accuracy=correct / count, loss=mean, tokens=count)


def greedy_generate(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 20) -> list[str]:
    """The greedy continuation (only the new text) of each prompt, one prompt at a time (no padding).

    Raises
    ------
    ValueError
        If ``max_new_tokens < 1``.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs = []
    with torch.no_grad():
        for prompt in prompts:
            encoded = {name: ids.to(device) for name, ids in tokenizer(prompt, return_tensors="pt").items()}
            generated = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id)
            outputs.append(tokenizer.decode(generated[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True))
    model.train(was_training)
    return outputs
