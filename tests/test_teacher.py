"""Teachers: frozen, cached under a key of everything that makes them, logits computed once."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import fedkd.teacher
from fedkd.checkpoint import CheckpointError, read_metadata, save_model
from fedkd.data import ArrayDataset, DatasetSplits
from fedkd.data.site import SiteData, split_shard
from fedkd.models import build_model
from fedkd.teacher import TeacherRecipe, obtain_teacher, recipe_key

CPU = torch.device("cpu")
RECIPE = TeacherRecipe(architecture="cnn1d", epochs=2, learning_rate=0.01, momentum=0.9, batch_size=32, seed=0)


def _forward(model: torch.nn.Module, data: ArrayDataset) -> torch.Tensor:
    """A plain forward pass, independent of fedkd's batching helpers."""
    with torch.no_grad():
        return model.eval()(torch.from_numpy(data.x))


def test_obtain_teacher_trained_is_frozen_and_caches_logits_equal_to_a_forward_pass(
    small_site: SiteData, tmp_path: Path
) -> None:
    teacher = obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    assert teacher.source == "trained" and teacher.architecture == "cnn1d"
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert teacher.train_logits.shape == (len(small_site.train), 10)
    assert teacher.test_logits.shape == (len(small_site.test), 10)
    assert torch.allclose(teacher.train_logits, _forward(teacher.model, small_site.train), atol=1e-6)
    assert torch.allclose(teacher.test_logits, _forward(teacher.model, small_site.test), atol=1e-6)
    cached = {p.name for p in (tmp_path / "teachers").iterdir()}
    logits = {name for name in cached if name.endswith(".logits.safetensors")}
    assert len(logits) == 1 and next(iter(logits)).startswith(teacher.key + ".")
    assert cached - logits == {f"{teacher.key}.json", f"{teacher.key}.safetensors"}


def test_obtain_teacher_second_call_same_recipe_reuses_the_cache_without_training(
    small_site: SiteData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    first = obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the teacher was trained again")

    monkeypatch.setattr(fedkd.teacher, "train_teacher", no_training)

    # Execute
    second = obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    # Assert
    assert second.key == first.key
    assert torch.equal(second.train_logits, first.train_logits)
    assert torch.equal(second.test_logits, first.test_logits)
    for key, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[key])
    assert not second.model.training and not any(p.requires_grad for p in second.model.parameters())


def test_obtain_teacher_cached_logits_model_still_on_the_teacher_device(small_site: SiteData, tmp_path: Path) -> None:
    # Prepare: train and cache on the CPU.
    obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    # Execute: a second site process asks for another device ("meta" stands in for a second GPU).
    teacher = obtain_teacher(small_site, cache_dir=tmp_path, device=torch.device("meta"), recipe=RECIPE)

    # Assert: the model (which feature and mutual modes run) is there; the cached logits stay on the CPU.
    assert {p.device.type for p in teacher.model.parameters()} == {"meta"}
    assert teacher.train_logits.device == CPU


def test_obtain_teacher_same_recipe_in_fresh_caches_trains_identical_teachers(
    small_site: SiteData, tmp_path: Path
) -> None:
    first = obtain_teacher(small_site, cache_dir=tmp_path / "a", device=CPU, recipe=RECIPE)
    second = obtain_teacher(small_site, cache_dir=tmp_path / "b", device=CPU, recipe=RECIPE)

    for key, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[key])
    assert torch.equal(first.train_logits, second.train_logits)


def test_recipe_key_changes_with_any_recipe_field_or_the_data(small_site: SiteData, mnist1d: DatasetSplits) -> None:
    # Prepare: one changed value per recipe field, and a site with other data.
    base = recipe_key(RECIPE, small_site)
    other_values = {"architecture": "mlp", "epochs": 3, "learning_rate": 0.02, "momentum": 0.5, "batch_size": 16,
                    "seed": 1, "dp_noise_multiplier": 1.0, "dp_max_grad_norm": 2.0}
    assert set(other_values) == {f.name for f in dataclasses.fields(RECIPE)}
    other_site = split_shard(mnist1d.train.subset(np.arange(300, 600)), test_fraction=0.2, seed=0, num_classes=10)
    relabelled = SiteData(train=ArrayDataset(small_site.train.x, (small_site.train.y + 1) % 10),
                          test=small_site.test, num_classes=10)

    # Execute
    changed = {name: recipe_key(dataclasses.replace(RECIPE, **{name: value}), small_site)
               for name, value in other_values.items()}

    # Assert
    assert base not in changed.values() and len(set(changed.values())) == len(changed)
    assert recipe_key(RECIPE, other_site) != base
    assert recipe_key(RECIPE, relabelled) != base
    assert recipe_key(dataclasses.replace(RECIPE), small_site) == base


def test_obtain_teacher_changed_data_gives_a_different_key(
    small_site: SiteData, mnist1d: DatasetSplits, tmp_path: Path
) -> None:
    other_site = split_shard(mnist1d.train.subset(np.arange(300, 600)), test_fraction=0.2, seed=0, num_classes=10)

    first = obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)
    second = obtain_teacher(other_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    assert first.key != second.key
    assert torch.allclose(second.train_logits, _forward(second.model, other_site.train), atol=1e-6)


def test_obtain_teacher_same_train_split_new_test_split_gives_logits_of_the_new_test_split(
    small_site: SiteData, mnist1d: DatasetSplits, tmp_path: Path
) -> None:
    # The cached teacher fits the same train split; its cached test logits must not be served for other
    # test data of the same size.
    first = obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)
    new_test = mnist1d.test.subset(np.arange(len(small_site.test)))
    moved = SiteData(train=small_site.train, test=new_test, num_classes=10)

    second = obtain_teacher(moved, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    assert torch.equal(second.train_logits, first.train_logits)
    assert torch.allclose(second.test_logits, _forward(second.model, new_test), atol=1e-6)
    assert not torch.allclose(second.test_logits, first.test_logits)


def test_obtain_teacher_from_checkpoint_gives_that_models_logits(small_site: SiteData, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    path = tmp_path / "teacher.safetensors"
    save_model(path, model, architecture="mlp", input_shape=(40,), num_classes=10)

    teacher = obtain_teacher(small_site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path)

    assert teacher.source == "checkpoint" and teacher.architecture == "mlp"
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.model.parameters())
    assert torch.allclose(teacher.train_logits, _forward(model, small_site.train), atol=1e-6)
    assert torch.allclose(teacher.test_logits, _forward(model, small_site.test), atol=1e-6)


@pytest.mark.parametrize("input_shape, num_classes", [((28, 28), 10), ((8, 8), 10), ((40,), 4)])
def test_obtain_teacher_checkpoint_for_another_task_raises_checkpoint_error_naming_it(
    small_site: SiteData, tmp_path: Path, input_shape: tuple[int, ...], num_classes: int
) -> None:
    path = tmp_path / "other-task.safetensors"
    save_model(path, build_model("mlp", input_shape=input_shape, num_classes=num_classes), architecture="mlp",
               input_shape=input_shape, num_classes=num_classes)

    with pytest.raises(CheckpointError, match=f"teacher checkpoint {re.escape(str(path))} is for inputs"):
        obtain_teacher(small_site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path)


def test_obtain_teacher_needs_exactly_one_source(small_site: SiteData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        obtain_teacher(small_site, cache_dir=tmp_path, device=CPU)
    with pytest.raises(ValueError, match="exactly one"):
        obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE, checkpoint=tmp_path / "x")


def _with_teacher_view(site: SiteData) -> SiteData:
    """The site with a 20-feature teacher view (every other time step, doubled) beside its 40-step inputs."""

    def viewed(data: ArrayDataset) -> ArrayDataset:
        return ArrayDataset(data.x, data.y, np.ascontiguousarray(data.x[:, ::2] * 2.0))

    return SiteData(train=viewed(site.train), test=viewed(site.test), num_classes=site.num_classes)


def test_obtain_teacher_site_with_teacher_view_trains_and_predicts_on_that_view(
    small_site: SiteData, tmp_path: Path
) -> None:
    # Prepare
    site = _with_teacher_view(small_site)

    # Execute
    teacher = obtain_teacher(site, cache_dir=tmp_path, device=CPU, recipe=RECIPE)

    # Assert: a teacher for 20-feature inputs, whose logits are those of the teacher view.
    assert read_metadata(tmp_path / "teachers" / f"{teacher.key}.safetensors")["input_shape"] == "[20]"
    assert torch.allclose(teacher.train_logits, _forward(teacher.model, site.train.teacher_view()), atol=1e-6)
    assert torch.allclose(teacher.test_logits, _forward(teacher.model, site.test.teacher_view()), atol=1e-6)
    assert teacher.key != recipe_key(RECIPE, small_site)


def test_obtain_teacher_checkpoint_for_the_teacher_view_fits_and_one_for_the_student_view_does_not(
    small_site: SiteData, tmp_path: Path
) -> None:
    # Prepare
    site = _with_teacher_view(small_site)
    torch.manual_seed(3)
    model = build_model("mlp", input_shape=(20,), num_classes=10)
    fitting, student_shaped = tmp_path / "view.safetensors", tmp_path / "student.safetensors"
    save_model(fitting, model, architecture="mlp", input_shape=(20,), num_classes=10)
    save_model(student_shaped, build_model("mlp", input_shape=(40,), num_classes=10), architecture="mlp",
               input_shape=(40,), num_classes=10)

    # Execute
    teacher = obtain_teacher(site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=fitting)

    # Assert
    assert torch.allclose(teacher.train_logits, _forward(model, site.train.teacher_view()), atol=1e-6)
    with pytest.raises(CheckpointError, match=r"is for inputs \(40,\) .* this task needs inputs \(20,\)"):
        obtain_teacher(site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=student_shaped)


def _train_cross_entropy(model: torch.nn.Module, site: SiteData) -> float:
    logits = _forward(model, site.train)
    return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(site.train.y).long()))


def test_obtain_teacher_finetuned_checkpoint_fits_the_site_better_and_is_cached(
    small_site: SiteData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: an untrained checkpoint, fine-tuned for 10 epochs on the site's train split.
    torch.manual_seed(3)
    model = build_model("mlp", input_shape=(40,), num_classes=10)
    path = tmp_path / "teacher.safetensors"
    save_model(path, model, architecture="mlp", input_shape=(40,), num_classes=10)
    finetune = dataclasses.replace(RECIPE, architecture="mlp", epochs=10, learning_rate=0.05)
    plain = obtain_teacher(small_site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path)
    # Execute
    tuned = obtain_teacher(small_site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path, finetune=finetune)
    monkeypatch.setattr(fedkd.teacher, "_finetune", lambda *args: (_ for _ in ()).throw(AssertionError("again")))
    again = obtain_teacher(small_site, cache_dir=tmp_path / "cache", device=CPU, checkpoint=path, finetune=finetune)
    # Assert
    assert tuned.source == "fine-tuned" and tuned.key != plain.key
    assert _train_cross_entropy(tuned.model, small_site) < _train_cross_entropy(plain.model, small_site) - 0.1
    assert torch.allclose(tuned.train_logits, _forward(tuned.model, small_site.train), atol=1e-6)
    assert again.key == tuned.key and torch.equal(again.train_logits, tuned.train_logits)
    # The checkpoint file itself is untouched.
    assert torch.allclose(plain.train_logits, _forward(model, small_site.train), atol=1e-6)


def test_obtain_teacher_finetune_without_checkpoint_is_refused(small_site: SiteData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="finetune needs a teacher checkpoint"):
        obtain_teacher(small_site, cache_dir=tmp_path, device=CPU, recipe=RECIPE, finetune=RECIPE)
