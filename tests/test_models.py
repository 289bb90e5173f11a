"""Architectures of the registry that DP-SGD needs: GroupNorm and bounded activations, old keys unchanged."""

from __future__ import annotations

import math

import torch
from opacus.validators import ModuleValidator
from torch import nn

from fedkd.data.arrays import ArrayDataset
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings
from fedkd.evaluation import evaluate
from fedkd.models import build_model
from fedkd.privacy.dp_settings import DPSettings
from fedkd.privacy.dp_sgd import dp_distill


def _images(n: int) -> ArrayDataset:
    # Two classes told apart by the mean brightness of the image's top half.
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=generator)
    x = 0.3 * torch.randn(n, 28, 28, generator=generator)
    x[:, :14] += (2 * y - 1).float().view(-1, 1, 1)
    return ArrayDataset(x.numpy(), y.numpy())


def test_cnn_small_gn_tanh_has_groupnorm_and_only_bounded_activations() -> None:
    model = build_model("cnn-small-gn-tanh", input_shape=(28, 28), num_classes=10)

    kinds = {type(m) for m in model.modules()}

    assert nn.GroupNorm in kinds and nn.Tanh in kinds
    assert nn.ReLU not in kinds and not any(issubclass(k, nn.modules.batchnorm._BatchNorm) for k in kinds)
    assert model(torch.zeros(2, 28, 28)).shape == (2, 10)


def test_dp_variants_opacus_accepts_them_unchanged() -> None:
    for name, shape in (("cnn-small-gn-tanh", (28, 28)), ("mlp-tanh", (40,))):
        model = build_model(name, input_shape=shape, num_classes=10)

        assert ModuleValidator.validate(model, strict=False) == [], name


def test_cnn_small_gn_tanh_learns_under_dp_sgd() -> None:
    data = _images(256)
    torch.manual_seed(0)
    model = build_model("cnn-small-gn-tanh", input_shape=(28, 28), num_classes=2)
    settings = OptimizerSettings(learning_rate=0.5, momentum=0.9, batch_size=64, epochs=3)

    stats, _ = dp_distill(model, data, None, settings=settings, dp=DPSettings(0.5, 1.0), objective=CE_ONLY,
                          device=torch.device("cpu"), seed=0)

    assert math.isfinite(stats.loss)
    assert evaluate(model, data, device=torch.device("cpu")).accuracy > 0.9


def test_conv_net_without_groupnorm_keeps_its_checkpoint_keys() -> None:
    # Cached teachers and students of cnn-small / cnn-large must still load.
    keys = list(build_model("cnn-small", input_shape=(28, 28), num_classes=10).state_dict())

    assert keys == ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
                    "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias"]


def test_mlp_tanh_uses_tanh_where_mlp_uses_relu() -> None:
    plain = build_model("mlp", input_shape=(40,), num_classes=10)
    bounded = build_model("mlp-tanh", input_shape=(40,), num_classes=10)

    assert [type(m) for m in bounded.modules()].count(nn.Tanh) == 2
    assert [type(m) for m in plain.modules()].count(nn.ReLU) == 2
    assert list(plain.state_dict()) == list(bounded.state_dict())


def test_cnn_niid_bench_has_the_shape_of_niid_bench_cnn_mnist() -> None:
    # Flower Baselines' niid-bench CNNMnist: 5x5 convolutions of 6 and 16 channels without padding
    # (28 -> 24 -> 12 -> 8 -> 4), then 256 -> 120 -> 84 -> 10: 44,426 parameters.
    model = build_model("cnn-niid-bench", input_shape=(28, 28), num_classes=10)

    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}

    assert shapes["features.0.weight"] == (6, 1, 5, 5) and shapes["features.3.weight"] == (16, 6, 5, 5)
    assert [s for n, s in shapes.items() if n.startswith("classifier") and n.endswith("weight")] == [
        (120, 256), (84, 120), (10, 84)]
    assert sum(p.numel() for p in model.parameters()) == 44_426
    assert model(torch.zeros(3, 28, 28)).shape == (3, 10)
