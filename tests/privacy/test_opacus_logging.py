"""Importing Opacus through fedkd leaves the host's root logger as it was (no duplicated log lines)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pages.paths import ROOT


@pytest.mark.parametrize("first_use", [
    "from fedkd.privacy.ledger import calibrate_noise; calibrate_noise(target_epsilon=8.0, delta=1e-5, "
    "sample_rate=0.1, steps=10, accountant='rdp')",
    "from fedkd.privacy.ledger import PrivacyLedger; PrivacyLedger('rdp').epsilon(1e-5)",
    "import fedkd.privacy.dp_sgd",
])
def test_first_opacus_import_through_fedkd_adds_no_root_log_handler(first_use: str) -> None:
    # Execute: a fresh interpreter, where this is the first import of Opacus.
    code = f"import logging, sys; {first_use}; assert 'opacus' in sys.modules; print(logging.getLogger().handlers)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)

    # Assert
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
