"""How config keys are named, and the error that names a bad one.

Keys are kebab-case outside Python (``kd-alpha``: YAML, Flower's run config, the command line) and
snake_case inside (``kd_alpha``: the fields of :class:`fedkd.config.FedKDConfig`).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration key or value is not allowed."""


def to_key(name: str) -> str:
    """``kd_alpha`` -> ``kd-alpha``."""
    return name.replace("_", "-")


def to_name(key: str) -> str:
    """``kd-alpha`` -> ``kd_alpha``."""
    return key.replace("-", "_")
