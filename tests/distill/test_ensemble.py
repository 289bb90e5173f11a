"""FedDF's server step: the ensemble target and the refinement towards it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fedkd.data import load_dataset
from fedkd.data.proxy import load_proxy
from fedkd.distill.ensemble import ensemble_distill, ensemble_logits
from fedkd.evaluation import predict_logits
from fedkd.losses.logit import soft_target_loss
from fedkd.models import build_model
from tests.optional_data import needs_fashion_mnist


def _members() -> list[torch.nn.Module]:
    out = []
    for seed in range(3):
        torch.manual_seed(seed)
        out.append(build_model("mlp", input_shape=(40,), num_classes=10))
    return out


def test_ensemble_logits_are_the_members_mean() -> None:
    members, x = _members(), torch.randn(7, 40)
    expected = sum(predict_logits(m, x) for m in members) / 3
    torch.testing.assert_close(ensemble_logits(members, x), expected)
    with pytest.raises(ValueError, match="at least one member"):
        ensemble_logits([], x)


def test_ensemble_distill_pulls_the_student_towards_the_ensemble() -> None:
    members, x = _members(), torch.randn(256, 40)
    torch.manual_seed(9)
    student = build_model("mlp", input_shape=(40,), num_classes=10)
    target = ensemble_logits(members, x)
    before = soft_target_loss(predict_logits(student, x), target, temperature=1.0).item()
    ensemble_distill(student, members, x, steps=100, learning_rate=1e-3, temperature=1.0, batch_size=64, seed=0)
    after = soft_target_loss(predict_logits(student, x), target, temperature=1.0).item()
    assert after < 0.5 * before


def test_ensemble_distill_with_no_steps_leaves_the_student_unchanged() -> None:
    members, student = _members(), build_model("mlp", input_shape=(40,), num_classes=10)
    state = {k: v.clone() for k, v in student.state_dict().items()}
    assert ensemble_distill(student, members, torch.randn(8, 40), steps=0, learning_rate=1e-3, temperature=1.0,
                            batch_size=4, seed=0) == 0.0
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in state.items())


def test_proxy_set_is_fresh_mnist1d_and_refuses_other_datasets() -> None:
    from fedkd.data.mnist1d import load_mnist1d

    proxy = load_proxy("mnist1d", size=205, seed=0)
    assert proxy.shape == (205, 40)
    official = load_mnist1d()
    rows = {r.tobytes() for r in official.train.x} | {r.tobytes() for r in official.test.x}
    assert not any(r.tobytes() in rows for r in proxy)
    with pytest.raises(ValueError, match="'digits'"):
        load_proxy("digits", size=10, seed=0)


@needs_fashion_mnist
def test_fashion_mnist_proxy_is_real_mnist_digits_that_no_split_holds(cache_root: Path) -> None:
    fashion_mnist_splits = load_dataset("fashion-mnist", data_dir=None, cache_dir=cache_root)
    proxy = load_proxy("fashion-mnist", size=300, seed=0)
    assert proxy.shape == (300, 28, 28) and proxy.dtype == np.float32
    assert 0.0 <= proxy.min() and proxy.max() == 1.0
    assert len({r.tobytes() for r in proxy}) == 300
    fashion = {r.tobytes() for r in fashion_mnist_splits.train.x} | {r.tobytes() for r in fashion_mnist_splits.test.x}
    assert not any(r.tobytes() in fashion for r in proxy)
    # Digits, not clothes: the mean digit is darker (more background) than the mean Fashion-MNIST image.
    assert proxy.mean() < 0.8 * fashion_mnist_splits.test.x.mean()
    assert np.array_equal(proxy, load_proxy("fashion-mnist", size=300, seed=0))
    assert not np.array_equal(proxy, load_proxy("fashion-mnist", size=300, seed=1))
    with pytest.raises(ValueError, match="5001"):
        load_proxy("fashion-mnist", size=5001, seed=0)
