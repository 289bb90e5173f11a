"""How every benchmark hands its figures over: printed for the person watching, saved for the pages.

A benchmark's figures are one JSON document under ``bench/results/``; ``pages.bench_tables``
turns them into the tables of ``docs/``. Writing goes through :func:`fedkd.io.write_atomic`, so
an interrupted benchmark leaves the previous figures whole, never half a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedkd.io import write_atomic


def save_figures(path: Path, figures: Mapping[str, Any], *, show: bool = False) -> None:
    """Write ``figures`` to ``path`` as indented JSON, atomically, and say where.

    Parameters
    ----------
    path
        The result file, usually ``bench/results/<benchmark>.json``.
    figures
        The document; its top-level keys are the figures.
    show
        Also print each top-level figure as ``key: value`` first (for benchmarks that
        have not printed them while measuring).
    """
    if show:
        for key, value in figures.items():
            print(f"{key}: {value}")
    write_atomic(path, (json.dumps(dict(figures), indent=2) + "\n").encode())
    print(f"saved {path}", flush=True)
