"""DP-SGD training: clipping bound, the noise-off match with plain training, empty Poisson batches."""

from __future__ import annotations

import math

import pytest
import torch

from fedkd.data.arrays import ArrayDataset
from fedkd.distill.objective import CE_ONLY, LogitKnowledge
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.models import build_model
from fedkd.privacy.dp_settings import GRAD_SAMPLE_MODES, DPSettings
from fedkd.privacy.dp_sgd import dp_distill, make_private_module
from fedkd.privacy.ledger import sample_rate, steps_per_epoch

CPU = torch.device("cpu")


def _data(n: int = 64, seed: int = 0) -> ArrayDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 40, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return ArrayDataset(x.numpy(), y.numpy())


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_dp_sgd_without_noise_huge_clip_and_full_batches_matches_plain_training(mode: str) -> None:
    data = _data(64)
    settings = OptimizerSettings(learning_rate=0.1, momentum=0.0, batch_size=64, epochs=3)  # q = 1: no sampling
    torch.manual_seed(0)
    private = build_model("mlp", input_shape=(40,), num_classes=10)
    plain = build_model("mlp", input_shape=(40,), num_classes=10)
    plain.load_state_dict(private.state_dict())
    teacher_logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))

    dp_distill(private, data, teacher_logits, settings=settings, dp=DPSettings(0.0, 1e6, mode),
               objective=LogitKnowledge(alpha=0.5, temperature=2.0), device=CPU, seed=0)
    distill(plain, data, teacher_logits, settings=settings,
            objective=LogitKnowledge(alpha=0.5, temperature=2.0), device=CPU, seed=0)

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

    dp_distill(model, data, None, settings=settings, dp=DPSettings(0.0, clip, mode), objective=CE_ONLY,
               device=CPU, seed=0)

    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    step = (after - before).norm().item()
    assert 0 < step <= clip * (1 + 1e-4)
    torch.manual_seed(0)
    unclipped = build_model(architecture, input_shape=(40,), num_classes=10)
    distill(unclipped, data, None, settings=settings, objective=CE_ONLY, device=CPU, seed=0)
    plain_step = (torch.cat([p.detach().flatten() for p in unclipped.parameters()]) - before).norm().item()
    assert plain_step > 100 * clip  # the bound is doing the work


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_dp_sgd_returns_the_history_entry_and_leaves_a_plain_module(mode: str) -> None:
    data = _data(100)
    model = build_model("cnn1d", input_shape=(40,), num_classes=10)
    settings = OptimizerSettings(learning_rate=0.05, momentum=0.9, batch_size=10, epochs=2)

    stats, entry = dp_distill(model, data, None, settings=settings, dp=DPSettings(1.0, 1.0, mode),
                              objective=CE_ONLY, device=CPU, seed=3)

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

    stats, entry = dp_distill(model, data, None, settings=settings, dp=DPSettings(1.0, 1.0, mode),
                              objective=CE_ONLY, device=CPU, seed=0)

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


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
def test_dp_sgd_virtual_steps_with_noise_match_one_pass(mode: str) -> None:
    # A logical batch split into passes of 5 is clipped per sample and noised once: with the same
    # seeds (sampling and noise) the result equals the one-pass run, noise included.
    data = _data(64)
    settings = OptimizerSettings(learning_rate=0.5, momentum=0.9, batch_size=32, epochs=2)
    torch.manual_seed(0)
    whole = build_model("mlp", input_shape=(40,), num_classes=10)
    chunked = build_model("mlp", input_shape=(40,), num_classes=10)
    chunked.load_state_dict(whole.state_dict())
    teacher_logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))
    objective = LogitKnowledge(alpha=0.5, temperature=2.0)

    _, entry_whole = dp_distill(whole, data, teacher_logits, settings=settings, dp=DPSettings(1.0, 0.1, mode),
                                objective=objective, device=CPU, seed=0)
    _, entry_chunked = dp_distill(chunked, data, teacher_logits, settings=settings,
                                  dp=DPSettings(1.0, 0.1, mode, physical_batch_size=5),
                                  objective=objective, device=CPU, seed=0)

    assert entry_chunked == entry_whole == (1.0, 0.5, 4)  # the accountant sees the logical batch
    for (name, a), b in zip(whole.state_dict().items(), chunked.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


def test_dp_sgd_virtual_steps_step_is_the_mean_of_clipped_per_sample_gradients() -> None:
    # One full logical batch (q = 1) in passes of 3, no noise, lr 1: the step is minus the sum of each
    # record's gradient clipped to C, over the batch; computed here record by record with plain autograd.
    data = _data(10)
    clip = 0.05
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    reference = build_model("mlp", input_shape=(40,), num_classes=10)
    reference.load_state_dict(model.state_dict())
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    settings = OptimizerSettings(learning_rate=1.0, momentum=0.0, batch_size=10, epochs=1)

    dp_distill(model, data, None, settings=settings, dp=DPSettings(0.0, clip, physical_batch_size=3),
               objective=CE_ONLY, device=CPU, seed=0)

    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    clipped = []
    for i in range(10):
        reference.zero_grad()
        torch.nn.functional.cross_entropy(reference(x[i : i + 1]), y[i : i + 1]).backward()
        grad = torch.cat([p.grad.flatten() for p in reference.parameters()])
        assert grad.norm() > clip  # every record is clipped: the bound is doing the work
        clipped.append(grad * min(1.0, clip / (grad.norm().item() + 1e-6)))
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - before
    assert torch.allclose(step, -torch.stack(clipped).sum(0) / 10, atol=1e-6)
    assert all(c.norm() <= clip * (1 + 1e-5) for c in clipped)


def test_dp_settings_reject_virtual_steps_under_ghost_clipping() -> None:
    with pytest.raises(ValueError, match="physical_batch_size"):
        DPSettings(1.0, 1.0, "ghost", physical_batch_size=8)
    with pytest.raises(ValueError, match="physical_batch_size"):
        DPSettings(1.0, 1.0, physical_batch_size=-1)
