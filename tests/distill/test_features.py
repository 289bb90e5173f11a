"""Feature knowledge: hooks by module name, the local hint adapter, training with features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedkd.data.arrays import ArrayDataset
from fedkd.distill.features import (
    FEATURE_LAYERS,
    FeatureKnowledge,
    FeatureTeacher,
    build_adapter,
    check_feature_shapes,
    feature_shapes,
    tapped,
)
from fedkd.distill.objective import CE_ONLY
from fedkd.distill.training import OptimizerSettings, distill
from fedkd.models import MODELS, build_model


def test_tapped_captures_the_named_module_output_and_removes_its_hook() -> None:
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    x = torch.randn(4, 40)
    with tapped(model, "net.4") as tap:
        model(x)
    expected = torch.relu(model.net[3](torch.relu(model.net[1](x))))
    torch.testing.assert_close(tap.take(), expected)
    assert not model.net[4]._forward_hooks


def test_tapped_unknown_layer_raises_listing_modules() -> None:
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    with pytest.raises(ValueError, match="'net.9'.*net.4"), tapped(model, "net.9"):
        pass


def test_every_registered_architecture_has_a_default_feature_layer() -> None:
    assert set(FEATURE_LAYERS) == set(MODELS)
    for name, layer in FEATURE_LAYERS.items():
        shape = (40,) if name in ("mlp", "mlp-tanh", "cnn1d") else (28, 28)
        assert layer in dict(build_model(name, input_shape=shape, num_classes=10).named_modules())


@pytest.mark.parametrize(("student", "teacher", "kind"), [((100,), (25, 5), torch.nn.Sequential),
                                                         ((8, 14, 14), (32, 14, 14), torch.nn.Conv2d),
                                                         ((8, 5), (25, 5), torch.nn.Conv1d)])
def test_build_adapter_maps_student_features_to_teacher_shape(student: tuple[int, ...], teacher: tuple[int, ...],
                                                              kind: type) -> None:
    adapter = build_adapter(student, teacher)
    assert isinstance(adapter, kind)
    assert tuple(adapter(torch.randn(3, *student)).shape) == (3, *teacher)


def test_attention_transfer_between_mlp_and_cnn_features_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="attention transfer needs spatial feature maps"):
        check_feature_shapes(FeatureKnowledge(attention_weight=1.0), (100,), (25, 5))


def test_hint_training_moves_student_features_towards_the_teachers() -> None:
    # Prepare: a fixed cnn1d teacher and an mlp student on random 1-D data.
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((256, 40)).astype(np.float32)
    data = ArrayDataset(x, np.random.default_rng(1).integers(0, 10, 256))
    teacher = build_model("cnn1d", input_shape=(40,), num_classes=10).eval().requires_grad_(False)
    student = build_model("mlp", input_shape=(40,), num_classes=10)
    knowledge = FeatureKnowledge(hint_weight=50.0, student_layer="net.4", teacher_layer="features.5")
    s_shape, t_shape = feature_shapes(student, teacher, knowledge, torch.from_numpy(x), torch.from_numpy(x))
    adapter = build_adapter(s_shape, t_shape)
    features = FeatureTeacher(teacher=teacher, teacher_x=torch.from_numpy(x), knowledge=knowledge, adapter=adapter)

    def hint_error() -> float:
        with torch.no_grad(), tapped(student, "net.4") as tap:
            student(torch.from_numpy(x))
            mapped = adapter(tap.take())
        target = features.teacher_features(torch.arange(256), torch.device("cpu"))
        return float(((mapped - target) ** 2).mean())

    before = hint_error()
    teacher_before = [p.clone() for p in teacher.parameters()]

    # Execute: hint only (alpha=1 keeps the logit objective to CE).
    distill(student, data, None, settings=OptimizerSettings(0.05, 0.9, 32, 5), objective=CE_ONLY,
            device=torch.device("cpu"), seed=0, features=features)

    # Assert: the adapted student features got closer to the teacher's; the teacher did not change.
    assert hint_error() < 0.5 * before
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, teacher.parameters(), strict=True))
