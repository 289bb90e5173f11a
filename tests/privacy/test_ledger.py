"""The privacy ledger: epsilon against Opacus' accountants stepped independently, persistence, calibration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from opacus.accountants import PRVAccountant, RDPAccountant

from fedkd.privacy.ledger import PrivacyLedger, calibrate_noise

HISTORY = [(1.1, 0.05, 120), (1.1, 0.05, 120), (0.9, 0.1, 30)]


@pytest.mark.parametrize("name, independent", [("rdp", RDPAccountant), ("prv", PRVAccountant)])
def test_ledger_epsilon_equals_opacus_accountant_stepped_independently(name: str, independent: type) -> None:
    ledger = PrivacyLedger(name)
    for entry in HISTORY:
        ledger.record(*entry)
    reference = independent()
    for sigma, q, steps in HISTORY:
        for _ in range(steps):
            reference.step(noise_multiplier=sigma, sample_rate=q)

    assert ledger.epsilon(1e-5) == pytest.approx(reference.get_epsilon(delta=1e-5), rel=1e-9)


def test_ledger_epsilon_never_decreases_as_rounds_add_up() -> None:
    ledger = PrivacyLedger("rdp")
    epsilons = []
    for sigma in (1.0, 1.5, 0.8, 3.0, 1.0):
        ledger.record(sigma, 0.05, 50)
        epsilons.append(ledger.epsilon(1e-5))

    assert all(b > a for a, b in zip(epsilons, epsilons[1:], strict=False))


def test_ledger_round_trips_through_disk_and_rejects_garbage(tmp_path: Path) -> None:
    ledger = PrivacyLedger("rdp", noise_multiplier=1.3)
    ledger.record(1.3, 0.1, 40)
    ledger.save(tmp_path / "ledger.json")

    restored = PrivacyLedger.load(tmp_path / "ledger.json", "rdp")

    assert restored == ledger and restored.epsilon(1e-5) == ledger.epsilon(1e-5)
    (tmp_path / "bad.json").write_text('{"accountant": "rdp"}')
    with pytest.raises(ValueError, match="not a privacy ledger"):
        PrivacyLedger.load(tmp_path / "bad.json", "rdp")
    with pytest.raises(ValueError, match="accountant 'rdp', config asks 'prv'"):
        PrivacyLedger.load(tmp_path / "ledger.json", "prv")


def test_ledger_without_noise_reports_infinite_epsilon() -> None:
    ledger = PrivacyLedger()
    ledger.record(0.0, 0.1, 10)

    assert ledger.epsilon(1e-5) == math.inf


def test_calibrated_noise_meets_target_tightly_with_and_without_prior_history() -> None:
    q, steps = 0.05, 600
    for prior in ((), ((2.0, 0.1, 100),)):
        sigma = calibrate_noise(target_epsilon=3.0, delta=1e-5, sample_rate=q, steps=steps, accountant="rdp",
                                prior=prior)
        spent = PrivacyLedger("rdp", list(prior)).epsilon(1e-5, extra=[(sigma, q, steps)])
        assert 2.9 <= spent <= 3.0


def test_calibration_refuses_when_prior_history_already_spends_the_target() -> None:
    with pytest.raises(ValueError, match="already spends"):
        calibrate_noise(target_epsilon=0.5, delta=1e-5, sample_rate=0.5, steps=10, accountant="rdp",
                        prior=((0.5, 0.5, 100),))


def test_ledger_noise_run_round_trips_and_a_file_without_it_loads(tmp_path: Path) -> None:
    ledger = PrivacyLedger("rdp", noise_multiplier=1.3, noise_run=12)
    ledger.record(1.3, 0.1, 40)
    ledger.save(tmp_path / "ledger.json")
    (tmp_path / "old.json").write_text('{"accountant": "rdp", "history": [[1.3, 0.1, 40]], "noise_multiplier": 1.3}')

    restored = PrivacyLedger.load(tmp_path / "ledger.json", "rdp")
    old = PrivacyLedger.load(tmp_path / "old.json", "rdp")

    assert restored == ledger and restored.noise_run == 12
    assert old.noise_run is None and old.history == ledger.history
