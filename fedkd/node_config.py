"""A site's own settings: what ``flower-supernode --node-config`` (or the simulation) tells one node.

A simulated node knows itself by ``partition-id`` and ``num-partitions`` (Flower sets
them); a real site names its ``data-dir`` and, optionally, its teacher. The keys are
parsed once into a :class:`NodeConfig`: an unknown key (a typo at a site) is an
error that lists the known ones, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from fedkd.config import ConfigError, to_key, to_name
from fedkd.limits import DEFAULT_MAX_CHECKPOINT_BYTES, DEFAULT_MAX_DATA_BYTES


def _doc(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class NodeConfig:
    """Every node-config key a site may set, with its default."""

    data_dir: str = field(
        default="", metadata=_doc("The site's folder: train.npz and test.npz (causal-lm: train.jsonl, test.jsonl).")
    )
    teacher_checkpoint: str = field(
        default="", metadata=_doc("The site's teacher, a safetensors checkpoint (overrides the run's).")
    )
    teacher_architecture: str = field(
        default="",
        metadata=_doc("This site's teacher architecture (overrides the run's teacher), or the architecture of a "
                      "checkpoint that does not name one."),
    )
    teacher_public: bool = field(
        default=False,
        metadata=_doc("Declares the teacher checkpoint trained on non-sensitive data: the student's epsilon then "
                      "covers the site's records."),
    )
    cache_dir: str = field(default="", metadata=_doc("The site's cache (teachers, logits, privacy ledger)."))
    max_data_bytes: int = field(
        default=DEFAULT_MAX_DATA_BYTES,
        metadata=_doc("Largest data file this site reads, on disk and decompressed; larger ones are refused unread."),
    )
    max_checkpoint_bytes: int = field(
        default=DEFAULT_MAX_CHECKPOINT_BYTES,
        metadata=_doc("Largest teacher checkpoint this site reads (also one the server names); refused unread."),
    )
    require_local_dp: bool = field(
        default=False, metadata=_doc("Refuse to train unless the run asks for local-dp (record-level DP-SGD).")
    )
    min_noise_multiplier: float = field(
        default=0.0,
        metadata=_doc("The site's noise floor: refuse a DP-SGD round whose noise multiplier is below it (0: none)."),
    )
    lifetime_epsilon: float = field(
        default=0.0,
        metadata=_doc("The epsilon budget of the site's data over all runs and restarts (0: none); a round that "
                      "would exceed it, or train without local-dp, is refused."),
    )
    allow_server_paths: bool = field(
        default=False,
        metadata=_doc("Let the run config name paths this site uses (teacher-checkpoint, cache-dir, data-dir); "
                      "by default a real site refuses them (simulated nodes always allow them)."),
    )
    partition_id: int | None = field(default=None, metadata=_doc("Set by Flower in simulation: this node's shard."))
    num_partitions: int | None = field(default=None, metadata=_doc("Set by Flower in simulation: the shard count."))

    def __post_init__(self) -> None:
        limits = (("max-data-bytes", self.max_data_bytes), ("max-checkpoint-bytes", self.max_checkpoint_bytes))
        for key, limit in limits:
            if limit < 1:
                raise ConfigError(f"node-config {key}={limit!r} is not allowed: must be >= 1")

    @classmethod
    def keys(cls) -> list[str]:
        """All node-config keys, kebab-case."""
        return [to_key(f.name) for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> NodeConfig:
        """Parse Flower's ``context.node_config``.

        Raises
        ------
        ConfigError
            For an unknown key, or a value of the wrong type.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        parsed: dict[str, object] = {}
        for key, value in values.items():
            name = to_name(str(key))
            if name not in known:
                raise ConfigError(f"unknown node-config key {key!r}; known keys: {', '.join(cls.keys())}")
            parsed[name] = _coerce(str(key), value, known[name].default)
        return cls(**parsed)  # type: ignore[arg-type]

    @property
    def simulated(self) -> bool:
        """Whether this node is a simulated shard rather than a real site."""
        return not self.data_dir and self.partition_id is not None and self.num_partitions is not None

    @property
    def identity(self) -> str:
        """A short name for logs and seeds: the data directory, else the partition id."""
        return self.data_dir if self.data_dir else f"partition-{self.partition_id}"


def _coerce(key: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    expected = ("a bool" if isinstance(default, bool) else "a string" if isinstance(default, str)
                else "a number >= 0" if isinstance(default, float) else "an integer")
    raise ConfigError(f"node-config {key}={value!r} must be {expected}")
