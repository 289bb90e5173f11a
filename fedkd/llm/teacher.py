"""A site's private teacher LM: the public base fine-tuned on the site's text, frozen and cached.

The teacher is the public base model fine-tuned on the site's own text (LoRA adapters trained with
next-token cross-entropy, then merged into the weights), so it knows what the shared student should learn
from this site and never leaves it. It is frozen: ``eval()``, no gradients, run under ``torch.no_grad()``.
It may sit on another device than the student (:mod:`fedkd.llm.devices`).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fedkd.io import atomic_path
from fedkd.llm.student import make_lora_student, trainable_parameters
from fedkd.llm.text import TokenBlocks
from fedkd.llm.training import sample_batches
from fedkd.losses.token import next_token_loss


def freeze(model: Any) -> Any:
    """``model`` in ``eval()`` mode with every parameter's gradient off."""
    model.eval()
    model.requires_grad_(False)
    return model


@dataclass(frozen=True)
class TeacherRecipe:
    """How a site fine-tunes its teacher from the base model."""

    steps: int
    learning_rate: float
    batch_size: int
    rank: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or not self.learning_rate > 0 or self.rank < 1:
            raise ValueError(f"teacher recipe needs steps >= 0, batch size >= 1, learning rate > 0 and rank >= 1, "
                             f"got {self}")


def _teacher_key(blocks: TokenBlocks, recipe: TeacherRecipe, base_name: str) -> str:
    digest = hashlib.sha256(f"{base_name}|{recipe}".encode())
    digest.update(blocks.input_ids.numpy().tobytes())
    digest.update(blocks.attention_mask.numpy().tobytes())
    return digest.hexdigest()[:24]


def fine_tune_teacher(base: Any, blocks: TokenBlocks, recipe: TeacherRecipe, *, device: torch.device) -> Any:
    """The base fine-tuned on ``blocks`` (LoRA on every attention and MLP projection, merged), frozen on ``device``."""

    lora = make_lora_student(base, rank=recipe.rank, alpha=2 * recipe.rank, layers=0, seed=recipe.seed,
                             targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    lora.to(device).train()
    optimizer = torch.optim.AdamW(trainable_parameters(lora), lr=recipe.learning_rate)
    for ids, mask in sample_batches(blocks, steps=recipe.steps, batch_size=recipe.batch_size, seed=recipe.seed):
        optimizer.zero_grad()
        logits = lora(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        next_token_loss(logits, ids.to(device), mask.to(device)).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return freeze(lora.merge_and_unload())


def load_site_teacher(base: Any, blocks: TokenBlocks, recipe: TeacherRecipe, *, device: torch.device,
                      cache_dir: Path, base_name: str) -> Any:
    """:func:`fine_tune_teacher`, cached in the site's cache as safetensors keyed by its data and recipe."""
    path = cache_dir / "llm" / "teachers" / f"{base_name}-{_teacher_key(blocks, recipe, base_name)}.safetensors"
    if path.is_file():
        teacher = copy.deepcopy(base)
        missing, unexpected = teacher.load_state_dict(load_file(str(path)), strict=False)
        if unexpected or set(missing) - {"lm_head.weight"}:
            raise ValueError(f"cached teacher {path} does not fit the base model: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}; delete it to fine-tune afresh")
        return freeze(teacher.to(device))
    teacher = fine_tune_teacher(base, blocks, recipe, device=device)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in teacher.state_dict().items()
             if name != "lm_head.weight" or not teacher.config.tie_word_embeddings}
    with atomic_path(path) as temporary:
        save_file(state, str(temporary))
    return teacher
