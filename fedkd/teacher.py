"""A site's private teacher: obtain it, freeze it, and cache its logits.

A teacher is either trained on the site's own train split at first use (cached on
the site's disk under a key made of everything that determines it, so later runs
reuse it) or loaded from a safetensors checkpoint. Its logits on the site's data
are computed once and cached beside it, so distillation never runs the teacher.
The teacher always sees the data's teacher view (:meth:`ArrayDataset.teacher_view`),
which is the student's inputs unless the dataset carries other teacher inputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from fedkd.checkpoint import CheckpointError, load_model, save_model
from fedkd.data.site import SiteData
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.evaluation import predict_logits
from fedkd.finite import first_non_finite
from fedkd.io import atomic_path, write_atomic
from fedkd.limits import DEFAULT_MAX_CHECKPOINT_BYTES
from fedkd.models import build_model

logger = logging.getLogger(__name__)

# Bump when the teacher training code changes what a recipe produces.
TRAINING_VERSION = 1


@dataclass(frozen=True)
class TeacherRecipe:
    """Everything that determines a teacher trained at the site."""

    architecture: str
    epochs: int
    learning_rate: float
    momentum: float
    batch_size: int
    seed: int
    dp_noise_multiplier: float = 0.0
    dp_max_grad_norm: float = 1.0
    """Train with DP-SGD at this noise multiplier; 0 trains without DP."""


@dataclass(frozen=True)
class Teacher:
    """A frozen teacher and its cached logits.

    Attributes
    ----------
    model : torch.nn.Module
        In ``eval()`` mode with ``requires_grad`` off.
    architecture : str
        Registry name.
    source : str
        ``"trained"`` (on the site's split), ``"checkpoint"``, or ``"fine-tuned"`` (a checkpoint
        fine-tuned on the site's split).
    key : str
        Cache key: identical keys mean identical teachers on identical data.
    train_logits, test_logits : torch.Tensor
        Logits on the site's train and local test splits, on the CPU.
    """

    model: nn.Module
    architecture: str
    source: str
    key: str
    train_logits: torch.Tensor
    test_logits: torch.Tensor
    dp_history: tuple[tuple[float, float, int], ...] = ()
    """DP-SGD ``(sigma, q, steps)`` of the teacher's training on this site; empty if none."""


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode and stop gradients into its parameters."""
    model.eval()
    model.requires_grad_(False)
    return model


def recipe_key(recipe: TeacherRecipe, site: SiteData) -> str:
    """Cache key for a trained teacher: recipe, training code version and data."""
    payload = {
        "recipe": asdict(recipe),
        "version": TRAINING_VERSION,
        "train": site.train.fingerprint(),
        "num_classes": site.num_classes,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def checkpoint_key(path: Path, site: SiteData) -> str:
    """Cache key for a checkpoint teacher's logits: file content and data."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    digest.update(site.train.fingerprint().encode())
    digest.update(site.test.fingerprint().encode())
    return "ckpt-" + digest.hexdigest()[:32]


def train_teacher(
    recipe: TeacherRecipe, site: SiteData, *, device: torch.device
) -> tuple[nn.Module, tuple[tuple[float, float, int], ...]]:
    """Train a fresh teacher with cross-entropy on the teacher view of the site's train split.

    Returns the teacher and its DP-SGD history (empty without DP).
    """
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.architecture, input_shape=site.teacher_input_shape, num_classes=site.num_classes)
    train = site.train.teacher_view()
    settings = OptimizerSettings(recipe.learning_rate, recipe.momentum, recipe.batch_size, recipe.epochs)
    if recipe.dp_noise_multiplier > 0:
        from fedkd.privacy.dp_settings import DPSettings
        from fedkd.privacy.dp_sgd import dp_distill, make_private_module

        model = make_private_module(model)
        dp = DPSettings(recipe.dp_noise_multiplier, recipe.dp_max_grad_norm)
        _, entry = dp_distill(model, train, None, settings=settings, dp=dp, objective=CE_ONLY,
                              device=device, seed=recipe.seed)
        return model, (entry,) if entry[2] > 0 else ()
    distill(model, train, None, settings=settings, objective=CE_ONLY, device=device, seed=recipe.seed)
    return model, ()


def _finetune(model: nn.Module, recipe: TeacherRecipe, site: SiteData, device: torch.device) -> None:
    """Fine-tune ``model`` in place with CE on the teacher view of the site's train split."""
    settings = OptimizerSettings(recipe.learning_rate, recipe.momentum, recipe.batch_size, recipe.epochs)
    distill(model, site.train.teacher_view(), None, settings=settings, objective=CE_ONLY, device=device,
            seed=recipe.seed)


def _save_logits(path: Path, train: torch.Tensor, test: torch.Tensor) -> None:
    with atomic_path(path) as temporary:
        save_file({"train": train.contiguous(), "test": test.contiguous()}, temporary)


def _fits(logits: dict[str, torch.Tensor], site: SiteData) -> bool:
    train, test = logits.get("train"), logits.get("test")
    return (
        train is not None
        and test is not None
        and tuple(train.shape) == (len(site.train), site.num_classes)
        and tuple(test.shape) == (len(site.test), site.num_classes)
        and first_non_finite(logits) is None
    )


def _discard(path: Path, reason: str, *companions: Path) -> None:
    """Remove a corrupt cache entry (and the files that belong to it) so that it is rebuilt, and say so."""
    also = f" with {', '.join(c.name for c in companions)}" if companions else ""
    logger.warning("[fedkd] cache entry %s is corrupt (%s); removed%s, rebuilding it", path, reason, also)
    for file in (path, *companions):
        file.unlink(missing_ok=True)


def _cached_logits(path: Path, site: SiteData) -> dict[str, torch.Tensor] | None:
    """The cached logits at ``path`` if they are whole and fit ``site``; a corrupt entry is removed."""
    if not path.is_file():
        return None
    try:
        logits = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        _discard(path, str(error))
        return None
    if not _fits(logits, site):
        _discard(path, "shapes or values do not fit this site's splits")
        return None
    return logits


def _cached_teacher(weights: Path, sidecar: Path) -> tuple[nn.Module, str, tuple[tuple[float, float, int], ...]] | None:
    """A trained teacher from the cache, or ``None`` if absent; a corrupt entry is removed."""
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        model, name = load_model(weights)
        entries = json.loads(sidecar.read_text())["dp_history"]
        history = tuple((float(s), float(q), int(n)) for s, q, n in entries)
    except (CheckpointError, OSError, ValueError, KeyError, TypeError) as error:
        _discard(weights, str(error), sidecar)
        return None
    return model, name, history


def site_logits(model: nn.Module, site: SiteData, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A teacher model's logits on the site's train and local test splits (its input view), on the CPU."""
    model.to(device)
    train = predict_logits(model, torch.from_numpy(site.train.teacher_view().x).to(device)).cpu()
    test = predict_logits(model, torch.from_numpy(site.test.teacher_view().x).to(device)).cpu()
    return train, test


def with_model(teacher: Teacher, model: nn.Module, site: SiteData, device: torch.device) -> Teacher:
    """``teacher`` with another (frozen) model and that model's logits on ``site``; the input is not modified."""
    train, test = site_logits(model, site, device)
    return dataclasses.replace(teacher, model=model, train_logits=train, test_logits=test)


def obtain_teacher(
    site: SiteData,
    *,
    cache_dir: Path,
    device: torch.device,
    recipe: TeacherRecipe | None = None,
    checkpoint: Path | None = None,
    architecture: str | None = None,
    max_checkpoint_bytes: int = DEFAULT_MAX_CHECKPOINT_BYTES,
    finetune: TeacherRecipe | None = None,
) -> Teacher:
    """Load a teacher from the cache or a checkpoint, or train and cache one.

    Exactly one of ``recipe`` and ``checkpoint`` is given.

    Parameters
    ----------
    site : SiteData
        The site's splits.
    cache_dir : pathlib.Path
        The site's cache; teachers live under ``cache_dir / "teachers"``.
    device : torch.device
        Where the teacher trains and computes logits.
    recipe : TeacherRecipe, optional
        Train at the site (or reuse the cached result).
    checkpoint : pathlib.Path, optional
        A safetensors file written by :func:`fedkd.checkpoint.save_model`.
    architecture : str, optional
        The checkpoint's architecture, when its metadata lacks one.
    max_checkpoint_bytes : int
        The largest checkpoint the site reads (node-config ``max-checkpoint-bytes``).

    A checkpoint must fit the site's task (its teacher input shape and classes; a
    checkpoint without those metadata takes them from the site) and hold only
    finite weights. A corrupt cache entry (teacher or logits) is removed with a
    log line and rebuilt.
    finetune : TeacherRecipe, optional
        Fine-tune the checkpoint on the site's train split with CE (its epochs,
        learning rate, momentum, batch size and seed; architecture and DP fields
        unused) at first use, and cache the result.
    """
    if (recipe is None) == (checkpoint is None):
        raise ValueError("give exactly one of a teacher recipe and a teacher checkpoint")
    if finetune is not None and checkpoint is None:
        raise ValueError("finetune needs a teacher checkpoint to start from")
    folder = cache_dir / "teachers"
    folder.mkdir(parents=True, exist_ok=True)
    if checkpoint is not None:
        try:
            model, name = load_model(checkpoint, architecture=architecture,
                                     expected=(site.teacher_input_shape, site.num_classes),
                                     max_bytes=max_checkpoint_bytes)
        except CheckpointError as error:
            raise CheckpointError(f"teacher {error}") from None
        key = checkpoint_key(checkpoint, site)
        source = "checkpoint"
        dp_history: tuple[tuple[float, float, int], ...] = ()
        if finetune is not None and finetune.epochs > 0:
            key = "tuned-" + hashlib.sha256((key + recipe_key(finetune, site)).encode()).hexdigest()[:32]
            weights = folder / f"{key}.safetensors"
            if weights.is_file():
                model, name = load_model(weights)
            else:
                _finetune(model, finetune, site, device)
                save_model(weights, model, architecture=name, input_shape=site.teacher_input_shape,
                           num_classes=site.num_classes)
            source = "fine-tuned"
    else:
        assert recipe is not None
        key = recipe_key(recipe, site)
        weights = folder / f"{key}.safetensors"
        sidecar = folder / f"{key}.json"
        cached_teacher = _cached_teacher(weights, sidecar)
        if cached_teacher is not None:
            model, name, dp_history = cached_teacher
        else:
            (model, dp_history), name = train_teacher(recipe, site, device=device), recipe.architecture
            save_model(weights, model, architecture=name, input_shape=site.teacher_input_shape,
                       num_classes=site.num_classes)
            write_atomic(sidecar, json.dumps({"recipe": asdict(recipe), "dp_history": dp_history}).encode())
        source = "trained"
    freeze(model).to(device)  # on its device even when its logits come from the cache (feature and mutual modes)
    # Logits depend on both splits; a recipe key covers only the train split.
    data = hashlib.sha256((site.train.fingerprint() + site.test.fingerprint()).encode()).hexdigest()[:16]
    cached = folder / f"{key}.{data}.logits.safetensors"
    logits = _cached_logits(cached, site)
    if logits is not None:
        train, test = logits["train"], logits["test"]
    else:
        train, test = site_logits(model, site, device)
        _save_logits(cached, train, test)
    return Teacher(model=model, architecture=name, source=source, key=key, train_logits=train, test_logits=test,
                   dp_history=dp_history)
