"""Local DP-SGD and its ledger (fedkd.privacy)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from opacus.accountants import PRVAccountant, RDPAccountant

from fedkd.data.arrays import ArrayDataset
from fedkd.models import build_model
from fedkd.privacy import (
    GRAD_SAMPLE_MODES,
    DPSettings,
    PrivacyLedger,
    calibrate_noise,
    dp_distill,
    make_private_module,
    sample_rate,
    steps_per_epoch,
)
from fedkd.train import OptimizerSettings, distill

CPU = torch.device("cpu")
HISTORY = [(1.1, 0.05, 120), (1.1, 0.05, 120), (0.9, 0.1, 30)]


def _data(n: int = 64, seed: int = 0) -> ArrayDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 40, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return ArrayDataset(x.numpy(), y.numpy())


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


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_dp_sgd_without_noise_huge_clip_and_full_batches_matches_plain_training(mode: str) -> None:
    data = _data(64)
    settings = OptimizerSettings(learning_rate=0.1, momentum=0.0, batch_size=64, epochs=3)  # q = 1: no sampling
    torch.manual_seed(0)
    private = build_model("mlp", input_shape=(40,), num_classes=10)
    plain = build_model("mlp", input_shape=(40,), num_classes=10)
    plain.load_state_dict(private.state_dict())
    teacher_logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))

    dp_distill(private, data, teacher_logits, settings=settings, dp=DPSettings(0.0, 1e6, mode), alpha=0.5,
               temperature=2.0, device=CPU, seed=0)
    distill(plain, data, teacher_logits, settings=settings, alpha=0.5, temperature=2.0, device=CPU, seed=0)

    for (name, a), b in zip(private.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
@pytest.mark.parametrize("architecture", ["mlp", "cnn1d"])
def test_dp_sgd_step_respects_the_clipping_bound(mode: str, architecture: str) -> None:
    # With lr 1, no momentum, no noise and one full batch, the step equals the mean of the
    # clipped per-sample gradients, so its norm is at most C.
    data = _data(32)
    clip = 1e-3
    torch.manual_seed(0)
    model = build_model(architecture, input_shape=(40,), num_classes=10)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    settings = OptimizerSettings(learning_rate=1.0, momentum=0.0, batch_size=32, epochs=1)

    dp_distill(model, data, None, settings=settings, dp=DPSettings(0.0, clip, mode), alpha=1.0, temperature=1.0,
               device=CPU, seed=0)

    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    step = (after - before).norm().item()
    assert 0 < step <= clip * (1 + 1e-4)
    torch.manual_seed(0)
    unclipped = build_model(architecture, input_shape=(40,), num_classes=10)
    distill(unclipped, data, None, settings=settings, alpha=1.0, temperature=1.0, device=CPU, seed=0)
    plain_step = (torch.cat([p.detach().flatten() for p in unclipped.parameters()]) - before).norm().item()
    assert plain_step > 100 * clip  # the bound is doing the work


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_dp_sgd_returns_the_history_entry_and_leaves_a_plain_module(mode: str) -> None:
    data = _data(100)
    model = build_model("cnn1d", input_shape=(40,), num_classes=10)
    settings = OptimizerSettings(learning_rate=0.05, momentum=0.9, batch_size=10, epochs=2)

    stats, entry = dp_distill(model, data, None, settings=settings, dp=DPSettings(1.0, 1.0, mode), alpha=1.0,
                              temperature=1.0, device=CPU, seed=3)

    assert entry == (1.0, sample_rate(10, 100), steps_per_epoch(10, 100) * 2) == (1.0, 0.1, 20)
    assert stats.num_examples == 100 and math.isfinite(stats.loss)
    assert set(model.state_dict()) == set(build_model("cnn1d", input_shape=(40,), num_classes=10).state_dict())
    assert not any(hasattr(p, "grad_sample") and p.grad_sample is not None for p in model.parameters())


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_dp_sgd_survives_empty_poisson_batches(mode: str) -> None:
    # q = 1/50 on 50 records: about a third of the steps sample nobody.
    data = _data(50)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    settings = OptimizerSettings(learning_rate=0.05, momentum=0.0, batch_size=1, epochs=2)

    stats, entry = dp_distill(model, data, None, settings=settings, dp=DPSettings(1.0, 1.0, mode), alpha=1.0,
                              temperature=1.0, device=CPU, seed=0)

    assert entry[2] == 100
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(stats.loss)


def test_make_private_module_replaces_batchnorm() -> None:
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.BatchNorm1d(4))

    fixed = make_private_module(model)

    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in fixed.modules())


def test_dp_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="max_grad_norm"):
        DPSettings(1.0, 0.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        DPSettings(-1.0, 1.0)
    with pytest.raises(ValueError, match="grad_sample_mode"):
        DPSettings(1.0, 1.0, "vmap")
