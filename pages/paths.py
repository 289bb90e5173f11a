"""Where the generated pages read and write: the repository, its docs, the sweep results and the cache."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SWEEP = ROOT / "results" / "sweep"
CACHE = ROOT / ".cache" / "fedkd"
