"""Resolve what one site holds: its data splits and its private teacher.

A simulated client knows itself by ``partition-id`` and ``num-partitions`` in its
node config and builds its shard of a named dataset. A real site is started with
``flower-supernode --node-config "data-dir='...' teacher-checkpoint='...'"``.
Both produce a :class:`~fedkd.data.site.SiteData` and a
:class:`~fedkd.teacher.Teacher` before anything else runs. Both are kept in memory
so a site pays for them once, within a budget per process: a simulation's client
process serves many sites in turn, and keeps the most recently used of them within
``$FEDKD_SITE_CACHE_MB`` megabytes of site data and as many of teachers (default
1024 each). An evicted teacher comes back from the disk cache, not by training.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedkd.bounded_cache import BoundedCache, nbytes
from fedkd.config import FedKDConfig
from fedkd.data.partitioning import simulated_site
from fedkd.data.public_pool import load_federation
from fedkd.data.registry import DATASETS
from fedkd.data.site import SiteData, load_site_dir
from fedkd.device import resolve_device
from fedkd.io import resolve_cache_dir
from fedkd.node_config import NodeConfig
from fedkd.pretraining import PretrainRecipe, pretrain_recipe, pretrain_teacher
from fedkd.seeding import derive_seed
from fedkd.teacher import Teacher, TeacherRecipe, obtain_teacher

CACHE_ENV = "FEDKD_SITE_CACHE_MB"
DEFAULT_CACHE_MB = 1024


def cache_budget(environ: dict[str, str] | None = None) -> int:
    """Bytes each of this process's site and teacher caches may hold (``$FEDKD_SITE_CACHE_MB``).

    Raises
    ------
    ValueError
        If the variable is not a non-negative number.
    """
    raw = (os.environ if environ is None else environ).get(CACHE_ENV, str(DEFAULT_CACHE_MB))
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:
        raise ValueError(f"{CACHE_ENV}={raw!r} must be a number of megabytes >= 0")
    return int(megabytes * 2**20)


def site_bytes(site: SiteData) -> int:
    """Bytes of a site's arrays."""
    return nbytes(*(a for split in (site.train, site.test) for a in (split.x, split.y, split.teacher_x)))


def teacher_bytes(teacher: Teacher) -> int:
    """Bytes of a teacher's weights and cached logits."""
    return nbytes(teacher.model, teacher.train_logits, teacher.test_logits)


_sites: BoundedCache[tuple[object, ...], SiteData] = BoundedCache(cache_budget(), site_bytes)
_teachers: BoundedCache[tuple[object, ...], Teacher] = BoundedCache(cache_budget(), teacher_bytes)
_pretrained: dict[tuple[PretrainRecipe, Path], str] = {}


def cache_dir(config: FedKDConfig, node: NodeConfig) -> Path:
    """The site's cache: its node config's ``cache-dir``, then the run's, then ``$FEDKD_CACHE_DIR`` or the default."""
    return resolve_cache_dir(node.cache_dir, config.cache_dir)


def load_site(config: FedKDConfig, node: NodeConfig) -> SiteData:
    """This site's train and local test splits.

    Raises
    ------
    ValueError
        If the node config names neither a ``data-dir`` nor a ``partition-id``.
    """
    key = (config.dataset, config.public_pool_holdout, config.partitioner, config.dirichlet_alpha,
           config.classes_per_client, config.local_test_fraction, config.seed, node)
    cached = _sites.get(key)
    if cached is not None:
        return cached
    spec = DATASETS[config.dataset]
    if node.data_dir:
        site = load_site_dir(Path(node.data_dir), input_shape=spec.input_shape,
                             num_classes=spec.num_classes, teacher_input_shape=spec.teacher_input_shape,
                             max_bytes=node.max_data_bytes)
    elif node.simulated:
        splits = load_federation(config.dataset, holdout=config.public_pool_holdout,
                                 data_dir=Path(config.data_dir) if config.data_dir else None,
                                 cache_dir=cache_dir(config, node))
        site = simulated_site(
            splits.train,
            partition_id=int(node.partition_id),  # type: ignore[arg-type]
            num_partitions=int(node.num_partitions),  # type: ignore[arg-type]
            partitioner=config.partitioner,
            seed=config.seed,
            dirichlet_alpha=config.dirichlet_alpha,
            classes_per_client=config.classes_per_client,
            local_test_fraction=config.local_test_fraction,
            num_classes=splits.num_classes,
        )
    else:
        raise ValueError(
            f"node config {node} names neither 'data-dir' (a real site) "
            "nor 'partition-id' and 'num-partitions' (a simulated one)"
        )
    return _sites.put(key, site)


def public_pool_checkpoint(config: FedKDConfig, node: NodeConfig) -> str:
    """The public-pool teacher this site starts from (pretrained here once if the cache lacks it), or ``""``.

    ``""`` when the run's sites train on their shard only (:func:`fedkd.pretraining.pretrain_recipe`).
    A simulation's harness pretrains it before any site starts; a real SuperNode without a
    ``teacher-checkpoint`` pretrains it at first use in its own cache (the pool is generated
    locally, nothing is downloaded).
    """
    recipe = pretrain_recipe(config, architecture=node.teacher_architecture or None)
    if recipe is None:
        return ""
    key = (recipe, cache_dir(config, node))
    if key not in _pretrained:
        _pretrained[key] = str(pretrain_teacher(recipe, cache_dir=key[1],
                                                device=resolve_device(config.teacher_device)))
    return _pretrained[key]


def load_teacher(config: FedKDConfig, node: NodeConfig, site: SiteData) -> Teacher:
    """This site's teacher: from ``teacher-checkpoint`` in the node config (else the run config), else from
    the public-pool teacher (``teacher-pretraining``), else trained here on the shard.

    A checkpoint (or the public-pool teacher) is fine-tuned on the site's shard first when
    ``teacher-finetune-epochs`` > 0.

    The node config's ``teacher-architecture`` overrides the run's ``teacher`` for
    this site (teachers may differ between sites) or names a checkpoint's
    architecture when its metadata does not.
    """
    architecture = node.teacher_architecture or None
    checkpoint = node.teacher_checkpoint or config.teacher_checkpoint or public_pool_checkpoint(config, node)
    if checkpoint and config.teacher_dp and config.teacher_finetune_epochs > 0:
        raise ValueError(f"teacher-finetune-epochs={config.teacher_finetune_epochs} fine-tunes the teacher checkpoint "
                         f"{checkpoint} on the site's shard without DP; it cannot combine with teacher-dp "
                         "(set teacher-finetune-epochs=0)")
    recipe = None if checkpoint else TeacherRecipe(
        architecture=architecture or config.teacher,
        epochs=config.teacher_epochs,
        learning_rate=config.teacher_learning_rate,
        momentum=config.momentum,
        batch_size=config.batch_size,
        seed=derive_seed(config.seed, "teacher", node.identity),
        dp_noise_multiplier=config.teacher_dp_noise_multiplier if config.teacher_dp else 0.0,
        dp_max_grad_norm=config.dp_max_grad_norm,
    )
    finetune = TeacherRecipe(
        architecture=architecture or config.teacher,
        epochs=config.teacher_finetune_epochs,
        learning_rate=config.teacher_learning_rate,
        momentum=config.momentum,
        batch_size=config.batch_size,
        seed=derive_seed(config.seed, "teacher-finetune", node.identity),
    ) if checkpoint and config.teacher_finetune_epochs > 0 else None
    key = (checkpoint, recipe, finetune, site.train.fingerprint(), site.test.fingerprint())
    cached = _teachers.get(key)
    if cached is not None:
        return cached
    return _teachers.put(key, obtain_teacher(
        site,
        cache_dir=cache_dir(config, node),
        device=resolve_device(config.teacher_device),
        recipe=recipe,
        checkpoint=Path(checkpoint) if checkpoint else None,
        architecture=architecture,
        finetune=finetune,
        max_checkpoint_bytes=node.max_checkpoint_bytes,
    ))
