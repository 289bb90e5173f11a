"""The project's own rules: ruff everywhere, mypy strict on the core, the core free of Flower."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "fedkd", "clients", "server", "simulations",
                             "bench", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_core_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_the_flower_framework() -> None:
    # flwr_datasets is a dataset library and is allowed; flwr, the framework, is not.
    offenders = [str(p) for p in (ROOT / "fedkd").rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+flwr\b(?!_)", p.read_text(), flags=re.MULTILINE)]
    assert offenders == []
