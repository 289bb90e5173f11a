"""A site's private encoder teacher: MiniLM (every layer) + LoRA + head, fine-tuned on the site's articles.

Fine-tuned with cross-entropy at first use and cached in the site's cache as the trained tensors only
(adapters and head, a few hundred kilobytes: the encoder is public), keyed by a SHA-256 of the site's
token ids, labels, the recipe and the base model's name. The teacher is frozen (``eval()``, no gradients).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from fedkd.encoder.model import EncoderClassifier, load_shared_state, make_encoder_classifier, shared_state
from fedkd.encoder.text import EncodedTexts
from fedkd.encoder.training import StepSettings, train_steps
from fedkd.io import atomic_path


@dataclass(frozen=True)
class EncoderTeacherRecipe:
    """How a site fine-tunes its teacher: AdamW steps of CE on adapters (rank, alpha) and head."""

    steps: int
    learning_rate: float
    batch_size: int
    rank: int = 8
    alpha: int = 16
    seed: int = 0


def teacher_path(data: EncodedTexts, recipe: EncoderTeacherRecipe, *, num_classes: int, cache_dir: Path,
                 base_name: str) -> Path:
    """Where :func:`load_encoder_teacher` caches the teacher of ``data`` and ``recipe``."""
    digest = hashlib.sha256(f"{base_name}|{recipe}|{num_classes}".encode())
    for tensor in (data.input_ids, data.attention_mask, data.labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    return cache_dir / "encoder" / "teachers" / f"{base_name}-{digest.hexdigest()[:24]}.safetensors"


def _freeze(model: EncoderClassifier) -> EncoderClassifier:
    model.eval()
    model.requires_grad_(False)
    return model


def load_encoder_teacher(base: Any, data: EncodedTexts, recipe: EncoderTeacherRecipe, *, num_classes: int,
                         cache_dir: Path, base_name: str) -> tuple[EncoderClassifier, bool]:
    """The site's frozen teacher and whether it came from the cache (else it was fine-tuned now and cached).

    Raises
    ------
    ValueError
        If a cached file does not fit the classifier (its message names the file to delete).
    """
    model = make_encoder_classifier(base, num_classes=num_classes, layers=0, rank=recipe.rank, alpha=recipe.alpha,
                                    seed=recipe.seed)
    path = teacher_path(data, recipe, num_classes=num_classes, cache_dir=cache_dir, base_name=base_name)
    if path.is_file():
        try:
            load_shared_state(model, load_file(str(path)))
        except ValueError as error:
            raise ValueError(f"cached teacher {path} does not fit: {error}; delete it to fine-tune afresh") from error
        return _freeze(model), True
    train_steps(model, data, StepSettings(recipe.steps, recipe.batch_size, recipe.learning_rate, seed=recipe.seed))
    state = {name: tensor.contiguous() for name, tensor in shared_state(model).items()}
    with atomic_path(path) as temporary:
        save_file(state, str(temporary))
    return _freeze(model), False

