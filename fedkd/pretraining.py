"""A teacher pretrained on a public pool, once per machine, as every site's starting point.

A site operator usually has a teacher that knows more than the site's shard. fedkd's
default models that: a teacher architecture trained with cross-entropy on a *public
pool*, fresh samples of the task that are not part of the federation's train or test
data, which each site then fine-tunes on its private shard at first use
(:func:`fedkd.teacher.obtain_teacher`, ``teacher-finetune-epochs``).

The pool of MNIST-1D is the official generator run with another seed
(:func:`fedkd.data.mnist1d.make_mnist1d_corpus`, seed 20200; the federation's data is
the official seed 42), so the samples are fresh draws, disjoint from the federation's.
Fashion-MNIST has a pool only in a run that holds some train images out of the
federation (``public-pool-holdout``, :mod:`fedkd.data.public_pool`).
The pretrained teacher is cached under ``cache_dir / "pretrained"``, keyed by its whole
recipe (:func:`pretrain_key`), and never depends on a run's seed or on any site's data:
a machine pretrains it once and every run and site reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fedkd.checkpoint import CheckpointError, load_model, save_model
from fedkd.config import FedKDConfig
from fedkd.data.arrays import ArrayDataset
from fedkd.data.public_pool import has_pool, pool_seed, public_samples
from fedkd.data.registry import load_dataset
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.evaluation import evaluate
from fedkd.io import write_atomic
from fedkd.models import build_model

logger = logging.getLogger(__name__)

PRETRAINING_VERSION = 1
"""Bump when the pretraining code changes what a recipe produces."""

@dataclass(frozen=True)
class PretrainRecipe:
    """Everything that determines a public-pool teacher."""

    dataset: str
    architecture: str
    samples: int
    pool_seed: int
    epochs: int
    learning_rate: float
    momentum: float
    batch_size: int
    seed: int = 0
    """Seeds the initial weights and the batch order; fixed, so that every run shares one teacher."""


def pretrain_recipe(config: FedKDConfig, *, architecture: str | None = None) -> PretrainRecipe | None:
    """The public-pool recipe a run's sites start from, or ``None`` if they train on their shard only.

    ``architecture`` overrides the run's ``teacher`` (a site's ``teacher-architecture``).

    ``None`` when ``teacher-pretraining`` is ``none``, when the run has no public pool
    (:func:`fedkd.data.public_pool.has_pool`: Fashion-MNIST without a ``public-pool-holdout``),
    for ``task=causal-lm`` (its teachers are language models) and under ``teacher-dp``
    (a DP teacher is trained on the shard from scratch, under DP-SGD).
    """
    if (config.teacher_pretraining != "public-pool" or not has_pool(config.dataset, config.public_pool_holdout)
            or config.task != "classification" or config.teacher_dp):
        return None
    return PretrainRecipe(
        dataset=config.dataset,
        architecture=architecture or config.teacher,
        samples=config.teacher_pretrain_samples,
        pool_seed=pool_seed(config.dataset),
        epochs=config.teacher_pretrain_epochs,
        learning_rate=config.teacher_learning_rate,
        momentum=config.momentum,
        batch_size=config.batch_size,
    )


def pretrain_key(recipe: PretrainRecipe) -> str:
    """Cache key: the recipe and the pretraining code version."""
    payload = {"recipe": asdict(recipe), "version": PRETRAINING_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def pretrained_path(recipe: PretrainRecipe, cache_dir: Path) -> Path:
    """Where the teacher of ``recipe`` is cached; a JSON sidecar beside it holds its recipe and test accuracy."""
    return cache_dir / "pretrained" / f"{recipe.dataset}-{recipe.architecture}-{pretrain_key(recipe)}.safetensors"


def public_pool(recipe: PretrainRecipe, cache_dir: Path) -> ArrayDataset:
    """The recipe's public pool, in the teacher view (a held-out pool is read from the dataset in ``cache_dir``).

    Raises
    ------
    ValueError
        If the dataset has no public pool.
    """
    return public_samples(recipe.dataset, recipe.samples, cache_dir=cache_dir)


def cached_pretrained(recipe: PretrainRecipe, cache_dir: Path) -> dict[str, object] | None:
    """The sidecar of a whole cached teacher of ``recipe`` (recipe, test accuracy), or ``None``."""
    path = pretrained_path(recipe, cache_dir)
    sidecar = path.with_suffix(".json")
    if not (path.is_file() and sidecar.is_file()):
        return None
    try:
        load_model(path)
        info = json.loads(sidecar.read_text())
    except (CheckpointError, OSError, ValueError) as error:
        logger.warning("[fedkd] pretrained teacher %s is corrupt (%s); removed, pretraining again", path, error)
        path.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
        return None
    return dict(info) if isinstance(info, dict) else None


def pretrain_teacher(recipe: PretrainRecipe, *, cache_dir: Path, device: torch.device) -> Path:
    """The cached public-pool teacher of ``recipe``; pretrained and cached first if absent.

    The sidecar records the recipe, the pool size and the teacher's accuracy on the
    dataset's official test split. Both files are written atomically.
    """
    path = pretrained_path(recipe, cache_dir)
    if cached_pretrained(recipe, cache_dir) is not None:
        return path
    pool = public_pool(recipe, cache_dir)
    splits = load_dataset(recipe.dataset, data_dir=None, cache_dir=cache_dir)
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.architecture, input_shape=splits.teacher_input_shape, num_classes=splits.num_classes)
    settings = OptimizerSettings(recipe.learning_rate, recipe.momentum, recipe.batch_size, recipe.epochs)
    distill(model, pool, None, settings=settings, objective=CE_ONLY, device=device, seed=recipe.seed)
    accuracy = evaluate(model, splits.test.teacher_view(), device=device).accuracy
    save_model(path, model.cpu(), architecture=recipe.architecture, input_shape=splits.teacher_input_shape,
               num_classes=splits.num_classes)
    info = {"recipe": asdict(recipe), "version": PRETRAINING_VERSION, "test_accuracy": accuracy}
    write_atomic(path.with_suffix(".json"), json.dumps(info, indent=1).encode())
    return path
