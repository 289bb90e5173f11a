"""Teachers: frozen, cached under a key of everything that makes them, logits computed once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import fedkd.teacher
from fedkd.checkpoint import CheckpointError, save_model
from fedkd.data import DatasetSplits
from fedkd.data.site import SiteData, split_shard
from fedkd.models import build_model
from fedkd.teacher import TeacherRecipe, obtain_teacher, recipe_key
from fedkd.train import predict_logits

CPU = torch.device("cpu")
RECIPE = TeacherRecipe(architecture="cnn1d", epochs=2, learning_rate=0.01, momentum=0.9, batch_size=32, seed=0)


@pytest.fixture
def site(mnist1d: DatasetSplits) -> SiteData:
    shard = mnist1d.train.subset(torch.arange(300).numpy())
    return split_shard(shard, test_fraction=0.2, seed=0, num_classes=10)


def test_trained_teacher_is_frozen_and_its_cached_logits_match_a_forward_pass(site: SiteData, tmp_path: Path) -> None:
    teacher = obtain_teacher(site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert teacher.train_logits.shape == (len(site.train), 10) and teacher.test_logits.shape == (len(site.test), 10)
    fresh = predict_logits(teacher.model, torch.from_numpy(site.train.x))
    assert torch.allclose(teacher.train_logits, fresh, atol=1e-6)


def test_second_call_reuses_the_cached_teacher_without_training(
    site: SiteData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = obtain_teacher(site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the teacher was trained again")

    monkeypatch.setattr(fedkd.teacher, "train_teacher", no_training)
    second = obtain_teacher(site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    assert second.key == first.key
    assert torch.equal(second.train_logits, first.train_logits)
    for key, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[key])


def test_cache_key_changes_with_any_recipe_field_or_the_data(site: SiteData, mnist1d: DatasetSplits) -> None:
    base = recipe_key(RECIPE, site)
    other_site = split_shard(mnist1d.train.subset(torch.arange(300, 600).numpy()), test_fraction=0.2, seed=0,
                             num_classes=10)

    changed = {recipe_key(dataclasses.replace(RECIPE, **{f.name: value}), site)
               for f, value in zip(dataclasses.fields(RECIPE), ("mlp", 3, 0.02, 0.5, 16, 1, 1.0, 2.0), strict=True)}

    assert base not in changed and len(changed) == len(dataclasses.fields(RECIPE))
    assert recipe_key(RECIPE, other_site) != base


def test_checkpoint_teacher_gives_that_models_logits(site: SiteData, tmp_path: Path) -> None:
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    path = tmp_path / "teacher.safetensors"
    save_model(path, model, architecture="mlp", input_shape=(40,), num_classes=10)

    teacher = obtain_teacher(site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path)

    assert teacher.source == "checkpoint" and teacher.architecture == "mlp"
    assert torch.allclose(teacher.train_logits, predict_logits(model, torch.from_numpy(site.train.x)), atol=1e-6)


def test_checkpoint_for_another_task_is_refused(site: SiteData, tmp_path: Path) -> None:
    path = tmp_path / "images.safetensors"
    save_model(path, build_model("mlp", input_shape=(28, 28), num_classes=10), architecture="mlp",
               input_shape=(28, 28), num_classes=10)

    with pytest.raises(CheckpointError, match="images.safetensors is for inputs"):
        obtain_teacher(site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path)
