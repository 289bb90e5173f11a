"""A site's private teacher LM: the public base fine-tuned on the site's text, frozen and cached.

The teacher is the public base model fine-tuned on the site's own text (LoRA adapters trained with
next-token cross-entropy, then merged into the weights), so it knows what the shared student should learn
from this site and never leaves it. It is frozen: ``eval()``, no gradients, run under ``torch.no_grad()``.
It may sit on another device than the student (:mod:`fedkd.llm.devices`).

Early stopping (``lm-teacher-eval-every > 0``): the fine-tune holds out the last
``lm-teacher-holdout-fraction`` of the site's blocks, scores their perplexity before training and every
``eval_every`` steps, stops after ``patience`` scores without a new best, and keeps the adapters of the best
score (the base itself when no step helped). Too many steps at too high a rate made a worse teacher than
none (docs/llm.md); this keeps the fine-tune from overfitting a small site's text.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from fedkd.io import atomic_path
from fedkd.llm.evaluation import evaluate_lm
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
    eval_every: int = 0
    patience: int = 2
    holdout_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or not self.learning_rate > 0 or self.rank < 1:
            raise ValueError(f"teacher recipe needs steps >= 0, batch size >= 1, learning rate > 0 and rank >= 1, "
                             f"got {self}")
        if self.eval_every < 0 or self.patience < 1 or not 0 < self.holdout_fraction < 1:
            raise ValueError(f"teacher early stopping needs eval_every >= 0, patience >= 1 and a holdout fraction "
                             f"in (0, 1), got {self}")

    @property
    def early_stopping(self) -> bool:
        """Whether the fine-tune scores a held-out slice and keeps its best state."""
        return self.eval_every > 0


@dataclass(frozen=True)
class TeacherReport:
    """How an early-stopped fine-tune went: held-out perplexity at each scored step, and the step kept."""

    scored_steps: tuple[int, ...]
    perplexities: tuple[float, ...]
    best_step: int
    steps_run: int


def _recipe_text(recipe: TeacherRecipe) -> str:
    """The recipe as hashed into cache keys; without early stopping, as before the early-stopping fields existed."""
    if recipe.early_stopping:
        return str(recipe)
    return (f"TeacherRecipe(steps={recipe.steps}, learning_rate={recipe.learning_rate}, "
            f"batch_size={recipe.batch_size}, rank={recipe.rank}, seed={recipe.seed})")


def split_holdout(blocks: TokenBlocks, fraction: float) -> tuple[TokenBlocks, TokenBlocks]:
    """``(train, holdout)``: the last ``round(fraction * n)`` blocks (at least one) held out, the rest trained on.

    Raises
    ------
    ValueError
        If fewer than two blocks leave nothing to train on or nothing to hold out.
    """
    if len(blocks) < 2:
        raise ValueError(f"teacher early stopping holds out part of the site's blocks; {len(blocks)} is too few")
    held = min(max(1, round(fraction * len(blocks))), len(blocks) - 1)
    cut = len(blocks) - held
    return blocks.subset(torch.arange(cut)), blocks.subset(torch.arange(cut, len(blocks)))


def _teacher_key(blocks: TokenBlocks, recipe: TeacherRecipe, base_name: str) -> str:
    digest = hashlib.sha256(f"{base_name}|{_recipe_text(recipe)}".encode())
    digest.update(blocks.input_ids.numpy().tobytes())
    digest.update(blocks.attention_mask.numpy().tobytes())
    return digest.hexdigest()[:24]


def fine_tune_teacher(base: Any, blocks: TokenBlocks, recipe: TeacherRecipe, *,
                      device: torch.device) -> tuple[Any, TeacherReport | None]:
    """The base fine-tuned on ``blocks`` (LoRA on every attention and MLP projection, merged), frozen on ``device``.

    Returns the teacher and, under early stopping, the :class:`TeacherReport` of its fine-tune.
    """
    lora = make_lora_student(base, rank=recipe.rank, alpha=2 * recipe.rank, layers=0, seed=recipe.seed,
                             targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    lora.to(device)
    train, holdout = split_holdout(blocks, recipe.holdout_fraction) if recipe.early_stopping else (blocks, None)
    parameters = trainable_parameters(lora)
    optimizer = torch.optim.AdamW(parameters, lr=recipe.learning_rate)
    scored: list[tuple[int, float]] = []
    best: list[torch.Tensor] = []

    def score(step: int) -> bool:
        """Score the held-out slice at ``step``; keep the adapters if best; whether to go on."""
        nonlocal best
        perplexity = evaluate_lm(lora, holdout).perplexity  # type: ignore[arg-type]
        if not scored or perplexity < min(value for _, value in scored):
            best = [parameter.detach().clone() for parameter in parameters]
        scored.append((step, perplexity))
        best_index = min(range(len(scored)), key=lambda index: scored[index][1])
        return len(scored) - 1 - best_index < recipe.patience

    step = 0
    if holdout is None or score(0):
        lora.train()
        for ids, mask in sample_batches(train, steps=recipe.steps, batch_size=recipe.batch_size, seed=recipe.seed):
            optimizer.zero_grad()
            logits = lora(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            next_token_loss(logits, ids.to(device), mask.to(device)).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            step += 1
            if holdout is not None and (step % recipe.eval_every == 0 or step == recipe.steps) and not score(step):
                break
    report = None
    if holdout is not None:
        with torch.no_grad():
            for parameter, kept in zip(parameters, best, strict=True):
                parameter.copy_(kept)
        best_step, _ = min(scored, key=lambda pair: pair[1])
        report = TeacherReport(tuple(s for s, _ in scored), tuple(p for _, p in scored), best_step, step)
    return freeze(lora.merge_and_unload()), report


def teacher_path(blocks: TokenBlocks, recipe: TeacherRecipe, *, cache_dir: Path, base_name: str) -> Path:
    """Where :func:`load_site_teacher` caches the teacher of ``blocks`` and ``recipe``."""
    return cache_dir / "llm" / "teachers" / f"{base_name}-{_teacher_key(blocks, recipe, base_name)}.safetensors"


def load_site_teacher(base: Any, blocks: TokenBlocks, recipe: TeacherRecipe, *, device: torch.device,
                      cache_dir: Path, base_name: str) -> Any:
    """:func:`fine_tune_teacher`, cached in the site's cache as safetensors keyed by its data and recipe.

    Under early stopping the file's metadata holds the :class:`TeacherReport` (:func:`cached_teacher_report`).
    """
    path = teacher_path(blocks, recipe, cache_dir=cache_dir, base_name=base_name)
    if path.is_file():
        teacher = copy.deepcopy(base)
        missing, unexpected = teacher.load_state_dict(load_file(str(path)), strict=False)
        if unexpected or set(missing) - {"lm_head.weight"}:
            raise ValueError(f"cached teacher {path} does not fit the base model: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}; delete it to fine-tune afresh")
        return freeze(teacher.to(device))
    teacher, report = fine_tune_teacher(base, blocks, recipe, device=device)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in teacher.state_dict().items()
             if name != "lm_head.weight" or not teacher.config.tie_word_embeddings}
    metadata = {"early-stopping": json.dumps(asdict(report))} if report is not None else None
    with atomic_path(path) as temporary:
        save_file(state, str(temporary), metadata=metadata)
    return teacher


def cached_teacher_report(blocks: TokenBlocks, recipe: TeacherRecipe, *, cache_dir: Path,
                          base_name: str) -> TeacherReport | None:
    """The early-stopping report saved with a cached teacher (None without early stopping or cache)."""
    path = teacher_path(blocks, recipe, cache_dir=cache_dir, base_name=base_name)
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        stored = (handle.metadata() or {}).get("early-stopping")
    if stored is None:
        return None
    values = json.loads(stored)
    return TeacherReport(tuple(values["scored_steps"]), tuple(values["perplexities"]), int(values["best_step"]),
                         int(values["steps_run"]))
