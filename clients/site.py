"""Resolve what one site holds: its data splits and its private teacher.

A simulated client knows itself by ``partition-id`` and ``num-partitions`` in its
node config and builds its shard of a named dataset. A real site is started with
``flower-supernode --node-config "data-dir='...' teacher-checkpoint='...'"``.
Both produce a :class:`~fedkd.data.site.SiteData` and a
:class:`~fedkd.teacher.Teacher` before anything else runs. Both are kept for the
life of the process, so a site pays for them once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fedkd.config import FedKDConfig
from fedkd.data.registry import DATASETS, load_dataset
from fedkd.data.site import SiteData, load_site_dir
from fedkd.device import resolve_device
from fedkd.seeding import derive_seed
from fedkd.teacher import Teacher, TeacherRecipe, obtain_teacher
from simulations.partitioning import simulated_site

NodeConfig = Mapping[str, bool | float | int | str]

_sites: dict[tuple[object, ...], SiteData] = {}
_teachers: dict[tuple[object, ...], Teacher] = {}


def cache_dir(config: FedKDConfig, node_config: NodeConfig) -> Path:
    """The site's cache: node config ``cache-dir``, then run config, then ``~/.cache/fedkd``."""
    chosen = str(node_config.get("cache-dir", "")) or config.cache_dir or os.environ.get("FEDKD_CACHE_DIR", "")
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "fedkd"


def site_identity(node_config: NodeConfig) -> str:
    """A short name for logs and seeds: the partition id or the data directory."""
    if "data-dir" in node_config:
        return str(node_config["data-dir"])
    return f"partition-{node_config.get('partition-id')}"


def load_site(config: FedKDConfig, node_config: NodeConfig) -> SiteData:
    """This site's train and local test splits.

    Raises
    ------
    ValueError
        If the node config names neither a ``data-dir`` nor a ``partition-id``.
    """
    key = (config.dataset, config.partitioner, config.dirichlet_alpha, config.classes_per_client,
           config.local_test_fraction, config.seed, tuple(sorted(node_config.items())))
    if key in _sites:
        return _sites[key]
    spec = DATASETS[config.dataset]
    if "data-dir" in node_config:
        site = load_site_dir(Path(str(node_config["data-dir"])), input_shape=spec.input_shape,
                             num_classes=spec.num_classes, teacher_input_shape=spec.teacher_input_shape)
    elif "partition-id" in node_config and "num-partitions" in node_config:
        splits = load_dataset(config.dataset, data_dir=Path(config.data_dir) if config.data_dir else None,
                              cache_dir=cache_dir(config, node_config))
        site = simulated_site(
            splits.train,
            partition_id=int(node_config["partition-id"]),
            num_partitions=int(node_config["num-partitions"]),
            partitioner=config.partitioner,
            seed=config.seed,
            dirichlet_alpha=config.dirichlet_alpha,
            classes_per_client=config.classes_per_client,
            local_test_fraction=config.local_test_fraction,
            num_classes=splits.num_classes,
        )
    else:
        raise ValueError(
            f"node config {dict(node_config)} names neither 'data-dir' (a real site) "
            "nor 'partition-id' and 'num-partitions' (a simulated one)"
        )
    _sites[key] = site
    return site


def load_teacher(config: FedKDConfig, node_config: NodeConfig, site: SiteData) -> Teacher:
    """This site's teacher: from ``teacher-checkpoint`` in the node config (else the run config), or trained here.

    The node config's ``teacher-architecture`` overrides the run's ``teacher`` for
    this site (teachers may differ between sites) or names a checkpoint's
    architecture when its metadata does not.
    """
    checkpoint = str(node_config.get("teacher-checkpoint", "")) or config.teacher_checkpoint
    architecture = str(node_config.get("teacher-architecture", "")) or None
    recipe = None if checkpoint else TeacherRecipe(
        architecture=architecture or config.teacher,
        epochs=config.teacher_epochs,
        learning_rate=config.teacher_learning_rate,
        momentum=config.momentum,
        batch_size=config.batch_size,
        seed=derive_seed(config.seed, "teacher", site_identity(node_config)),
        dp_noise_multiplier=config.teacher_dp_noise_multiplier if config.teacher_dp else 0.0,
        dp_max_grad_norm=config.dp_max_grad_norm,
    )
    key = (checkpoint, recipe, site.train.fingerprint(), site.test.fingerprint())
    if key not in _teachers:
        _teachers[key] = obtain_teacher(
            site,
            cache_dir=cache_dir(config, node_config),
            device=resolve_device(config.teacher_device),
            recipe=recipe,
            checkpoint=Path(checkpoint) if checkpoint else None,
            architecture=architecture,
        )
    return _teachers[key]
